package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.OtlpReceiver;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent killed with SIGKILL while it traces and injects (the OOM killer, a node drain that
 * does not wait): it runs none of its shutdown, so everything it put in the kernel must go with its
 * file descriptors. The kernel then holds nothing of it, the service it traced never noticed, and
 * the agent started again traces from the next request.
 */
@Tag("kernel")
class AgentKillTest {
  private static final int PORT = 18_640;
  private static final Duration STARTUP = Duration.ofSeconds(30);
  /** How long the traced keep-alive client runs: across the kill and the restart. */
  private static final int CLIENT_SECONDS = 30;

  @TempDir
  Path tmp;

  @Test
  void aKilledAgentLeavesNothingInTheKernelAndItsSuccessorTracesTheNextRequest() throws Exception {
    String echo = Path.of(getClass().getResource("echo_server.py").toURI()).toString();
    String client = Path.of(getClass().getResource("keepalive_client.py").toURI()).toString();
    String port = Integer.toString(PORT);
    Set<String> pinnedBefore = BpfObjects.pinned();
    try (PeerProcess server = PeerProcess.server(tmp, PORT, PeerProcess.PYTHON, echo, port);
        OtlpReceiver first = OtlpReceiver.start();
        OtlpReceiver second = OtlpReceiver.start()) {
      PeerProcess load;
      try (AgentProcess killed = AgentProcess.start(Map.of(), tmp,
          "--otlp-endpoint", first.endpoint(), "--port", port, "--inject-traceparent", "--inject-despite-fionread")) {
        killed.awaitStdout(AgentProcess.SUMMARY, STARTUP);
        // Opened under the agent, so its connection sits in the agent's sockhash, sk_msg on its sends.
        load = PeerProcess.start(tmp, PeerProcess.PYTHON, client, port, Integer.toString(CLIENT_SECONDS));
        first.awaitSpans(s -> TracingAgent.pid(s) == load.pid(), 5, Duration.ofSeconds(20));
        BpfObjects held = BpfObjects.heldBy(killed.pid());
        assertThat(held.programs()).as("programs held").isNotEmpty();
        assertThat(held.maps()).as("maps held").isNotEmpty();
        assertThat(held.links()).as("links held (the cgroup's sockops among them)").isNotEmpty();

        assertThat(killed.kill(Duration.ofSeconds(10))).as("exit status after SIGKILL").isEqualTo(128 + 9);
        BpfObjects left = BpfObjects.awaitGone(held, Duration.ofSeconds(10));
        assertThat(left.programs()).as("programs left after SIGKILL").isEmpty();
        assertThat(left.maps()).as("maps left after SIGKILL (the sockhash among them)").isEmpty();
        assertThat(left.links()).as("links left after SIGKILL").isEmpty();
        assertThat(BpfObjects.pinned()).as("pinned under /sys/fs/bpf").isEqualTo(pinnedBefore);
      }

      try (AgentProcess successor = AgentProcess.start(Map.of(), tmp,
          "--otlp-endpoint", second.endpoint(), "--port", port, "--inject-traceparent", "--inject-despite-fionread")) {
        successor.awaitStdout(AgentProcess.SUMMARY, STARTUP);
        // The client's connection, opened before this agent, is traced from its next request on.
        List<ReceivedSpan> resumed =
            second.awaitSpans(s -> TracingAgent.pid(s) == load.pid(), 3, Duration.ofSeconds(20));
        assertThat(resumed).allSatisfy(s -> assertThat(s.kind()).isEqualTo(SpanKind.SPAN_KIND_CLIENT));
        // A new connection gets a traceparent again, its client span's.
        PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "curl", "-sS", "http://127.0.0.1:" + port + "/after");
        ReceivedSpan curlSpan =
            second.awaitSpans(s -> TracingAgent.pid(s) == curl.pid(), 1, Duration.ofSeconds(20)).getFirst();
        assertThat(curl.output()).contains(
            "\"traceparent\": \"00-" + curlSpan.traceId() + "-" + curlSpan.spanId() + "-01\"");
      }

      // The traced client never noticed: every answer came, whole, on its one connection.
      assertThat(load.awaitExit(Duration.ofSeconds(CLIENT_SECONDS + 30))).as(load.output()).isZero();
      assertThat(load.output()).containsPattern("requests [1-9]\\d* injected [1-9]\\d*");
    }
  }
}
