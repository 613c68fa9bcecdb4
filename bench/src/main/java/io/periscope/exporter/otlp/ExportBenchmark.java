package io.periscope.exporter.otlp;

import io.opentelemetry.exporter.internal.otlp.traces.LowAllocationTraceRequestMarshaler;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.bench.RecordedSpans;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encoding a batch of the agent's spans as an OTLP request, one op = one span: Periscope's encoder
 * against the SDK's low-allocation marshaler, the one its exporters use with REUSABLE_DATA. In
 * this package because the encoder is not public API.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-opens=java.base/java.lang=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx192m"})
public class ExportBenchmark {
  static final int BATCH = 512;

  private List<SpanData> batch;
  private final TraceRequestEncoder encoder = new TraceRequestEncoder();
  private final LowAllocationTraceRequestMarshaler sdk = new LowAllocationTraceRequestMarshaler();
  private final CountingStream sink = new CountingStream();

  /** Where the SDK's marshaler writes: counts, like a socket that takes everything. */
  static final class CountingStream extends OutputStream {
    long bytes;

    @Override
    public void write(int b) {
      bytes++;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      bytes += len;
    }
  }

  @Setup
  public void record() {
    Resource nginx = Resource.builder().put("service.name", "nginx").put("process.pid", 4242L).build();
    batch = RecordedSpans.nginx(nginx, BATCH);
  }

  @Benchmark
  @OperationsPerInvocation(BATCH)
  public int periscopeEncoder() {
    return encoder.encode(batch).length();
  }

  @Benchmark
  @OperationsPerInvocation(BATCH)
  public long sdkMarshaler() throws IOException {
    sdk.initialize(batch);
    try {
      sdk.writeBinaryTo(sink);
    } finally {
      sdk.reset();
    }
    return sink.bytes;
  }
}
