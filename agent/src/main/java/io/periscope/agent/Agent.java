package io.periscope.agent;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.link.LinkStats;
import io.periscope.agent.link.TraceLinker;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.agent.span.TraceSampler;
import io.periscope.bpf.CaptureCounters;
import io.periscope.bpf.KernelCapture;
import io.periscope.bpf.VerifierStatistics;
import io.periscope.bpf.KernelSupport;
import io.periscope.bpf.Libc;
import io.periscope.exporter.ExportLatency;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanBatcher;
import io.periscope.metadata.NodeMetadata;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A running agent: the kernel capture, one capture thread that drains the ring buffer through the
 * pipeline (connections -> HTTP/1 parsers -> spans), and the export batcher. {@link #start} returns
 * only once the programs are attached; {@link #close()} stops the capture thread, handles what is
 * still in the ring buffer, detaches everything from the kernel and flushes the batcher.
 */
public final class Agent implements AutoCloseable {
  /** How long the capture thread sleeps when the ring buffer is empty: the kernel never wakes it. */
  static final long POLL_INTERVAL_NANOS = 5_000_000L;
  private static final long IDLE_SWEEP_NANOS = 1_000_000_000L;
  /** How often new processes are looked at for TLS libraries (those in standard places are probed at start). */
  private static final long TLS_SCAN_NANOS = 2_000_000_000L;
  /** How often counters that mean loss are compared and, when they grew, logged. */
  private static final long DROP_REPORT_NANOS = 60_000_000_000L;
  static final int EXPORT_QUEUE_SPANS = 16_384;
  private static final Duration EXPORT_TIMEOUT_MARGIN = Duration.ofSeconds(1);
  static final int EXPORT_BATCH_SPANS = 512;
  static final int EXPORTS_IN_FLIGHT = 2;
  /**
   * A capture loop that has not come round for this long is stuck (it sleeps 5 ms when idle, and
   * one pass handles at most what the ring buffer holds): the agent is then not alive.
   */
  static final long STALL_NANOS = 30_000_000_000L;
  private static final System.Logger LOG = System.getLogger(Agent.class.getName());

  private final KernelCapture capture;
  private final ConnectionTracker tracker;
  private final TraceLinker linker;
  private final PipelineStats stats;
  private final SpanBatcher batcher;
  private final TraceSampler sampler;
  private final SpanFactory spans;
  private final NodeMetadata metadata;
  private final String kernel;
  private final String export;
  private final Thread thread;
  private volatile boolean running = true;
  private volatile boolean closed;
  /** When the capture loop last came round (monotonic), for liveness. */
  private volatile long heartbeat = Libc.monotonicNanos();

  private Agent(KernelCapture capture, ConnectionTracker tracker, TraceLinker linker, PipelineStats stats,
      SpanBatcher batcher, TraceSampler sampler, SpanFactory spans, NodeMetadata metadata, String kernel,
      String export) {
    this.capture = capture;
    this.tracker = tracker;
    this.linker = linker;
    this.stats = stats;
    this.batcher = batcher;
    this.sampler = sampler;
    this.spans = spans;
    this.metadata = metadata;
    this.kernel = kernel;
    this.export = export;
    this.thread = Thread.ofPlatform().name("periscope-capture").daemon().unstarted(this::run);
  }

  /** Checks the host, loads and attaches the capture, and starts tracing. The caller must close the agent. */
  public static Agent start(AgentConfig config, SpanExporter exporter) {
    String kernel = KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    // Larger batches than the SDK's 512, and two in flight: at tens of thousands of spans a second
    // the cost and the wait per export request (HTTP round trip, connection-pool bookkeeping), not
    // per span, limit throughput; with one request at a time a fifth of the spans were dropped.
    // The exporter keeps to OTEL_EXPORTER_OTLP_TIMEOUT itself; the batcher waits a moment longer,
    // so that a batch it counts as failed is one the exporter gave up on, not one still under way.
    SpanBatcher batcher = SpanBatcher.builder(exporter)
        .setMaxQueueSize(EXPORT_QUEUE_SPANS)
        .setMaxBatchSize(EXPORT_BATCH_SPANS)
        .setMaxConcurrentExports(EXPORTS_IN_FLIGHT)
        .setExportTimeout(config.exporter().timeout().plus(EXPORT_TIMEOUT_MARGIN))
        .build();
    PipelineStats stats = new PipelineStats();
    TraceSampler sampler = new TraceSampler(config.samplingRatio());
    // Returns at once in Kubernetes mode too: until the API server answers, spans carry process attributes.
    NodeMetadata metadata;
    try {
      metadata = NodeMetadata.start(config.metadata());
    } catch (RuntimeException e) {
      batcher.close();
      throw e;
    }
    SpanFactory spans = new SpanFactory(ClockAnchor.measure(), metadata.resources(), metadata.peers(), batcher,
        config.queryValues(), sampler, config.stitchKeys());
    TraceLinker linker = new TraceLinker(spans, config.linkWindowNanos(), TraceLinker.DEFAULT_MAX_HELD,
        config.sdkServerSpans());
    ConnectionTracker tracker = new ConnectionTracker(linker, stats);
    KernelCapture capture;
    try {
      capture = KernelCapture.start(config.capture(self));
    } catch (RuntimeException e) {
      batcher.close();
      metadata.close();
      throw e;
    }
    String export = config.exporter().endpoint() == null ? "terminal"
        : "OTLP " + config.exporter().protocol() + " to " + config.exporter().endpoint();
    Agent agent = new Agent(capture, tracker, linker, stats, batcher, sampler, spans, metadata, kernel, export);
    agent.thread.start();
    return agent;
  }

  private void run() {
    long nextSweep = Libc.monotonicNanos() + IDLE_SWEEP_NANOS;
    long nextTlsScan = Libc.monotonicNanos() + TLS_SCAN_NANOS;
    long nextReport = Libc.monotonicNanos() + DROP_REPORT_NANOS;
    DropReport reported = drops();
    while (running) {
      heartbeat = Libc.monotonicNanos();
      try {
        if (capture.poll(tracker) == 0) {
          Thread.sleep(Duration.ofNanos(POLL_INTERVAL_NANOS));
        }
        capture.probeExecs();
        long now = Libc.monotonicNanos();
        linker.expire(now);
        if (now >= nextSweep) {
          tracker.evictIdle(now);
          nextSweep = now + IDLE_SWEEP_NANOS;
        }
        if (now >= nextTlsScan) {
          capture.refreshTls();
          nextTlsScan = now + TLS_SCAN_NANOS;
        }
        if (now >= nextReport) {
          DropReport current = drops();
          String grew = current.since(reported);
          if (grew != null) {
            LOG.log(System.Logger.Level.WARNING, "in the last minute: {0}", grew);
          }
          reported = current;
          nextReport = now + DROP_REPORT_NANOS;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        // The tracker contains per-connection failures; anything reaching here is a bug. Keep tracing.
        LOG.log(System.Logger.Level.ERROR, "capture loop error", e);
      }
    }
  }

  private DropReport drops() {
    return DropReport.of(capture.counters(), stats.snapshot(), linker.stats(), batcher.stats());
  }

  public List<String> programs() {
    return capture.programs();
  }

  /** The programs loaded: those attached, and the TLS ones waiting for a program to probe. */
  public List<String> loadedPrograms() {
    return capture.loadedPrograms();
  }

  /** Files with TLS code found but not probed (past the limit, or Go programs that cannot be read). */
  public int tlsSkipped() {
    return capture.tlsSkipped();
  }

  /** The TLS library files whose plaintext is captured. */
  public List<String> tlsLibraries() {
    return capture.tlsLibraries();
  }

  public String kernelRelease() {
    return kernel;
  }

  /** Which build of the kernel programs runs, and why: "full capture", "compat capture (no bpf_loop, ...)". */
  public String captureVariant() {
    return capture.variantDescription();
  }

  /** What the kernel's verifier reported of each program at load. */
  public List<VerifierStatistics> verifierStatistics() {
    return capture.verifierStatistics();
  }

  public PipelineStats.Snapshot pipelineStats() {
    return stats.snapshot();
  }

  public CaptureCounters captureCounters() {
    return capture.counters();
  }

  public LinkStats linkStats() {
    return linker.stats();
  }

  public ExportStats exportStats() {
    return batcher.stats();
  }

  public ExportLatency.Snapshot exportLatency() {
    return batcher.exportLatency();
  }

  /** Spans waiting for export now. */
  public int exportQueueSpans() {
    return batcher.queuedSpans();
  }

  /** Connections held by the tracker now (read off the pipeline thread: may be a moment old). */
  public int connectionsOpen() {
    return tracker.size();
  }

  /** Spans not exported because their trace was not sampled. */
  public long spansNotSampled() {
    return sampler.notSampled();
  }

  /** Spans other spans name as parent, dropped even from the export queue's room for them. */
  public long parentSpansDropped() {
    return spans.parentsDropped(); // read off the pipeline thread: may be a moment old
  }

  /** Why the agent is not alive (its capture loop died or is stuck), or null when it is. */
  public @Nullable String notAlive() {
    if (closed) {
      return null; // stopping on purpose is not a failure
    }
    if (!thread.isAlive()) {
      return "the capture thread ended";
    }
    long stalled = Libc.monotonicNanos() - heartbeat;
    return stalled > STALL_NANOS ? "the capture loop has not come round for " + stalled / 1_000_000_000L + " s" : null;
  }

  /**
   * Why the agent is not ready to trace, or null when it is: programs attached, the capture loop
   * running, the exporter open.
   */
  public @Nullable String notReady() {
    if (closed) {
      return "stopping";
    }
    String dead = notAlive();
    return dead != null ? dead : programs().isEmpty() ? "no eBPF program attached" : null;
  }

  /** Where spans go, as the agent says it: "terminal" or "OTLP grpc to URL". */
  public String export() {
    return export;
  }

  /** Where span resources and peer names come from: process or Kubernetes mode. */
  public NodeMetadata metadata() {
    return metadata;
  }

  /** Stops tracing, detaches from the kernel, and flushes every span still held. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    running = false;
    try {
      thread.join(Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    boolean stopped = !thread.isAlive();
    if (stopped) {
      capture.poll(tracker); // what arrived before the programs were detached
    }
    capture.close();
    if (stopped) {
      // The pipeline is single-threaded (the span builder is reused span after span): flushed here
      // only once its thread is gone. A thread stuck past the join keeps what it holds.
      tracker.clear();
      linker.flush();
    } else {
      LOG.log(System.Logger.Level.WARNING, "the capture thread did not stop within 5 s; spans it held are lost");
    }
    batcher.close();
    metadata.close(); // last: the spans flushed above still needed their resources
  }
}
