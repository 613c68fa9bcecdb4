package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * curl -> A -> B -> C, three python {@code ThreadingHTTPServer}s each calling the next with urllib
 * on the thread serving the request, no {@code traceparent} anywhere: each request is one trace of
 * six spans, curl CLIENT -> A SERVER -> A CLIENT -> B SERVER -> B CLIENT -> C SERVER.
 */
@Tag("kernel")
class ThreadingChainTest {
  private static final int A_PORT = 19_310;
  private static final int B_PORT = 19_311;
  private static final int C_PORT = 19_312;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess a;
  private static PeerProcess b;
  private static PeerProcess c;

  @BeforeAll
  static void start() throws Exception {
    String script = Path.of(ThreadingChainTest.class.getResource("chain_server.py").toURI()).toString();
    tracing = TracingAgent.tracingPorts(A_PORT, B_PORT, C_PORT);
    c = PeerProcess.server(tmp, C_PORT, PeerProcess.PYTHON, script, Integer.toString(C_PORT));
    b = PeerProcess.server(tmp, B_PORT, PeerProcess.PYTHON, script, Integer.toString(B_PORT), Integer.toString(C_PORT));
    a = PeerProcess.server(tmp, A_PORT, PeerProcess.PYTHON, script, Integer.toString(A_PORT), Integer.toString(B_PORT));
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(a, b, c, tracing);
  }

  @Test
  void eachRequestThroughThreeServicesIsOneSixSpanTrace() throws Exception {
    List<String> paths = List.of("/orders/1", "/orders/2", "/orders/3");
    String base = "http://127.0.0.1:" + A_PORT;
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--noproxy", "*",
        base + paths.get(0), base + paths.get(1), base + paths.get(2));
    // C's answer, passed back by B and A.
    assertThat(curl.output().lines().toList())
        .containsExactly("end of chain /orders/1", "end of chain /orders/2", "end of chain /orders/3");

    List<ReceivedSpan> spans =
        RequestChain.collect(tracing, List.of(curl.pid(), a.pid(), b.pid(), c.pid()), 6 * paths.size());
    RequestChain chains = RequestChain.of(tracing, spans, paths,
        Hop.of("curl CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(curl.pid())),
        Hop.of("A SERVER", SpanKind.SPAN_KIND_SERVER, List.of(a.pid())),
        Hop.of("A CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(a.pid())),
        Hop.of("B SERVER", SpanKind.SPAN_KIND_SERVER, List.of(b.pid())),
        Hop.of("B CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(b.pid())),
        Hop.of("C SERVER", SpanKind.SPAN_KIND_SERVER, List.of(c.pid())));
    chains.assertOneTraceEach();
    for (String path : paths) {
      assertThat(chains.span(path, 2).attributes()).containsEntry("network.peer.port", (long) B_PORT);
      assertThat(chains.span(path, 4).attributes()).containsEntry("network.peer.port", (long) C_PORT);
    }
    tracing.assertNoKernelDrops();
  }
}
