package io.periscope.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.exporter.internal.otlp.traces.TraceRequestMarshaler;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.bench.RecordedSpans;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The spans the agent itself makes (its own SpanData and Attributes types), as ExportBenchmark
 * encodes them: the same bytes as the SDK's marshaler, so the benchmark compares equal work.
 */
class AgentSpansEncodingTest {
  @Test
  void theAgentsSpansEncodeAsTheSdkEncodesThem() throws IOException {
    Resource nginx = Resource.builder().put("service.name", "nginx").put("process.pid", 4242L).build();
    List<SpanData> spans = RecordedSpans.nginx(nginx, ExportBenchmark.BATCH);
    ByteArrayOutputStream sdk = new ByteArrayOutputStream();
    TraceRequestMarshaler.create(spans).writeBinaryTo(sdk);

    byte[] ours = new TraceRequestEncoder().encode(spans).toByteArray();

    assertThat(ours).hasSizeGreaterThan(ExportBenchmark.BATCH * 200);
    assertThat(ours).isEqualTo(sdk.toByteArray());
  }
}
