package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.OtlpReceiver;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kernel-side filters (pid, process name), and the agent's own traffic: an agent process exporting
 * to a collector on the same host produces no spans about that export, on either end.
 */
@Tag("kernel")
class FiltersAndSelfTrafficTest {
  private static final int PORT_A = 18_501;
  private static final int PORT_B = 18_502;
  private static final int SELF_PORT = 18_503;

  @TempDir
  Path dir;

  @Test
  void pidFilterTracesOnlyTheListedProcess() throws Exception {
    Files.writeString(dir.resolve("a.txt"), "a");
    try (PeerProcess a = server(PORT_A); PeerProcess b = server(PORT_B);
        TracingAgent tracing = TracingAgent.start("--pid", Long.toString(a.pid()), "--port", PORT_A + "," + PORT_B)) {
      PeerProcess.Ran clientA = curl(PORT_A);
      PeerProcess.Ran clientB = curl(PORT_B);
      List<Long> all = List.of(a.pid(), b.pid(), clientA.pid(), clientB.pid());
      List<ReceivedSpan> spans = tracing.awaitSpans(all, 1);
      assertThat(spans).as(TracingAgent.describe(spans)).hasSize(1);
      assertThat(spans.getFirst().kind()).isEqualTo(SpanKind.SPAN_KIND_SERVER);
      assertThat(TracingAgent.pid(spans.getFirst())).isEqualTo(a.pid());
    }
  }

  @Test
  void processNameFilterTracesOnlyThatCommand() throws Exception {
    Files.writeString(dir.resolve("a.txt"), "a");
    try (PeerProcess a = server(PORT_A); TracingAgent tracing = TracingAgent.start("--process", "curl", "--port",
        Integer.toString(PORT_A))) {
      PeerProcess.Ran client = curl(PORT_A);
      List<ReceivedSpan> spans = tracing.awaitSpans(List.of(a.pid(), client.pid()), 1);
      assertThat(spans).as(TracingAgent.describe(spans)).hasSize(1);
      assertThat(spans.getFirst().kind()).isEqualTo(SpanKind.SPAN_KIND_CLIENT);
      assertThat(TracingAgent.pid(spans.getFirst())).isEqualTo(client.pid());
    }
  }

  /**
   * A separate agent process exports to a receiver in this JVM, and traces the receiver's port: the
   * receiver reading the agent's export must not become spans (or every batch would trace the last).
   */
  @Test
  void exportToACollectorOnThisHostIsNotTraced() throws Exception {
    Files.writeString(dir.resolve("a.txt"), "a");
    try (OtlpReceiver receiver = OtlpReceiver.start(); PeerProcess server = server(SELF_PORT)) {
      int receiverPort = java.net.URI.create(receiver.endpoint()).getPort();
      List<String> command = new ArrayList<>(List.of(
          ProcessHandle.current().info().command().orElseThrow(), "--enable-native-access=ALL-UNNAMED",
          "-cp", System.getProperty("java.class.path"), "io.periscope.agent.Main",
          "--otlp-endpoint", receiver.endpoint(), "--port", SELF_PORT + "," + receiverPort));
      try (PeerProcess agent = PeerProcess.start(dir, command.toArray(String[]::new))) {
        agent.awaitOutput("eBPF programs attached", Duration.ofSeconds(30));
        // Several export batches: each one would be traced if the agent's export were visible.
        for (int i = 0; i < 3; i++) {
          curl(SELF_PORT);
          receiver.awaitSpans(s -> TracingAgent.pid(s) == server.pid(), i + 1, Duration.ofSeconds(20));
        }
        TracingAgent.sleep(Duration.ofSeconds(3));
        List<ReceivedSpan> spans = receiver.spans();
        assertThat(spans).as(TracingAgent.describe(spans))
            .noneMatch(s -> "/v1/traces".equals(s.urlPath()))
            .noneMatch(s -> TracingAgent.pid(s) == ProcessHandle.current().pid())
            .noneMatch(s -> TracingAgent.pid(s) == agent.pid());
        assertThat(spans.stream().filter(s -> TracingAgent.pid(s) == server.pid())).hasSize(3);
        SemanticConventions.assertConform(receiver.allSpans());
      }
    }
  }

  private PeerProcess server(int port) throws Exception {
    return PeerProcess.server(dir, port, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(port));
  }

  private PeerProcess.Ran curl(int port) throws Exception {
    return PeerProcess.runWithPid(dir, "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + port + "/a.txt");
  }
}
