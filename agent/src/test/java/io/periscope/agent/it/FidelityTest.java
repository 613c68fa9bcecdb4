package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Everyday exchanges that real clients make and that once gave no span or a broken trace: request
 * heads longer than one capture (big cookies, JWTs, SAML), and clients that give up on a call or
 * read only part of the answer. Real peers (curl, wget, node, python, nginx) on the real kernel.
 */
@Tag("kernel")
class FidelityTest {
  private static final int PYTHON_PORT = 18_600;
  private static final int NODE_PORT = 18_601;
  private static final int NGINX_PORT = 18_602;
  private static final String TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
  private static final String PARENT_ID = "b7ad6b7169203331";

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess python;
  private static PeerProcess node;
  private static PeerProcess nginx;

  @BeforeAll
  static void start() throws Exception {
    tracing = TracingAgent.tracingPorts(PYTHON_PORT, NODE_PORT, NGINX_PORT);
    String script = Path.of(FidelityTest.class.getResource("fidelity_server.py").toURI()).toString();
    python = PeerProcess.server(tmp, PYTHON_PORT, PeerProcess.PYTHON, script, Integer.toString(PYTHON_PORT));
    // node refuses heads over 16 KiB by default (431); a service that takes big tokens raises it.
    node = PeerProcess.server(tmp, NODE_PORT, "/usr/bin/node", "--max-http-header-size=80000", "-e",
        "require('http').createServer((q, s) => s.end('ok\\n')).listen(" + NODE_PORT + ", '127.0.0.1')");
    Files.createDirectories(tmp.resolve("site"));
    Path conf = tmp.resolve("nginx.conf");
    Files.writeString(conf, """
        daemon off;
        master_process on;
        worker_processes 1;
        user root;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log;
        events {}
        http {
          access_log off;
          large_client_header_buffers 4 64k;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d;
            root %1$s/site;
            location = /big { return 200 "ok\\n"; }
          }
        }
        """.formatted(tmp, NGINX_PORT));
    nginx = PeerProcess.server(tmp, NGINX_PORT, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c", conf.toString(),
        "-p", tmp.toString());
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(python, node, nginx);
    if (tracing != null) {
      tracing.close();
    }
  }

  /**
   * curl writes the whole head in one send; node reads it in one 64 KiB read, python 8 KiB at a
   * time, nginx into its large header buffers. Either end's head is longer than the 8 KiB capture:
   * both spans come, linked, with the header after the big one read.
   */
  @ParameterizedTest(name = "{0}, {1} bytes")
  @CsvSource({"python, 16384", "python, 61440", "node, 16384", "node, 61440", "nginx, 16384", "nginx, 61440"})
  void aHeadLongerThanTheCaptureGivesBothSpans(String server, int size) throws Exception {
    int port = port(server);
    long piecesBefore = tracing.agent.captureCounters().headPieces();
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--fail", "-o", "/dev/null",
        "-H", "X-Token: " + "t".repeat(size), "-H", "X-After: yes", "http://127.0.0.1:" + port + "/big");

    List<ReceivedSpan> spans = tracing.awaitSpans(pids(server, curl.pid()), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan client = only(spans, SpanKind.SPAN_KIND_CLIENT);
    ReceivedSpan serving = only(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(TracingAgent.pid(client)).isEqualTo(curl.pid());
    assertThat(client.attributes()).containsEntry("url.full", "http://127.0.0.1:" + port + "/big")
        .containsEntry("http.response.status_code", 200L);
    assertThat(serving.attributes()).containsEntry("url.path", "/big").containsEntry("http.response.status_code", 200L)
        .containsEntry("server.address", "127.0.0.1").containsEntry("server.port", (long) port);
    assertThat((String) serving.attributes().get("user_agent.original")).startsWith("curl/");
    assertThat(serving.traceId()).isEqualTo(client.traceId());
    assertThat(serving.parentSpanId()).as("linked on this node").isEqualTo(client.spanId());
    assertThat(tracing.agent.captureCounters().headPieces()).as("curl's head came in pieces")
        .isGreaterThan(piecesBefore);
    assertThat(tracing.agent.pipelineStats().http1ParseFailures()).isZero();
    tracing.assertNoKernelDrops();
  }

  /** A traceparent after a 16 KiB cookie (never exported) still makes the server span the caller's child. */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"python", "node", "nginx"})
  void aTraceparentAfterABigCookieIsHonoured(String server) throws Exception {
    String cookie = "session=" + "c".repeat(16_384);
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--fail", "-o", "/dev/null",
        "-b", cookie, "-H", "traceparent: 00-" + TRACE_ID + "-" + PARENT_ID + "-01",
        "http://127.0.0.1:" + port(server) + "/big");

    // curl sent a traceparent of its own, as an SDK would: its call is the SDK's to report.
    List<ReceivedSpan> spans = tracing.awaitSpans(pids(server, curl.pid()), 1);
    assertThat(spans).as(TracingAgent.describe(spans)).singleElement().satisfies(s -> {
      assertThat(s.kind()).isEqualTo(SpanKind.SPAN_KIND_SERVER);
      assertThat(s.traceId()).isEqualTo(TRACE_ID);
      assertThat(s.parentSpanId()).isEqualTo(PARENT_ID);
      assertThat(s.attributes()).containsEntry("url.path", "/big");
      assertThat(s.attributes().values()).noneMatch(v -> String.valueOf(v).contains("session="));
    });
    tracing.assertNoKernelDrops();
  }

  /** curl --max-time gives up on a slow answer: its span ends when it closed, and says so. */
  @Test
  void aClientThatGivesUpHasItsSpanAndItsServerItsParent() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, 28, "/usr/bin/curl", "-sS", "--max-time", "1", "-o",
        "/dev/null", "http://127.0.0.1:" + PYTHON_PORT + "/slow");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(python.pid(), curl.pid()), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan client = only(spans, SpanKind.SPAN_KIND_CLIENT);
    ReceivedSpan serving = only(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(client.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(client.attributes()).containsEntry("error.type", "connection_closed")
        .doesNotContainKey("http.response.status_code");
    long took = client.endEpochNanos() - client.startEpochNanos();
    assertThat(took).as("ended when curl closed, after its 1 s").isBetween(900_000_000L, 2_500_000_000L);
    assertThat(serving.parentSpanId()).isEqualTo(client.spanId());
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
  }

  /** wget on a 404: the client span has the status it read, and its server span its parent. */
  @Test
  void wgetOnA404() throws Exception {
    PeerProcess.Ran wget = PeerProcess.runWithPid(tmp, 8, "/usr/bin/wget", "-q", "-O", "/dev/null",
        "http://127.0.0.1:" + PYTHON_PORT + "/missing");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(python.pid(), wget.pid()), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan client = only(spans, SpanKind.SPAN_KIND_CLIENT);
    ReceivedSpan serving = only(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(client.attributes()).containsEntry("http.response.status_code", 404L)
        .containsEntry("error.type", "404");
    assertThat(client.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(serving.statusCode()).as("a 4xx is the client's mistake").isEqualTo(StatusCode.STATUS_CODE_UNSET);
    assertThat(serving.parentSpanId()).isEqualTo(client.spanId());
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
  }

  /** A client that reads the status line of a 1 MiB answer and closes. */
  @Test
  void aClientThatReadsOnlyTheStatusLine() throws Exception {
    String script = Path.of(FidelityTest.class.getResource("status_line_client.py").toURI()).toString();
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script, Integer.toString(PYTHON_PORT),
        "/large");
    assertThat(client.output()).startsWith("HTTP/1.1 200");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(python.pid(), client.pid()), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan asked = only(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(asked.attributes()).containsEntry("http.response.status_code", 200L)
        .containsEntry("error.type", "response_incomplete")
        .containsEntry("url.full", "http://127.0.0.1:" + PYTHON_PORT + "/large");
    assertThat(only(spans, SpanKind.SPAN_KIND_SERVER).parentSpanId()).isEqualTo(asked.spanId());
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
  }

  private static int port(String server) {
    return switch (server) {
      case "python" -> PYTHON_PORT;
      case "node" -> NODE_PORT;
      case "nginx" -> NGINX_PORT;
      default -> throw new IllegalArgumentException(server);
    };
  }

  private static List<Long> pids(String server, long client) {
    PeerProcess peer = switch (server) {
      case "python" -> python;
      case "node" -> node;
      default -> nginx;
    };
    List<Long> pids = new ArrayList<>(peer.pids());
    pids.add(client);
    return pids;
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).reduce((a, b) -> {
      throw new AssertionError("more than one " + kind + ": " + TracingAgent.describe(spans));
    }).orElseThrow(() -> new AssertionError("no " + kind + ": " + TracingAgent.describe(spans)));
  }
}
