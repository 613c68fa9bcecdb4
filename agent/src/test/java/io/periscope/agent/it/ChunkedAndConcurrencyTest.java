package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chunked response bodies far larger than one capture, and many keep-alive connections of one
 * client process in flight at once: every span must pair a request with its own connection's answer.
 */
@Tag("kernel")
class ChunkedAndConcurrencyTest {
  private static final int CHUNKED_PORT = 18_321;
  private static final int CONCURRENT_PORT = 18_322;
  private static final int THREADS = 8;
  private static final int REQUESTS_PER_THREAD = 6;
  private static final Pattern PATH = Pattern.compile("/c(\\d+)/r(\\d+)");

  /**
   * HTTP/1.1 keep-alive; /chunked answers in chunks (one of 100 KiB) the way servers usually write
   * them: size line, data and CRLF in one write. /small-chunks streams 200 chunks of 1000 bytes, one
   * write each, which a client reads many at a time. Any other path gets a small Content-Length body.
   */
  private static final String CHUNKED_SERVER = """
      import sys
      from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

      CHUNKS = [b"first chunk\\n", bytes(i % 251 for i in range(100 * 1024)), b"x" * 3000, b"last chunk\\n"]

      class Chunked(BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"

          def do_GET(self):
              self.send_response(200)
              if self.path == "/chunked":
                  self.send_header("Transfer-Encoding", "chunked")
                  self.end_headers()
                  for chunk in CHUNKS:
                      self.wfile.write(b"%x\\r\\n" % len(chunk) + chunk + b"\\r\\n")
                  self.wfile.write(b"0\\r\\n\\r\\n")
              elif self.path == "/small-chunks":
                  self.send_header("Transfer-Encoding", "chunked")
                  self.end_headers()
                  for i in range(200):
                      self.wfile.write(b"3e8\\r\\n" + b"%03d" % i + b"z" * 997 + b"\\r\\n")
                  self.wfile.write(b"0\\r\\n\\r\\n")
              else:
                  body = b"plain\\n"
                  self.send_header("Content-Length", str(len(body)))
                  self.end_headers()
                  self.wfile.write(body)

          def log_message(self, *args):
              pass

      ThreadingHTTPServer.daemon_threads = True
      ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Chunked).serve_forever()
      """;

  /** HTTP/1.1 keep-alive; /c{i}/r{j} answers 200 + i % 8, with a small body where the status allows one. */
  private static final String STATUS_SERVER = """
      import re, sys
      from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

      class Status(BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"

          def do_GET(self):
              i, j = map(int, re.fullmatch(r"/c(\\d+)/r(\\d+)", self.path).groups())
              status = 200 + i % 8
              self.send_response(status)
              if status == 204:  # no content, and no Content-Length (RFC 9110 8.6)
                  self.end_headers()
                  return
              body = b"" if status == 205 else b"connection %d request %d\\n" % (i, j)
              self.send_header("Content-Length", str(len(body)))
              self.end_headers()
              self.wfile.write(body)

          def log_message(self, *args):
              pass

      ThreadingHTTPServer.daemon_threads = True
      ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Status).serve_forever()
      """;

  /** N threads, each with its own keep-alive connection, start together and make M requests each. */
  private static final String CONCURRENT_CLIENT = """
      import http.client, sys, threading
      port, threads, requests = map(int, sys.argv[1:4])
      start = threading.Barrier(threads)
      failures = []

      def run(i):
          conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
          conn.connect()
          start.wait()
          for j in range(requests):
              conn.request("GET", "/c%d/r%d" % (i, j))
              response = conn.getresponse()
              body = response.read()
              if response.status != 200 + i % 8 or response.will_close:
                  failures.append("c%d r%d: %d" % (i, j, response.status))
          conn.close()

      workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
      for w in workers:
          w.start()
      for w in workers:
          w.join()
      if failures:
          sys.exit("failures: %s" % failures)
      print("done")
      """;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess chunkedServer;
  private static PeerProcess statusServer;

  @BeforeAll
  static void start() throws Exception {
    Files.writeString(tmp.resolve("chunked.py"), CHUNKED_SERVER);
    Files.writeString(tmp.resolve("status.py"), STATUS_SERVER);
    Files.writeString(tmp.resolve("client.py"), CONCURRENT_CLIENT);
    tracing = TracingAgent.tracingPorts(CHUNKED_PORT, CONCURRENT_PORT);
    chunkedServer = PeerProcess.server(tmp, CHUNKED_PORT, PeerProcess.PYTHON, tmp.resolve("chunked.py").toString(),
        Integer.toString(CHUNKED_PORT));
    statusServer = PeerProcess.server(tmp, CONCURRENT_PORT, PeerProcess.PYTHON, tmp.resolve("status.py").toString(),
        Integer.toString(CONCURRENT_PORT));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(statusServer, chunkedServer, tracing);
  }

  @Test
  void chunkedResponseWithA100KibChunkIsOneSpanPerSideAndTheConnectionStaysParseable() throws Exception {
    String base = "http://127.0.0.1:" + CHUNKED_PORT;
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-o", "/dev/null", "-o", "/dev/null",
        "-w", "%{http_code} %{size_download} %{num_connects}\\n", base + "/chunked", base + "/after");
    int bodyBytes = 12 + 100 * 1024 + 3000 + 11;
    assertThat(curl.output().lines().toList()).containsExactly("200 " + bodyBytes + " 1", "200 6 0");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(curl.pid(), chunkedServer.pid()), 4);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(chunkedServer.pid()));
    assertThat(clients).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(curl.pid()));
    for (List<ReceivedSpan> side : List.of(servers, clients)) {
      assertThat(side).as(TracingAgent.describe(spans))
          .extracting(ReceivedSpan::urlPath)
          .containsExactly("/chunked", "/after");
      assertThat(side).allSatisfy(s -> {
        assertThat(s.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
        assertThat(s.attributes())
            .containsEntry("http.request.method", "GET")
            .containsEntry("http.response.status_code", 200L);
      });
    }
    assertThat(clients).as("the URLs curl asked for").extracting(s -> s.attributes().get("url.full"))
        .containsExactly(base + "/chunked", base + "/after");
    tracing.assertNoKernelDrops();
  }

  @Test
  void manySmallChunksReadManyAtATimeAreOneSpanPerSide() throws Exception {
    String base = "http://127.0.0.1:" + CHUNKED_PORT;
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-o", "/dev/null", "-o", "/dev/null",
        "-w", "%{http_code} %{size_download} %{num_connects}\\n", base + "/small-chunks", base + "/after");
    assertThat(curl.output().lines().toList()).containsExactly("200 200000 1", "200 6 0");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(curl.pid(), chunkedServer.pid()), 4);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(chunkedServer.pid()));
    assertThat(clients).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(curl.pid()));
    for (List<ReceivedSpan> side : List.of(servers, clients)) {
      assertThat(side).as(TracingAgent.describe(spans))
          .extracting(ReceivedSpan::urlPath)
          .containsExactly("/small-chunks", "/after");
      assertThat(side).allSatisfy(s -> assertThat(s.attributes()).containsEntry("http.response.status_code", 200L));
    }
    tracing.assertNoKernelDrops();
  }

  @Test
  void concurrentKeepAliveConnectionsPairEachRequestWithItsOwnResponse() throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, tmp.resolve("client.py").toString(),
        Integer.toString(CONCURRENT_PORT), Integer.toString(THREADS), Integer.toString(REQUESTS_PER_THREAD));
    assertThat(client.output().strip()).isEqualTo("done");

    int total = THREADS * REQUESTS_PER_THREAD;
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), statusServer.pid()), 2 * total);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(total);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(total);
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(statusServer.pid()));
    assertThat(clients).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(client.pid()));

    Set<String> expectedPaths = new HashSet<>();
    for (int i = 0; i < THREADS; i++) {
      for (int j = 0; j < REQUESTS_PER_THREAD; j++) {
        expectedPaths.add("/c" + i + "/r" + j);
      }
    }
    for (List<ReceivedSpan> side : List.of(servers, clients)) {
      assertThat(side).as("paths, each once").extracting(ReceivedSpan::urlPath)
          .containsExactlyInAnyOrderElementsOf(expectedPaths);
      // A span paired with another connection's response would carry another connection's status.
      for (ReceivedSpan span : side) {
        assertThat(span.attributes().get("http.response.status_code"))
            .as("status of %s %s", span.kind(), span.attributes())
            .isEqualTo(200L + connection(span) % 8);
        assertThat(span.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
      }
    }
    // Each client thread had its own connection: one client port and one thread per connection, on both sides.
    assertPerConnection(servers, "network.peer.port");
    assertPerConnection(servers, "thread.id");
    assertPerConnection(clients, "thread.id");
    tracing.assertNoKernelDrops();
  }

  /** Every span of connection i has the same value of the attribute, and no two connections share one. */
  private static void assertPerConnection(List<ReceivedSpan> spans, String attribute) {
    Map<Integer, Set<Object>> byConnection = spans.stream().collect(Collectors.groupingBy(
        ChunkedAndConcurrencyTest::connection,
        Collectors.mapping(s -> s.attributes().get(attribute), Collectors.toSet())));
    assertThat(byConnection).as(attribute + " by connection").hasSize(THREADS)
        .allSatisfy((connection, values) -> assertThat(values).doesNotContainNull().hasSize(1));
    List<Object> values = new ArrayList<>();
    byConnection.values().forEach(values::addAll);
    assertThat(values).as(attribute + " of the connections").doesNotHaveDuplicates();
  }

  private static int connection(ReceivedSpan span) {
    Matcher m = PATH.matcher(String.valueOf(span.urlPath()));
    assertThat(m.matches()).as("path of " + span.attributes()).isTrue();
    return Integer.parseInt(m.group(1));
  }

  /** In the order they began: batches may reach the receiver in either order (two exports in flight). */
  private static List<ReceivedSpan> ofKind(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind)
        .sorted((a, b) -> Long.compare(a.startEpochNanos(), b.startEpochNanos())).toList();
  }
}
