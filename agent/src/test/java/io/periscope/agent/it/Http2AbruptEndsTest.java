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

/**
 * HTTP/2 exchanges that end the hard ways, between nghttp (nghttp2's client) and a server that ends
 * its streams by GOAWAY, by resetting the connection, or answers with header blocks split over
 * CONTINUATION frames; and nghttp's own CONTINUATION for a 20 KiB request header, to nghttpd. Each
 * stream gives its spans on both ends, saying how it ended, linked.
 */
@Tag("kernel")
class Http2AbruptEndsTest {
  private static final int GOAWAY_PORT = 18_610;
  private static final int RESET_PORT = 18_611;
  private static final int CONTINUATION_PORT = 18_612;
  private static final int NGHTTPD_PORT = 18_613;
  private static final String NGHTTP = "/usr/bin/nghttp";

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static final List<PeerProcess> servers = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    tracing = TracingAgent.tracingPorts(GOAWAY_PORT, RESET_PORT, CONTINUATION_PORT, NGHTTPD_PORT);
    String script = Path.of(Http2AbruptEndsTest.class.getResource("h2_abrupt_server.py").toURI()).toString();
    servers.add(PeerProcess.server(tmp, GOAWAY_PORT, PeerProcess.PYTHON, script, Integer.toString(GOAWAY_PORT),
        "goaway"));
    servers.add(PeerProcess.server(tmp, RESET_PORT, PeerProcess.PYTHON, script, Integer.toString(RESET_PORT), "reset"));
    servers.add(PeerProcess.server(tmp, CONTINUATION_PORT, PeerProcess.PYTHON, script,
        Integer.toString(CONTINUATION_PORT), "continuation"));
    Path site = Files.createDirectories(tmp.resolve("site"));
    Files.writeString(site.resolve("a.txt"), "first file\n");
    servers.add(PeerProcess.server(tmp, NGHTTPD_PORT, "/usr/sbin/nghttpd", "--no-tls", "-d", site.toString(),
        Integer.toString(NGHTTPD_PORT)));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    servers.forEach(PeerProcess::close);
    if (tracing != null) {
      tracing.close();
    }
  }

  /** The server's GOAWAY names the first stream as the last it handles: the second was refused. */
  @Test
  void aGoAwayWithAStreamOpenRefusesIt() throws Exception {
    List<ReceivedSpan> spans = twoStreams(GOAWAY_PORT);
    for (SpanKind kind : List.of(SpanKind.SPAN_KIND_CLIENT, SpanKind.SPAN_KIND_SERVER)) {
      ReceivedSpan refused = span(spans, kind, "/two");
      assertThat(refused.attributes()).as(refused.toString()).containsEntry("error.type", "GOAWAY")
          .doesNotContainKey("http.response.status_code");
      assertThat(refused.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    }
    ReceivedSpan served = span(spans, SpanKind.SPAN_KIND_SERVER, "/one");
    assertThat(served.attributes()).containsEntry("http.response.status_code", 200L);
  }

  /** The server resets the connection after answering the first stream: the second ends there, on both ends. */
  @Test
  void aConnectionResetMidStreamEndsTheStream() throws Exception {
    List<ReceivedSpan> spans = twoStreams(RESET_PORT);
    for (SpanKind kind : List.of(SpanKind.SPAN_KIND_CLIENT, SpanKind.SPAN_KIND_SERVER)) {
      assertThat(span(spans, kind, "/one").attributes()).containsEntry("http.response.status_code", 200L)
          .doesNotContainKey("error.type");
      ReceivedSpan cut = span(spans, kind, "/two");
      assertThat(cut.attributes()).as(cut.toString()).containsEntry("error.type", "connection_closed");
      assertThat(cut.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    }
  }

  /** Response header blocks split over HEADERS and CONTINUATION: whole responses, no parse failure. */
  @Test
  void responseHeadersOverContinuationFrames() throws Exception {
    long failures = tracing.agent.pipelineStats().http2ParseFailures();
    List<ReceivedSpan> spans = twoStreams(CONTINUATION_PORT);
    assertThat(spans).allSatisfy(s -> assertThat(s.attributes()).as(s.toString())
        .containsEntry("http.response.status_code", 200L).doesNotContainKey("error.type"));
    assertThat(tracing.agent.pipelineStats().http2ParseFailures()).isEqualTo(failures);
  }

  /** nghttp splits a 20 KiB request header block over HEADERS and CONTINUATION (frames of 16 KiB). */
  @Test
  void requestHeadersOverContinuationFrames() throws Exception {
    long failures = tracing.agent.pipelineStats().http2ParseFailures();
    PeerProcess.Ran nghttp = PeerProcess.runWithPid(tmp, NGHTTP, "-n", "-H", "x-token: " + "t".repeat(20_480),
        "http://127.0.0.1:" + NGHTTPD_PORT + "/a.txt");
    List<ReceivedSpan> spans = tracing.awaitSpans(pids(nghttp.pid(), servers.getLast()), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan client = span(spans, SpanKind.SPAN_KIND_CLIENT, "/a.txt");
    ReceivedSpan served = span(spans, SpanKind.SPAN_KIND_SERVER, "/a.txt");
    assertThat(client.attributes()).containsEntry("http.response.status_code", 200L)
        .containsEntry("url.full", "http://127.0.0.1:" + NGHTTPD_PORT + "/a.txt");
    assertThat(served.parentSpanId()).isEqualTo(client.spanId());
    assertThat(tracing.agent.pipelineStats().http2ParseFailures()).isEqualTo(failures);
    tracing.assertNoKernelDrops();
  }

  /** nghttp asks for /one and /two on one connection to the server on this port: four spans, linked pairwise. */
  private static List<ReceivedSpan> twoStreams(int port) throws Exception {
    PeerProcess server = servers.get(port - GOAWAY_PORT);
    PeerProcess.Ran nghttp = PeerProcess.runWithPid(tmp, NGHTTP, "-n", "-t", "3", "http://127.0.0.1:" + port + "/one",
        "http://127.0.0.1:" + port + "/two");
    List<ReceivedSpan> spans = tracing.awaitSpans(pids(nghttp.pid(), server), 4);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(4);
    for (String path : List.of("/one", "/two")) {
      ReceivedSpan client = span(spans, SpanKind.SPAN_KIND_CLIENT, path);
      assertThat(TracingAgent.pid(client)).isEqualTo(nghttp.pid());
      assertThat(span(spans, SpanKind.SPAN_KIND_SERVER, path).parentSpanId()).as("linked on this node")
          .isEqualTo(client.spanId());
      assertThat(client.attributes()).containsEntry("network.protocol.version", "2");
    }
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
    tracing.assertNoKernelDrops();
    return spans;
  }

  private static List<Long> pids(long client, PeerProcess server) {
    List<Long> pids = new ArrayList<>(server.pids());
    pids.add(client);
    return pids;
  }

  private static ReceivedSpan span(List<ReceivedSpan> spans, SpanKind kind, String path) {
    List<ReceivedSpan> found = spans.stream().filter(s -> s.kind() == kind && path.equals(s.urlPath())).toList();
    assertThat(found).as(kind + " " + path + " in" + TracingAgent.describe(spans)).hasSize(1);
    return found.getFirst();
  }
}
