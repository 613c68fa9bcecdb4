package io.periscope.bench;

import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The whole Java path on one core, as the agent runs it: ring-buffer records -> connection tracker
 * -> HTTP/1 parsers -> exchange -> trace linker -> SpanData handed to the export queue. One
 * operation is one event (record).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx192m"})
public class PipelineBenchmark {
  static final int CONNECTIONS = 32;
  static final int EXCHANGES = 64;
  static final int EVENTS = CONNECTIONS * EXCHANGES * 2;

  private Arena arena;
  private RecordedTraffic traffic;
  private ConnectionTracker tracker;

  /** Stands in for the export queue: takes every span, like a queue that is never full. */
  static final class CountingSink implements SpanSink {
    Blackhole blackhole;
    long spans;

    @Override
    public boolean offer(SpanData span) {
      spans++;
      blackhole.consume(span);
      return true;
    }

    @Override
    public ExportStats stats() {
      return new ExportStats(spans, 0, spans, 0, 0, Map.of());
    }

    @Override
    public void close() {}
  }

  private final CountingSink sink = new CountingSink();

  @Setup(Level.Trial)
  public void record(Blackhole blackhole) {
    arena = Arena.ofShared();
    traffic = RecordedTraffic.nginxKeepAlive(CONNECTIONS, EXCHANGES, arena);
    sink.blackhole = blackhole;
    Resource nginx = Resource.builder().put("service.name", "nginx").put("process.pid", 4242L).build();
    tracker = AgentPipeline.tracker(nginx, sink, new PipelineStats());
  }

  @TearDown(Level.Trial)
  public void release() {
    if (sink.spans == 0) {
      throw new IllegalStateException("the benchmark produced no spans: the recorded traffic is not being parsed");
    }
    arena.close();
  }

  @Benchmark
  @OperationsPerInvocation(EVENTS)
  public void eventsToSpans() {
    long[] offsets = traffic.offsets;
    int[] lengths = traffic.lengths;
    for (int i = 0; i < offsets.length; i++) {
      tracker.onRecord(traffic.records, offsets[i], lengths[i]);
    }
  }
}
