package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A separate JVM using {@code java.net.http.HttpClient} (NIO socket channels, HTTP/1.1) calling
 * python servers, traced from the kernel: the JVM's spans carry its own pid.
 */
@Tag("kernel")
class JvmHttpClientTest {
  private static final int FILE_PORT = 18_311;
  private static final int UPLOAD_PORT = 18_312;
  private static final String JAVA = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java";
  private static final int UPLOAD_BYTES = 20 * 1024;

  /** Sends N requests (GET, or POST of a body of the given size), one at a time; prints each status. */
  private static final String CLIENT = """
      import java.net.URI;
      import java.net.http.HttpClient;
      import java.net.http.HttpRequest;
      import java.net.http.HttpResponse;

      public class Client {
        public static void main(String[] args) throws Exception {
          URI uri = URI.create(args[0]);
          int n = Integer.parseInt(args[1]);
          int bodyBytes = args.length > 2 ? Integer.parseInt(args[2]) : -1;
          try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            for (int i = 0; i < n; i++) {
              HttpRequest.Builder request = HttpRequest.newBuilder(uri);
              if (bodyBytes >= 0) {
                request.POST(HttpRequest.BodyPublishers.ofString("x".repeat(bodyBytes)));
              }
              HttpResponse<byte[]> response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
              System.out.println(response.statusCode() + " " + response.body().length);
            }
          }
        }
      }
      """;

  /** Reads exactly Content-Length bytes of a POST and answers 201 with how many it read. */
  private static final String UPLOAD_SERVER = """
      import sys
      from http.server import BaseHTTPRequestHandler, HTTPServer

      class Upload(BaseHTTPRequestHandler):
          def do_POST(self):
              body = self.rfile.read(int(self.headers["Content-Length"]))
              answer = b"got %d bytes\\n" % len(body)
              self.send_response(201)
              self.send_header("Content-Type", "text/plain")
              self.send_header("Content-Length", str(len(answer)))
              self.end_headers()
              self.wfile.write(answer)

          def log_message(self, *args):
              pass

      HTTPServer(("127.0.0.1", int(sys.argv[1])), Upload).serve_forever()
      """;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess fileServer;
  private static PeerProcess uploadServer;

  @BeforeAll
  static void start() throws Exception {
    Path site = Files.createDirectories(tmp.resolve("site"));
    Files.writeString(site.resolve("index.txt"), "served to a JVM\n");
    Files.writeString(tmp.resolve("Client.java"), CLIENT);
    Files.writeString(tmp.resolve("upload.py"), UPLOAD_SERVER);
    tracing = TracingAgent.tracingPorts(FILE_PORT, UPLOAD_PORT);
    fileServer = PeerProcess.server(site, FILE_PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(FILE_PORT));
    uploadServer = PeerProcess.server(tmp, UPLOAD_PORT, PeerProcess.PYTHON, tmp.resolve("upload.py").toString(),
        Integer.toString(UPLOAD_PORT));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(uploadServer, fileServer, tracing);
  }

  @Test
  void threeGetsFromAnotherJvmAreThreeClientAndThreeServerSpans() throws Exception {
    PeerProcess.Ran jvm = PeerProcess.runWithPid(tmp, JAVA, "Client.java",
        "http://127.0.0.1:" + FILE_PORT + "/index.txt", "3");
    assertThat(jvm.output().lines().toList()).containsExactly("200 16", "200 16", "200 16");

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(jvm.pid(), fileServer.pid()), 6);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(clients).allSatisfy(s -> assertThat(s.resourceAttributes()).containsEntry("process.pid", jvm.pid()));
    assertThat(servers).allSatisfy(s -> assertThat(s.resourceAttributes())
        .containsEntry("process.pid", fileServer.pid()));
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.name()).isEqualTo("GET");
      assertThat(s.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/index.txt");
      assertThat(s.attributes())
          .containsEntry("http.request.method", "GET")
          .containsEntry("http.response.status_code", 200L)
          .containsEntry("server.port", (long) FILE_PORT)
          .containsEntry("network.protocol.version", "1.1");
    });
    // The JDK client names itself in User-Agent; both ends saw the same header.
    assertThat(spans).allSatisfy(s -> assertThat((String) s.attributes().get("user_agent.original"))
        .startsWith("Java-http-client/"));
    assertThat(clients).allSatisfy(s -> assertThat(s.attributes())
        .containsEntry("network.peer.port", (long) FILE_PORT)
        .containsEntry("url.full", "http://127.0.0.1:" + FILE_PORT + "/index.txt"));
    tracing.assertNoKernelDrops();
  }

  @Test
  void postWithA20KibBodyIsOneSpanPerSideWithStatus201() throws Exception {
    PeerProcess.Ran jvm = PeerProcess.runWithPid(tmp, JAVA, "Client.java",
        "http://127.0.0.1:" + UPLOAD_PORT + "/upload", "1", Integer.toString(UPLOAD_BYTES));
    assertThat(jvm.output().strip()).isEqualTo("201 " + ("got " + UPLOAD_BYTES + " bytes\n").length());

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(jvm.pid(), uploadServer.pid()), 2);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(1);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(1);
    assertThat(clients.getFirst().resourceAttributes()).containsEntry("process.pid", jvm.pid());
    assertThat(servers.getFirst().resourceAttributes()).containsEntry("process.pid", uploadServer.pid());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.name()).isEqualTo("POST");
      assertThat(s.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/upload");
      assertThat(s.attributes())
          .containsEntry("http.request.method", "POST")
          .containsEntry("http.response.status_code", 201L)
          .containsEntry("server.port", (long) UPLOAD_PORT);
    });
    ReceivedSpan client = clients.getFirst();
    ReceivedSpan server = servers.getFirst();
    assertThat(client.attributes()).containsEntry("url.full", "http://127.0.0.1:" + UPLOAD_PORT + "/upload");
    assertThat(client.startEpochNanos()).isLessThanOrEqualTo(server.startEpochNanos());
    assertThat(client.endEpochNanos()).isGreaterThanOrEqualTo(server.endEpochNanos() - WriteExitRace.NANOS);
    tracing.assertNoKernelDrops();
  }

  private static List<ReceivedSpan> ofKind(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).toList();
  }
}
