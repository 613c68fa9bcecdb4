package io.periscope.agent.pipeline;

/**
 * Where completed exchanges go (trace linking, then the span factory). Called on the pipeline
 * thread; must not throw.
 */
public interface ExchangeSink {
  /**
   * A request's head was read (server) or written (client): the exchange it begins will reach
   * {@link #onExchange} with the same peer and {@code sequence}, unless its connection ends first.
   *
   * @param tid        the thread that read or wrote the request's first bytes
   * @param sequence   TCP sequence number of the request's first byte (unsigned 32 bits)
   * @param startNanos CLOCK_MONOTONIC: when the exchange started
   */
  default void onRequest(Peer peer, int tid, long sequence, long startNanos, RequestHead request) {}

  void onExchange(HttpExchange exchange);

  /**
   * Who is on a traced connection, and in which role: said when connect() returns (the client's
   * end), and again once the protocol shows who serves (the same peer, or a corrected one). A sink
   * must take the same peer twice as once.
   */
  default void onConnection(Peer peer) {}

  /**
   * Traceparent injection: the kernel inserted this {@code traceparent} value into the request the
   * client is writing, which starts at {@code sequence}; its {@link #onRequest} follows.
   */
  default void onTraceInjected(Peer client, long sequence, String traceparent) {}

  /**
   * Traceparent injection: the request a server began to read at {@code sequence} had no valid
   * {@code traceparent}, and the kernel gave the calls made while serving it this trace id (32 hex
   * digits); its {@link #onRequest} follows.
   */
  default void onTraceRoot(Peer server, long sequence, String traceId) {}

  /** That connection ended (closed, or evicted by the tracker). */
  default void onConnectionEnd(Peer peer) {}
}
