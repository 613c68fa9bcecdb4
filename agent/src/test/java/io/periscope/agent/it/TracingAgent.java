package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.Agent;
import io.periscope.agent.AgentConfig;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.testing.OtlpReceiver;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import io.periscope.exporter.otlp.OtlpHttpExporter;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The agent running in the test JVM, on the real kernel, tracing only the test's own ports and
 * exporting OTLP/HTTP to a test receiver. Kernel tests share the machine: each uses its own ports
 * and looks only at spans of its own peer processes.
 */
final class TracingAgent implements AutoCloseable {
  final OtlpReceiver receiver;
  final Agent agent;
  private final AgentLogLines log;

  private TracingAgent(OtlpReceiver receiver, Agent agent, AgentLogLines log) {
    this.receiver = receiver;
    this.agent = agent;
    this.log = log;
  }

  static TracingAgent tracingPorts(int... ports) {
    List<String> args = new ArrayList<>();
    for (int port : ports) {
      args.add("--port");
      args.add(Integer.toString(port));
    }
    return start(args.toArray(String[]::new));
  }

  /** The agent with these command-line options, exporting to its own receiver. */
  static TracingAgent start(String... args) {
    return start(Map.of(), args);
  }

  /** The agent with these options and these environment variables (and no others). */
  static TracingAgent start(Map<String, String> env, String... args) {
    OtlpReceiver receiver = OtlpReceiver.start();
    // The exporter the agent uses for http/protobuf, so every kernel test also proves its wire.
    OtlpHttpExporter exporter =
        new OtlpHttpExporter(URI.create(receiver.tracesEndpoint()), Map.of(), Duration.ofSeconds(10));
    AgentLogLines log = AgentLogLines.capture();
    try {
      return new TracingAgent(receiver, Agent.start(AgentConfig.parse(List.of(args), env), exporter), log);
    } catch (RuntimeException | Error e) {
      log.close();
      receiver.close();
      throw e;
    }
  }

  /** Waits for {@code count} spans of these processes, then a moment longer to catch any extra. */
  List<ReceivedSpan> awaitSpans(Collection<Long> pids, int count) {
    Predicate<ReceivedSpan> ours = s -> pids.contains(pid(s));
    receiver.awaitSpans(ours, count, Duration.ofSeconds(20));
    // Spans are exported in batches every second: give stragglers (which would be wrong) time to show.
    sleep(Duration.ofMillis(1500));
    return receiver.spans().stream().filter(ours).toList();
  }

  static long pid(ReceivedSpan span) {
    Object pid = span.resourceAttributes().get("process.pid");
    return pid instanceof Number n ? n.longValue() : -1;
  }

  static String describe(List<ReceivedSpan> spans) {
    return spans.stream().map(s -> s.kind() + " " + s.name() + " " + s.attributes() + " pid=" + pid(s))
        .collect(Collectors.joining("\n  ", "\n  ", ""));
  }

  static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /**
   * The pipeline's counters once none of them but {@code events} changed for {@code quiet}: what
   * the kernel submitted before the call has then been counted, so differences between two calls
   * are exact. ({@code events} is left out: the kernel reports the close of every TCP socket any
   * process on the host used, whatever the port filter, and the pipeline ignores those.)
   */
  PipelineStats.Snapshot quietPipelineStats(Duration quiet) {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    PipelineStats.Snapshot last = withoutEvents(agent.pipelineStats());
    long stableSince = System.nanoTime();
    while (System.nanoTime() - stableSince < quiet.toNanos()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the pipeline counters did not settle within 20 s: " + last);
      }
      sleep(Duration.ofMillis(50));
      PipelineStats.Snapshot now = withoutEvents(agent.pipelineStats());
      if (!now.equals(last)) {
        last = now;
        stableSince = System.nanoTime();
      }
    }
    return last;
  }

  private static PipelineStats.Snapshot withoutEvents(PipelineStats.Snapshot s) {
    return new PipelineStats.Snapshot(0, s.malformedEvents(), s.connectionsTracked(), s.connectionsEvicted(),
        s.connectionsNotHttp(), s.connectionsHttp2(), s.http1ParseFailures(), s.http2ParseFailures(),
        s.http2StreamsEvicted(), s.http2Resyncs(), s.unmatchedResponses(), s.incompleteExchanges(),
        s.pipelineOverflows(), s.exchanges(), s.internalErrors());
  }

  /** No HTTP/2 connection failed to parse and the kernel dropped nothing, since the agent started. */
  void assertNoParseFailuresOrDrops() {
    assertThat(agent.pipelineStats().http2ParseFailures()).as("HTTP/2 parse failures").isZero();
    assertNoKernelDrops();
  }

  void assertNoKernelDrops() {
    assertThat(agent.captureCounters().ringBufferDrops()).as("ring buffer drops").isZero();
  }

  /**
   * No line the agent logged so far carries any of these (header values the privacy rules keep on
   * the node), or bytes that are not text (ciphertext, a binary frame).
   */
  void assertLogsKeep(String... secrets) {
    for (String line : log.lines()) {
      for (String secret : secrets) {
        assertThat(line).as("a line the agent logged").doesNotContain(secret);
      }
      assertThat(line.chars().filter(c -> (c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0xfffd).count())
          .as("bytes that are not text in a line the agent logged: %s", line).isZero();
    }
  }

  /**
   * Stops the agent, then checks every span it exported, also those the tests cleared from the
   * receiver, against the semantic conventions ({@link SemanticConventions}: Periscope's spans
   * only); the receiver is closed in any case.
   */
  @Override
  public void close() {
    try {
      agent.close();
      SemanticConventions.assertConform(receiver.allSpans());
    } finally {
      log.close();
      receiver.close();
    }
  }
}
