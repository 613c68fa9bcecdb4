package io.periscope.agent;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.link.LinkStats;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.bpf.BpfException;
import io.periscope.bpf.CaptureCounters;
import io.periscope.bpf.VerifierStatistics;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.Exporters;
import io.periscope.agent.health.HealthServer;
import io.periscope.agent.log.JsonLogFormatter;
import io.periscope.metadata.k8s.KubernetesMetadata;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
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
  private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger("io.periscope.agent");

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

    if (config.logFormat() == AgentConfig.LogFormat.JSON) {
      for (Handler handler : java.util.logging.Logger.getLogger("").getHandlers()) {
        handler.setFormatter(new JsonLogFormatter());
      }
    }

    // The health endpoints answer from before the programs are attached: alive, not ready.
    AtomicReference<Agent> running = new AtomicReference<>();
    HealthServer health = null;
    if (config.healthAddress() != null) {
      try {
        health = HealthServer.start(config.healthAddress(), running::get, VERSION);
      } catch (UncheckedIOException e) {
        report(config, err, Level.SEVERE, "cannot start: " + e.getMessage());
        System.exit(1);
        return;
      }
    }
    SpanExporter exporter = Exporters.create(config.exporter());
    Agent agent;
    try {
      agent = Agent.start(config, exporter);
    } catch (BpfException e) {
      report(config, err, Level.SEVERE, "cannot start: " + e.getMessage());
      System.exit(1);
      return;
    }
    running.set(agent);
    if (config.logFormat() == AgentConfig.LogFormat.JSON) {
      LOG.info(summaryLine(config, agent, health));
    } else {
      printSummary(out, config, agent, health);
    }

    // SIGINT and SIGTERM end tracing normally (exit 0) rather than through shutdown hooks, whose
    // exit status would be 128 + the signal. The hook stays for every other way the JVM ends.
    CountDownLatch stop = new CountDownLatch(1);
    Signal.handle(new Signal("INT"), signal -> stop.countDown());
    Signal.handle(new Signal("TERM"), signal -> stop.countDown());
    Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("periscope-shutdown").unstarted(agent::close));
    stop.await();
    report(config, err, Level.INFO, "stopping: flushing spans and detaching from the kernel");
    agent.close();
    printCounters(config, err, agent);
    if (health != null) {
      health.close();
    }
    System.exit(0);
  }

  /** A line for the operator: "periscope: ..." on stderr, or one JSON log event. */
  private static void report(AgentConfig config, PrintStream err, Level level, String line) {
    if (config.logFormat() == AgentConfig.LogFormat.JSON) {
      LOG.log(level, line);
    } else {
      err.println("periscope: " + line);
    }
  }

  private static void printSummary(PrintStream out, AgentConfig config, Agent agent, HealthServer health) {
    out.printf("periscope %s: tracing HTTP/1.x, HTTP/2 and gRPC on kernel %s, %s%n", VERSION,
        agent.kernelRelease(), programs(agent));
    out.printf("  kernel:    %s%s%n", agent.captureVariant(), verifier(agent.verifierStatistics()));
    out.printf("  TLS:       %s%n", agent.tlsLibraries().isEmpty() ? "no TLS library found yet"
        : "plaintext from " + String.join(", ", agent.tlsLibraries()));
    out.printf("  processes: %s%n", processes(config));
    out.printf("  ports:     %s%n", config.ports().isEmpty() ? "all" : config.ports());
    out.printf("  metadata:  %s%n", agent.metadata().mode());
    out.printf("  export:    %s%n", config.exporter().endpoint() == null
        ? "terminal (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to send OTLP)"
        : "OTLP " + config.exporter().protocol() + " to " + config.exporter().endpoint());
    if (config.samplingRatio() < 1) {
      out.printf("  sampling:  %s of new traces%n", config.samplingRatio());
    }
    if (health != null) {
      out.printf("  health:    http://%s%s, %s, %s%n", hostPort(health), HealthServer.LIVENESS,
          HealthServer.READINESS, HealthServer.METRICS);
    }
    out.println("  Ctrl-C stops tracing.");
    out.flush();
  }

  /** "36 eBPF programs attached", or "36 of 40 ..." while TLS programs wait for a program to probe. */
  private static String programs(Agent agent) {
    int attached = agent.programs().size();
    int loaded = agent.loadedPrograms().size();
    return loaded > attached
        ? attached + " of " + loaded + " eBPF programs attached (the others when a program they probe appears)"
        : attached + " eBPF programs attached";
  }

  private static String summaryLine(AgentConfig config, Agent agent, HealthServer health) {
    return "periscope " + VERSION + ": tracing HTTP/1.x, HTTP/2 and gRPC on kernel " + agent.kernelRelease() + ", "
        + programs(agent) + "; kernel: " + agent.captureVariant()
        + verifier(agent.verifierStatistics()) + "; processes: " + processes(config) + "; ports: "
        + (config.ports().isEmpty() ? "all" : config.ports()) + "; export: " + agent.export() + "; sampling: "
        + config.samplingRatio() + (health == null ? "" : "; health: http://" + hostPort(health));
  }

  /**
   * "; verifier: at most 95133 instructions (exit_recvmsg), stack 320 of 512 bytes (exit_readv)": how
   * close the programs came to the verifier's limits on this kernel, for whoever runs an old one.
   */
  private static String verifier(List<VerifierStatistics> programs) {
    if (programs.isEmpty()) {
      return "";
    }
    VerifierStatistics longest = programs.stream()
        .max(Comparator.comparingLong(VerifierStatistics::instructionsProcessed)).orElseThrow();
    VerifierStatistics deepest = programs.stream()
        .max(Comparator.comparingInt(VerifierStatistics::combinedStack)).orElseThrow();
    return "; verifier: at most " + longest.instructionsProcessed() + " instructions (" + longest.program()
        + "), stack " + deepest.combinedStack() + " of " + VerifierStatistics.STACK_LIMIT + " bytes ("
        + deepest.program() + ")";
  }

  private static String processes(AgentConfig config) {
    return config.pids().isEmpty() && config.processes().isEmpty()
        ? "all (except this agent)" : describe("pid", config.pids()) + describe("name", config.processes());
  }

  private static String hostPort(HealthServer health) {
    InetSocketAddress a = health.address();
    String host = a.getAddress().getHostAddress();
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
  }

  private static String describe(String what, java.util.Set<?> values) {
    return values.isEmpty() ? "" : what + " " + values + " ";
  }

  private static void printCounters(AgentConfig config, PrintStream err, Agent agent) {
    PipelineStats.Snapshot p = agent.pipelineStats();
    CaptureCounters k = agent.captureCounters();
    ExportStats e = agent.exportStats();
    report(config, err, Level.INFO, ("kernel: %d events, %d lost (ring buffer full), %d shed with their connection"
        + " (overload; %d connections not followed from their start), %d cut at capture limit"
        + " (%d more records for long heads), %d HTTP/2 frame walks lost their place; TLS: %d ciphertext syscalls"
        + " not copied, %d library calls on an unknown connection").formatted(k.events(), k.ringBufferDrops(),
        k.shedRecords(), k.shedConnections(), k.truncated(), k.headPieces(), k.h2SyncLost(), k.tlsCiphertext(),
        k.tlsNoSocket()));
    report(config, err, Level.INFO, ("pipeline: %d events, %d connections (%d not HTTP, %d HTTP/2), %d exchanges,"
            + " %d HTTP/1 and %d HTTP/2 parse failures, %d responses without request, %d incomplete").formatted(
        p.events(), p.connectionsTracked(), p.connectionsNotHttp(), p.connectionsHttp2(), p.exchanges(),
        p.http1ParseFailures(), p.http2ParseFailures(), p.unmatchedResponses(), p.incompleteExchanges()));
    report(config, err, Level.INFO, ("HTTP/2: %d streams pushed out (too many open), %d times bytes were lost and"
        + " frames found again; %d internal errors").formatted(p.http2StreamsEvicted(), p.http2Resyncs(),
        p.internalErrors()));
    LinkStats l = agent.linkStats();
    report(config, err, Level.INFO, ("linking: %d server spans joined their client's trace on this host,"
        + " %d client spans the request their thread served, %d left unlinked (thread serving several),"
        + " %d waited in vain, %d released early (too many waiting), %d made for unfinished requests that"
        + " other spans name as parent; %d processes with their own SDK, whose %d client and %d server spans"
        + " Periscope left to it").formatted(l.linked(), l.linkedInProcess(), l.ambiguous(), l.unlinkedAfterWait(),
        l.heldOverflow(), l.unfinishedParents(), l.sdkProcesses(), l.sdkClientSpans(), l.sdkServerSpans()));
    if (config.injectTraceparent()) {
      report(config, err, Level.INFO, ("traceparent injection: %d requests given one, %d armed that left without,"
          + " %d injected client spans left as roots (another trace than their thread's request), %d kernel"
          + " contexts unmatched").formatted(k.traceparentsInjected(), k.injectionsFailed(), l.injectedElsewhere(),
          l.kernelContextsDropped()));
    }
    report(config, err, Level.INFO, "export: %d spans exported, %d dropped (queue full), %d failed%s".formatted(
        e.spansExported(), e.spansDropped(), e.spansFailed(),
        e.spansFailed() == 0 ? "" : " (" + DropReport.byReason(e.spansFailedByReason()) + ")"));
    KubernetesMetadata kubernetes = agent.metadata().kubernetes();
    if (kubernetes != null) {
      KubernetesMetadata.Stats k8s = kubernetes.stats();
      report(config, err, Level.INFO, ("kubernetes: %d pods on this node, %d service addresses, %d processes in"
          + " containers known, %d forgotten early (cache full), %d failed API calls").formatted(k8s.pods(),
          k8s.serviceAddresses(), k8s.processes(), k8s.processesEvictedFull(), k8s.apiFailures()));
    }
  }
}
