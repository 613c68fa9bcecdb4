package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * One request and its response on a traced connection, as seen by one process: an HTTP/1.x
 * exchange, or one HTTP/2 stream.
 *
 * @param tid              the thread that read (server) or wrote (client) the request's first bytes
 * @param protocolVersion  {@code 1.0}, {@code 1.1} or {@code 2}; null for a request not followed to its end
 * @param streamError      why the exchange ended without a complete response (its span's
 *                         {@code error.type}): for an HTTP/2 stream the {@code RST_STREAM} error
 *                         code's name, or {@code GOAWAY}; {@link #CONNECTION_CLOSED} or
 *                         {@link #RESPONSE_INCOMPLETE} when the connection ended first; null otherwise
 * @param headersIncomplete some HTTP/2 header fields referred to compression state the agent never
 *                         saw (a connection open before it started, or bytes it lost): they are
 *                         missing, never guessed
 * @param startNanos       CLOCK_MONOTONIC: the first request byte arrived (server) or started to leave (client)
 * @param endNanos         CLOCK_MONOTONIC: the last response byte left (server) or arrived (client)
 * @param requestSequence  TCP sequence number of the request's first byte (unsigned 32 bits)
 */
public record HttpExchange(Peer peer, int tid, @Nullable String protocolVersion, RequestHead request, ResponseHead response,
    @Nullable String streamError, boolean headersIncomplete, long startNanos, long endNanos, long requestSequence) {
  /** The connection ended (closed or reset, by either end) before the response began. */
  public static final String CONNECTION_CLOSED = "connection_closed";
  /** The connection ended after the response's head, before its end (a client that stopped reading). */
  public static final String RESPONSE_INCOMPLETE = "response_incomplete";
  /**
   * Not an error: the agent lost the exchange before its end (a connection it could not parse
   * on, evicted, or a full table), and made its span only because another span names it as parent.
   */
  public static final String UNFOLLOWED = "unfollowed";
}
