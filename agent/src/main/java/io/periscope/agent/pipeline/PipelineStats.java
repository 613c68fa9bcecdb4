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
  long unmatchedResponses;
  long incompleteExchanges;
  long pipelineOverflows;
  long exchanges;

  public record Snapshot(long events, long malformedEvents, long connectionsTracked, long connectionsEvicted,
      long connectionsNotHttp, long connectionsHttp2, long http1ParseFailures, long unmatchedResponses,
      long incompleteExchanges, long pipelineOverflows, long exchanges) {}

  public Snapshot snapshot() {
    return new Snapshot(events, malformedEvents, connectionsTracked, connectionsEvicted, connectionsNotHttp,
        connectionsHttp2, http1ParseFailures, unmatchedResponses, incompleteExchanges, pipelineOverflows,
        exchanges);
  }
}
