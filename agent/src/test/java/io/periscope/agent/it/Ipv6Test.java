package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * IPv6 connections, and IPv4 clients of a dual-stack server (whose socket sees v4-mapped IPv6
 * addresses): addresses in their canonical text form, IPv4 reported as IPv4, and both ends linked.
 */
@Tag("kernel")
class Ipv6Test {
  private static final int V6_PORT = 18_531;
  private static final int DUAL_PORT = 18_532;

  @TempDir
  Path site;

  @Test
  void ipv6LoopbackIsTracedOnBothEnds() throws Exception {
    Files.writeString(site.resolve("a.txt"), "a");
    try (TracingAgent tracing = TracingAgent.tracingPorts(V6_PORT);
        PeerProcess server = PeerProcess.serverOn(site, "::1", V6_PORT, PeerProcess.PYTHON, "-m", "http.server",
            "--bind", "::1", Integer.toString(V6_PORT))) {
      PeerProcess.Ran curl = PeerProcess.runWithPid(site, "curl", "-sS", "-g", "-o", "/dev/null",
          "http://[::1]:" + V6_PORT + "/a.txt");

      List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), curl.pid()), 2);
      assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
      ReceivedSpan serverSpan = kind(spans, SpanKind.SPAN_KIND_SERVER);
      ReceivedSpan clientSpan = kind(spans, SpanKind.SPAN_KIND_CLIENT);
      assertThat(serverSpan.attributes())
          .containsEntry("network.peer.address", "::1")
          .containsEntry("client.address", "::1")
          .containsEntry("server.address", "::1")
          .containsEntry("server.port", (long) V6_PORT)
          .containsEntry("url.path", "/a.txt");
      assertThat(clientSpan.attributes())
          .containsEntry("network.peer.address", "::1")
          .containsEntry("network.peer.port", (long) V6_PORT)
          .containsEntry("url.full", "http://[::1]:" + V6_PORT + "/a.txt")
          .doesNotContainKeys("url.path", "url.query");
      assertThat(serverSpan.parentSpanId()).isEqualTo(clientSpan.spanId());
    }
  }

  @Test
  void anIpv4ClientOfADualStackServerIsReportedAsIpv4() throws Exception {
    Files.writeString(site.resolve("b.txt"), "b");
    try (TracingAgent tracing = TracingAgent.tracingPorts(DUAL_PORT);
        PeerProcess server = PeerProcess.server(site, DUAL_PORT, PeerProcess.PYTHON, "-m", "http.server",
            "--bind", "::", Integer.toString(DUAL_PORT))) {
      PeerProcess.Ran curl = PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null",
          "http://127.0.0.1:" + DUAL_PORT + "/b.txt");

      List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), curl.pid()), 2);
      assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
      ReceivedSpan serverSpan = kind(spans, SpanKind.SPAN_KIND_SERVER);
      ReceivedSpan clientSpan = kind(spans, SpanKind.SPAN_KIND_CLIENT);
      assertThat(serverSpan.attributes())
          .containsEntry("network.peer.address", "127.0.0.1")
          .containsEntry("client.address", "127.0.0.1");
      // The server's socket saw ::ffff:127.0.0.1; normalised, its client's endpoint matches curl's.
      assertThat(serverSpan.parentSpanId()).isEqualTo(clientSpan.spanId());
    }
  }

  private static ReceivedSpan kind(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).findFirst().orElseThrow();
  }
}
