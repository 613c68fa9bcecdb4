package io.periscope.agent.span;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import io.opentelemetry.sdk.trace.samplers.SamplingDecision;
import java.util.List;

/**
 * Decides which new traces are kept: a share of them, by trace id, with the SDK's own
 * {@code TraceIdRatioBased} rule, so Periscope and SDK-instrumented services that sample at the same
 * ratio keep the same traces. Spans with a parent (a {@code traceparent}, or a client span on this
 * node) are not decided here: they inherit the parent's sampled flag, so a trace is kept or dropped
 * whole. Used by the pipeline thread only.
 */
public final class TraceSampler {
  /** Keeps every trace. */
  public static final TraceSampler ALWAYS = new TraceSampler(1.0);

  private final Sampler ratio;
  private final boolean all;
  long notSampled;

  public TraceSampler(double ratio) {
    if (!(ratio >= 0 && ratio <= 1)) {
      throw new IllegalArgumentException("ratio must be from 0 to 1, got " + ratio);
    }
    this.ratio = Sampler.traceIdRatioBased(ratio);
    this.all = ratio == 1.0;
  }

  boolean sampleNewTrace(String traceId) {
    return all || ratio.shouldSample(Context.root(), traceId, "", SpanKind.INTERNAL, Attributes.empty(), List.of())
        .getDecision() == SamplingDecision.RECORD_AND_SAMPLE;
  }

  /** Spans not exported because their trace was not sampled (here, or by the caller's flag). */
  public long notSampled() {
    return notSampled;
  }
}
