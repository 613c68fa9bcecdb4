package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients -> nginx (master + one worker) serving static files with sendfile, traced from the kernel.
 * nginx writes response heads with writev, bodies with sendfile (counted, never captured), and reads
 * pipelined requests from one buffer: each must still be one span.
 */
@Tag("kernel")
class NginxTest {
  private static final int PORT = 18_301;
  private static final String BASE = "http://127.0.0.1:" + PORT;
  private static final int MIB = 1 << 20;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess nginx;

  @BeforeAll
  static void start() throws Exception {
    Path site = Files.createDirectories(tmp.resolve("site"));
    Files.writeString(site.resolve("a.txt"), "first file\n");
    Files.writeString(site.resolve("b.html"), "<p>second file</p>\n");
    Files.writeString(site.resolve("c.json"), "{\"third\": \"file\"}\n");
    byte[] big = new byte[MIB];
    new Random(42).nextBytes(big); // random bytes: nothing in the body looks like HTTP
    Files.write(site.resolve("big.bin"), big);
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
          sendfile on;
          keepalive_timeout 30;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d;
            root %1$s/site;
            location = /ok { return 200 "ok\\n"; }
          }
        }
        """.formatted(tmp, PORT));
    tracing = TracingAgent.tracingPorts(PORT);
    nginx = PeerProcess.server(tmp, PORT, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c", conf.toString(),
        "-p", tmp.toString());
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    if (nginx != null) {
      nginx.close();
    }
    if (tracing != null) {
      tracing.close();
    }
  }

  @Test
  void threeRequestsOnOneKeepAliveConnectionAreThreeSpansPerSide() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS",
        "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\\n",
        BASE + "/a.txt", BASE + "/b.html", BASE + "/c.json");
    // curl reuses the connection: one connect for the first transfer, none for the others.
    assertThat(curl.output().lines().toList()).containsExactly("1", "0", "0");

    List<ReceivedSpan> spans = tracing.awaitSpans(pids(curl.pid()), 6);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isIn(nginx.pids()));
    assertThat(clients).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(curl.pid()));

    for (List<ReceivedSpan> side : List.of(servers, clients)) {
      assertThat(side).as(TracingAgent.describe(spans))
          .extracting(ReceivedSpan::urlPath)
          .containsExactly("/a.txt", "/b.html", "/c.json");
      assertThat(side).allSatisfy(s -> {
        assertThat(s.name()).isEqualTo("GET");
        assertThat(s.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
        assertThat(s.attributes())
            .containsEntry("http.request.method", "GET")
            .containsEntry("http.response.status_code", 200L)
            .containsEntry("server.port", (long) PORT)
            .containsEntry("network.protocol.version", "1.1");
      });
    }
    // One connection: nginx saw every request come from the same client port, curl's local port.
    Object clientPort = servers.getFirst().attributes().get("network.peer.port");
    assertThat(clientPort).isNotEqualTo((long) PORT);
    assertThat(servers).allSatisfy(s -> assertThat(s.attributes())
        .containsEntry("network.peer.port", clientPort)
        .containsEntry("client.port", clientPort));
    assertThat(clients).allSatisfy(s -> assertThat(s.attributes()).containsEntry("network.peer.port", (long) PORT));
    assertThat(clients).extracting(s -> s.attributes().get("url.full"))
        .containsExactly(BASE + "/a.txt", BASE + "/b.html", BASE + "/c.json");
    for (int i = 0; i < 3; i++) {
      // Sequential requests: each server span lies inside its client span, and ends before the next begins.
      assertThat(clients.get(i).startEpochNanos()).isLessThanOrEqualTo(servers.get(i).startEpochNanos());
      assertThat(clients.get(i).endEpochNanos())
          .isGreaterThanOrEqualTo(servers.get(i).endEpochNanos() - WriteExitRace.NANOS);
      if (i > 0) {
        assertThat(servers.get(i).startEpochNanos()).isGreaterThanOrEqualTo(servers.get(i - 1).endEpochNanos());
      }
    }
    tracing.assertNoKernelDrops();
  }

  @Test
  void mebibyteFileSentWithSendfileIsOneSpan() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-o", "/dev/null",
        "-w", "%{http_code} %{size_download}\\n", BASE + "/big.bin");
    assertThat(curl.output().strip()).isEqualTo("200 " + MIB);

    List<ReceivedSpan> spans = tracing.awaitSpans(pids(curl.pid()), 2);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(1);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(1);
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/big.bin");
      assertThat(s.attributes())
          .containsEntry("http.request.method", "GET")
          .containsEntry("http.response.status_code", 200L);
    });
    assertThat(TracingAgent.pid(servers.getFirst())).isIn(nginx.pids());
    tracing.assertNoKernelDrops();
  }

  @Test
  void pipelinedRequestsSentInOneWriteAreOneSpanEach() throws Exception {
    // Three complete requests in one sendall; the last asks nginx to close, so reading to EOF ends it.
    Path script = tmp.resolve("pipeline.py");
    Files.writeString(script, """
        import socket, sys
        port = int(sys.argv[1])
        def get(path, close=False):
            return ("GET %s HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n%s\\r\\n"
                    % (path, port, "Connection: close\\r\\n" if close else "")).encode()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(get("/a.txt") + get("/ok") + get("/c.json", close=True))
        received = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            received += data
        s.close()
        print(received.count(b"HTTP/1.1 200 OK\\r\\n"))
        """);
    PeerProcess.Ran python = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script.toString(),
        Integer.toString(PORT));
    assertThat(python.output().strip()).as("responses the client read").isEqualTo("3");

    List<ReceivedSpan> spans = tracing.awaitSpans(pids(python.pid()), 6);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(3);
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isIn(nginx.pids()));
    assertThat(clients).allSatisfy(s -> assertThat(TracingAgent.pid(s)).isEqualTo(python.pid()));
    for (List<ReceivedSpan> side : List.of(servers, clients)) {
      assertThat(side).as(TracingAgent.describe(spans))
          .extracting(ReceivedSpan::urlPath)
          .containsExactly("/a.txt", "/ok", "/c.json");
      assertThat(side).allSatisfy(s -> assertThat(s.attributes())
          .containsEntry("http.response.status_code", 200L)
          .containsEntry("http.request.method", "GET"));
    }
    // One connection on the server side.
    assertThat(servers).extracting(s -> s.attributes().get("network.peer.port")).containsOnly(
        servers.getFirst().attributes().get("network.peer.port"));
    // Every request arrived in the same read, so the server spans start together and end in order.
    assertThat(servers).extracting(ReceivedSpan::startEpochNanos).containsOnly(servers.getFirst().startEpochNanos());
    assertThat(servers.get(1).endEpochNanos()).isGreaterThanOrEqualTo(servers.get(0).endEpochNanos());
    assertThat(servers.get(2).endEpochNanos()).isGreaterThanOrEqualTo(servers.get(1).endEpochNanos());
    tracing.assertNoKernelDrops();
  }

  @Test
  void missingFileIsAnErrorForTheClientOnly() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-o", "/dev/null",
        "-w", "%{http_code}\\n", BASE + "/no/such/file.txt");
    assertThat(curl.output().strip()).isEqualTo("404");

    List<ReceivedSpan> spans = tracing.awaitSpans(pids(curl.pid()), 2);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(1);
    assertThat(clients).as(TracingAgent.describe(spans)).hasSize(1);
    ReceivedSpan server = servers.getFirst();
    ReceivedSpan client = clients.getFirst();
    assertThat(server.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
    assertThat(server.attributes())
        .containsEntry("url.path", "/no/such/file.txt")
        .containsEntry("http.response.status_code", 404L)
        .doesNotContainKey("error.type");
    assertThat(client.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(client.attributes())
        .containsEntry("url.full", BASE + "/no/such/file.txt")
        .containsEntry("http.response.status_code", 404L)
        .containsEntry("error.type", "404")
        .doesNotContainKeys("url.path", "url.query");
  }

  /** nginx's master and worker (the worker serves; it may be forked after the port listens), and the client. */
  private static List<Long> pids(long client) {
    List<Long> pids = new ArrayList<>(nginx.pids());
    pids.add(client);
    return pids;
  }

  /**
   * In the order they began: spans reach the receiver in the order their batches were answered,
   * and two exports may be in flight (in the 6.1 VM one run's came as a, c, b).
   */
  private static List<ReceivedSpan> ofKind(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind)
        .sorted(Comparator.comparingLong(ReceivedSpan::startEpochNanos)).toList();
  }
}
