package io.periscope.agent;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.link.SameNodeLinker;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.bpf.CaptureCounters;
import io.periscope.bpf.KernelCapture;
import io.periscope.bpf.KernelSupport;
import io.periscope.bpf.Libc;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanBatcher;
import io.periscope.metadata.NodeMetadata;
import java.time.Duration;
import java.util.List;

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
  /** How often counters that mean loss are compared and, when they grew, logged. */
  private static final long DROP_REPORT_NANOS = 60_000_000_000L;
  static final int EXPORT_QUEUE_SPANS = 16_384;
  static final int EXPORT_BATCH_SPANS = 2_048;
  static final int EXPORTS_IN_FLIGHT = 2;
  private static final System.Logger LOG = System.getLogger(Agent.class.getName());

  private final KernelCapture capture;
  private final ConnectionTracker tracker;
  private final SameNodeLinker linker;
  private final PipelineStats stats;
  private final SpanBatcher batcher;
  private final NodeMetadata metadata;
  private final String kernel;
  private final Thread thread;
  private volatile boolean running = true;
  private boolean closed;

  private Agent(KernelCapture capture, ConnectionTracker tracker, SameNodeLinker linker, PipelineStats stats,
      SpanBatcher batcher, NodeMetadata metadata, String kernel) {
    this.capture = capture;
    this.tracker = tracker;
    this.linker = linker;
    this.stats = stats;
    this.batcher = batcher;
    this.metadata = metadata;
    this.kernel = kernel;
    this.thread = Thread.ofPlatform().name("periscope-capture").daemon().unstarted(this::run);
  }

  /** Checks the host, loads and attaches the capture, and starts tracing. The caller must close the agent. */
  public static Agent start(AgentConfig config, SpanExporter exporter) {
    String kernel = KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    // Larger batches than the SDK's 512, and two in flight: at tens of thousands of spans a second
    // the cost and the wait per export request (HTTP round trip, connection-pool bookkeeping), not
    // per span, limit throughput; with one request at a time a fifth of the spans were dropped.
    SpanBatcher batcher = SpanBatcher.builder(exporter)
        .setMaxQueueSize(EXPORT_QUEUE_SPANS)
        .setMaxBatchSize(EXPORT_BATCH_SPANS)
        .setMaxConcurrentExports(EXPORTS_IN_FLIGHT)
        .build();
    PipelineStats stats = new PipelineStats();
    // Returns at once in Kubernetes mode too: until the API server answers, spans carry process attributes.
    NodeMetadata metadata;
    try {
      metadata = NodeMetadata.start(config.metadata());
    } catch (RuntimeException e) {
      batcher.close();
      throw e;
    }
    SpanFactory spans = new SpanFactory(ClockAnchor.measure(), metadata.resources(), metadata.peers(), batcher,
        config.queryValues());
    SameNodeLinker linker = new SameNodeLinker(spans, config.linkWindowNanos(), SameNodeLinker.DEFAULT_MAX_HELD);
    ConnectionTracker tracker = new ConnectionTracker(linker, stats);
    KernelCapture capture;
    try {
      capture = KernelCapture.start(config.capture(self));
    } catch (RuntimeException e) {
      batcher.close();
      metadata.close();
      throw e;
    }
    Agent agent = new Agent(capture, tracker, linker, stats, batcher, metadata, kernel);
    agent.thread.start();
    return agent;
  }

  private void run() {
    long nextSweep = Libc.monotonicNanos() + IDLE_SWEEP_NANOS;
    long nextReport = Libc.monotonicNanos() + DROP_REPORT_NANOS;
    DropReport reported = drops();
    while (running) {
      try {
        if (capture.poll(tracker) == 0) {
          Thread.sleep(Duration.ofNanos(POLL_INTERVAL_NANOS));
        }
        long now = Libc.monotonicNanos();
        linker.expire(now);
        if (now >= nextSweep) {
          tracker.evictIdle(now);
          nextSweep = now + IDLE_SWEEP_NANOS;
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

  public String kernelRelease() {
    return kernel;
  }

  public PipelineStats.Snapshot pipelineStats() {
    return stats.snapshot();
  }

  public CaptureCounters captureCounters() {
    return capture.counters();
  }

  public SameNodeLinker.LinkStats linkStats() {
    return linker.stats();
  }

  public ExportStats exportStats() {
    return batcher.stats();
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
    if (!thread.isAlive()) {
      capture.poll(tracker); // what arrived before the programs were detached
    }
    capture.close();
    tracker.clear();
    linker.flush();
    batcher.close();
    metadata.close(); // last: the spans flushed above still needed their resources
  }
}
