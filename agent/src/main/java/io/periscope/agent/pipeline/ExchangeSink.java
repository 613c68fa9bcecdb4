package io.periscope.agent.pipeline;

/** Where completed exchanges go (the span factory); called on the pipeline thread, must not throw. */
@FunctionalInterface
public interface ExchangeSink {
  void onExchange(HttpExchange exchange);
}
