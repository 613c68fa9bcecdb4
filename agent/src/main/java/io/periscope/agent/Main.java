package io.periscope.agent;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.link.SameNodeLinker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.bpf.BpfException;
import io.periscope.bpf.CaptureCounters;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.Exporters;
import io.periscope.metadata.k8s.KubernetesMetadata;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

/** {@code periscope}: starts the agent, prints what it traces, and runs until SIGINT or SIGTERM. */
public final class Main {
  static final String VERSION = Main.class.getPackage().getImplementationVersion() == null
      ? "dev" : Main.class.getPackage().getImplementationVersion();

  /**
   * The OTLP exporters log every failed request with a stack trace; the batcher already reports
   * an outage once and counts every lost span, so theirs is only noise. (Held here: JUL keeps
   * loggers weakly, and a collected logger forgets its level.)
   */
  private static final java.util.logging.Logger OTEL_LOGS = java.util.logging.Logger.getLogger("io.opentelemetry");

  private Main() {}

  public static void main(String[] args) throws InterruptedException {
    System.setProperty("java.util.logging.SimpleFormatter.format", "periscope: %4$s: %5$s%6$s%n");
    OTEL_LOGS.setLevel(java.util.logging.Level.OFF);
    PrintStream out = System.out;
    PrintStream err = System.err;
    AgentConfig config;
    try {
      config = AgentConfig.parse(Arrays.asList(args), System.getenv());
    } catch (AgentConfig.ConfigException e) {
      err.println("periscope: " + e.getMessage());
      System.exit(2);
      return;
    }
    if (config.help()) {
      out.print(AgentConfig.USAGE);
      return;
    }
    if (config.version()) {
      out.println("periscope " + VERSION);
      return;
    }

    SpanExporter exporter = Exporters.create(config.exporter());
    Agent agent;
    try {
      agent = Agent.start(config, exporter);
    } catch (BpfException e) {
      err.println("periscope: cannot start: " + e.getMessage());
      System.exit(1);
      return;
    }
    printSummary(out, config, agent);

    // SIGINT and SIGTERM end tracing normally (exit 0) rather than through shutdown hooks, whose
    // exit status would be 128 + the signal. The hook stays for every other way the JVM ends.
    CountDownLatch stop = new CountDownLatch(1);
    Signal.handle(new Signal("INT"), signal -> stop.countDown());
    Signal.handle(new Signal("TERM"), signal -> stop.countDown());
    Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("periscope-shutdown").unstarted(agent::close));
    stop.await();
    err.println("periscope: stopping: flushing spans and detaching from the kernel");
    agent.close();
    printCounters(err, agent);
    System.exit(0);
  }

  private static void printSummary(PrintStream out, AgentConfig config, Agent agent) {
    out.printf("periscope %s: tracing HTTP/1.x on kernel %s, %d eBPF programs attached%n", VERSION,
        agent.kernelRelease(), agent.programs().size());
    out.printf("  processes: %s%n", config.pids().isEmpty() && config.processes().isEmpty()
        ? "all (except this agent)" : describe("pid", config.pids()) + describe("name", config.processes()));
    out.printf("  ports:     %s%n", config.ports().isEmpty() ? "all" : config.ports());
    out.printf("  metadata:  %s%n", agent.metadata().mode());
    out.printf("  export:    %s%n", config.exporter().endpoint() == null
        ? "terminal (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to send OTLP)"
        : "OTLP " + config.exporter().protocol() + " to " + config.exporter().endpoint());
    out.println("  Ctrl-C stops tracing.");
    out.flush();
  }

  private static String describe(String what, java.util.Set<?> values) {
    return values.isEmpty() ? "" : what + " " + values + " ";
  }

  private static void printCounters(PrintStream err, Agent agent) {
    PipelineStats.Snapshot p = agent.pipelineStats();
    CaptureCounters k = agent.captureCounters();
    ExportStats e = agent.exportStats();
    err.printf("periscope: kernel: %d events, %d lost (ring buffer full), %d cut at capture limit%n",
        k.events(), k.ringBufferDrops(), k.truncated());
    err.printf("periscope: pipeline: %d events, %d connections (%d not HTTP, %d HTTP/2 not yet decoded),"
            + " %d exchanges, %d parse failures, %d responses without request, %d incomplete%n",
        p.events(), p.connectionsTracked(), p.connectionsNotHttp(), p.connectionsHttp2(), p.exchanges(),
        p.http1ParseFailures(), p.unmatchedResponses(), p.incompleteExchanges());
    SameNodeLinker.LinkStats l = agent.linkStats();
    err.printf("periscope: linking: %d server spans joined their client's trace on this host,"
        + " %d waited in vain, %d released early (too many waiting)%n", l.linked(), l.unlinkedAfterWait(),
        l.heldOverflow());
    err.printf("periscope: export: %d spans exported, %d dropped (queue full), %d failed%n",
        e.spansExported(), e.spansDropped(), e.spansFailed());
    KubernetesMetadata kubernetes = agent.metadata().kubernetes();
    if (kubernetes != null) {
      KubernetesMetadata.Stats k8s = kubernetes.stats();
      err.printf("periscope: kubernetes: %d pods on this node, %d service addresses, %d processes in containers"
          + " known, %d forgotten early (cache full), %d failed API calls%n", k8s.pods(), k8s.serviceAddresses(),
          k8s.processes(), k8s.processesEvictedFull(), k8s.apiFailures());
    }
  }
}
