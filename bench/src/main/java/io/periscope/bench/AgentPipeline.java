package io.periscope.bench;

import io.opentelemetry.sdk.resources.Resource;
import io.periscope.agent.link.TraceLinker;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.agent.span.TraceSampler;
import io.periscope.exporter.SpanSink;
import io.periscope.metadata.PeerNames;

/**
 * The capture thread's stages wired as {@code Agent.start} wires them with the default
 * configuration: connection tracker, then the trace linker, then the span factory, then the export
 * queue. A benchmark that left out a stage the agent runs per exchange would flatter the agent.
 */
final class AgentPipeline {
  private AgentPipeline() {}

  /** Every record goes through the tracker; every span of {@code process} reaches {@code sink}. */
  static ConnectionTracker tracker(Resource process, SpanSink sink, PipelineStats stats) {
    SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> process, PeerNames.NONE, sink,
        false, TraceSampler.ALWAYS, false);
    TraceLinker linker = new TraceLinker(spans, TraceLinker.DEFAULT_WINDOW_NANOS, TraceLinker.DEFAULT_MAX_HELD);
    return new ConnectionTracker(linker, stats);
  }
}
