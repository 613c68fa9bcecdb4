package io.periscope.bench;

import io.opentelemetry.sdk.resources.Resource;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import java.lang.foreign.Arena;
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
 * HTTP/2 decoding on one core, as the agent runs it: the gRPC server end's ring-buffer records
 * (frame streams) -> connection tracker -> frame readers -> HPACK -> streams -> trace linker ->
 * SpanData. One operation is one event; each unary call is two (its request read, its response
 * written).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx192m"})
public class Http2PipelineBenchmark {
  static final int CONNECTIONS = 16;
  static final int CALLS = 128;
  /** Per connection: its preface and SETTINGS records, two per call, and its close. */
  static final int EVENTS = CONNECTIONS * (2 + 2 * CALLS + 1);

  private Arena arena;
  private GrpcTraffic traffic;
  private ConnectionTracker tracker;
  private final PipelineStats stats = new PipelineStats();
  private final PipelineBenchmark.CountingSink sink = new PipelineBenchmark.CountingSink();

  @Setup(Level.Trial)
  public void record(Blackhole blackhole) {
    arena = Arena.ofShared();
    traffic = GrpcTraffic.unaryCalls(CONNECTIONS, CALLS, arena);
    if (traffic.offsets.length != EVENTS) {
      throw new IllegalStateException(traffic.offsets.length + " records, expected " + EVENTS);
    }
    sink.blackhole = blackhole;
    Resource server = Resource.builder().put("service.name", "echo").put("process.pid", 5151L).build();
    tracker = AgentPipeline.tracker(server, sink, stats);
  }

  @TearDown(Level.Trial)
  public void release() {
    PipelineStats.Snapshot s = stats.snapshot();
    if (sink.spans == 0 || s.http2ParseFailures() > 0 || s.http2Resyncs() > 0 || s.exchanges() != sink.spans) {
      throw new IllegalStateException("the recorded traffic is not decoded as it should be: " + s);
    }
    arena.close();
  }

  @Benchmark
  @OperationsPerInvocation(EVENTS)
  public void grpcEventsToSpans() {
    long[] offsets = traffic.offsets;
    int[] lengths = traffic.lengths;
    for (int i = 0; i < offsets.length; i++) {
      tracker.onRecord(traffic.records, offsets[i], lengths[i]);
    }
  }
}
