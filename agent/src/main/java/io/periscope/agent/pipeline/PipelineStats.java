package io.periscope.agent.pipeline;

/**
 * What the pipeline did and what it dropped. Written by the single pipeline thread; readers on
 * other threads may see slightly stale values, which is fine for counters.
 */
public final class PipelineStats {
  long events;
  long malformedEvents;
  long connectionsTracked;
  long connectionsEvicted;
  long connectionsNotHttp;
  long connectionsHttp2;
  long http1ParseFailures;
  long http2ParseFailures;
  long http2StreamsEvicted;
  long http2Resyncs;
  long unmatchedResponses;
  long incompleteExchanges;
  long pipelineOverflows;
  long exchanges;
  /** Connections dropped because the agent's own code failed on them (a bug: never expected). */
  long internalErrors;

  public record Snapshot(long events, long malformedEvents, long connectionsTracked, long connectionsEvicted,
      long connectionsNotHttp, long connectionsHttp2, long http1ParseFailures, long http2ParseFailures,
      long http2StreamsEvicted, long http2Resyncs, long unmatchedResponses, long incompleteExchanges,
      long pipelineOverflows, long exchanges, long internalErrors) {}

  public Snapshot snapshot() {
    return new Snapshot(events, malformedEvents, connectionsTracked, connectionsEvicted, connectionsNotHttp,
        connectionsHttp2, http1ParseFailures, http2ParseFailures, http2StreamsEvicted, http2Resyncs,
        unmatchedResponses, incompleteExchanges, pipelineOverflows, exchanges, internalErrors);
  }
}
