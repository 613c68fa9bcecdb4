package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * One request and its response on a traced connection, as seen by one process: an HTTP/1.x
 * exchange, or one HTTP/2 stream.
 *
 * @param tid              the thread that read (server) or wrote (client) the request's first bytes
 * @param protocolVersion  {@code 1.0}, {@code 1.1} or {@code 2}
 * @param streamError      why an HTTP/2 stream ended without a complete response: the
 *                         {@code RST_STREAM} error code's name, or {@code GOAWAY}; null otherwise
 * @param headersIncomplete some HTTP/2 header fields referred to compression state the agent never
 *                         saw (a connection open before it started, or bytes it lost): they are
 *                         missing, never guessed
 * @param startNanos       CLOCK_MONOTONIC: the first request byte arrived (server) or started to leave (client)
 * @param endNanos         CLOCK_MONOTONIC: the last response byte left (server) or arrived (client)
 * @param requestSequence  TCP sequence number of the request's first byte (unsigned 32 bits)
 */
public record HttpExchange(Peer peer, int tid, String protocolVersion, RequestHead request, ResponseHead response,
    @Nullable String streamError, boolean headersIncomplete, long startNanos, long endNanos, long requestSequence) {}
