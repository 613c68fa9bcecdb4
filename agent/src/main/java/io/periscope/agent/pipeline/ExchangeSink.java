package io.periscope.agent.pipeline;

/**
 * Where completed exchanges go (trace linking, then the span factory). Called on the pipeline
 * thread; must not throw.
 */
public interface ExchangeSink {
  void onExchange(HttpExchange exchange);

  /** A traced connection turned out to carry HTTP/1; the peer says who is on it and in which role. */
  default void onConnection(Peer peer) {}

  /** That connection ended (closed, or evicted by the tracker). */
  default void onConnectionEnd(Peer peer) {}
}
