package io.periscope.agent.pipeline;

import io.periscope.agent.http1.Http1Head;

/**
 * One request and its response on a traced connection, as seen by one process.
 *
 * @param tid             the thread that read (server) or wrote (client) the request's first bytes
 * @param startNanos      CLOCK_MONOTONIC: the first request byte arrived (server) or started to leave (client)
 * @param endNanos        CLOCK_MONOTONIC: the last response byte left (server) or arrived (client)
 * @param requestSequence TCP sequence number of the request's first byte (unsigned 32 bits)
 */
public record HttpExchange(Peer peer, int tid, Http1Head request, Http1Head response, long startNanos,
    long endNanos, long requestSequence) {}
