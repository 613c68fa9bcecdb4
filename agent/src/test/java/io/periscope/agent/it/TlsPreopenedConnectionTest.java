package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.bpf.GoPrograms;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS connections opened, and used, before the agent started: their next requests are traced
 * once it runs. A Go client (crypto/tls: the socket is the tls.Conn's own) and a python client
 * (OpenSSL: the socket the SSL call's syscall uses), both keeping one HTTP/1.1 connection to a Go
 * server. Not linked into one trace across the two processes: where each end's plaintext began
 * cannot be known.
 *
 * <p>A Go program's reader goroutine waits inside {@code (*tls.Conn).Read} between requests, so
 * on each Go end the first read after the agent attached is not seen (the server's first request,
 * the Go client's first response): that exchange is lost, and must not be mispaired. The Go
 * client's first request after the start is a 404 and its later ones 200s: its next 200 paired
 * with the 404's request would show.
 */
@Tag("kernel")
class TlsPreopenedConnectionTest {
  private static final int PORT = 18_448;
  private static final int CALLS_AFTER = 3;

  @TempDir
  Path tmp;
  private PeerProcess server;
  private Process goClient;
  private Process pythonClient;
  private TracingAgent tracing;

  @AfterEach
  void stop() {
    for (Process p : new Process[] {goClient, pythonClient}) {
      if (p != null) {
        p.destroyForcibly();
      }
    }
    PeerProcess.closeAll(server, tracing);
  }

  @Test
  void requestsOnConnectionsOpenedBeforeTheAgentAreTraced() throws Exception {
    HttpsExchanges.makeCertificate(tmp);
    Path peer = GoPrograms.build("https_peer.go", tmp);
    server = PeerProcess.server(tmp, PORT, peer.toString(), "serve", "127.0.0.1:" + PORT,
        tmp.resolve("cert.pem").toString(), tmp.resolve("key.pem").toString(), "h1");
    Path python = tmp.resolve("preopened.py");
    Files.writeString(python, """
        import http.client, ssl, sys
        connection = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]),
                                                 context=ssl._create_unverified_context())
        def call():
            connection.request("GET", "/preopened", headers={"Authorization": "Bearer go-tls-secret"})
            response = connection.getresponse()
            response.read()
            print(response.status, connection.sock.getsockname()[1], flush=True)
        call()
        sys.stdin.readline()
        for _ in range(int(sys.argv[2])):
            call()
        """);
    goClient = new ProcessBuilder(peer.toString(), "preopened", "https://127.0.0.1:" + PORT + "/preopened",
        Integer.toString(CALLS_AFTER)).redirectErrorStream(true).start();
    pythonClient = new ProcessBuilder(PeerProcess.PYTHON, python.toString(), Integer.toString(PORT),
        Integer.toString(CALLS_AFTER)).redirectErrorStream(true).start();
    BlockingQueue<String> goLines = lines(goClient);
    BlockingQueue<String> pythonLines = lines(pythonClient);
    assertThat(nextLine(goLines, goClient)).isEqualTo("HTTP/1.1 200 28");
    String pythonBefore = nextLine(pythonLines, pythonClient);
    assertThat(pythonBefore).startsWith("200 ");

    tracing = TracingAgent.tracingPorts(PORT);
    for (Process client : new Process[] {goClient, pythonClient}) {
      try (Writer stdin = client.outputWriter()) {
        stdin.write("go\n");
      }
    }
    assertThat(nextLine(goLines, goClient)).as("on the connection opened before").isEqualTo("HTTP/1.1 404 19 reused");
    for (int i = 2; i <= CALLS_AFTER; i++) {
      assertThat(nextLine(goLines, goClient)).as("on the connection opened before").isEqualTo("HTTP/1.1 200 28 reused");
    }
    for (int i = 1; i <= CALLS_AFTER; i++) {
      assertThat(nextLine(pythonLines, pythonClient)).as("on the connection opened before").isEqualTo(pythonBefore);
    }
    assertThat(goClient.waitFor(15, TimeUnit.SECONDS) && pythonClient.waitFor(15, TimeUnit.SECONDS)).isTrue();

    // python: every request; each Go end: all but the first (its read was waiting when the agent attached).
    int expected = CALLS_AFTER + (CALLS_AFTER - 1) + 2 * (CALLS_AFTER - 1);
    List<Long> pids = List.of(goClient.pid(), pythonClient.pid(), server.pid());
    List<ReceivedSpan> spans = tracing.awaitSpans(pids, expected);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(expected);
    assertThat(spans).filteredOn(s -> TracingAgent.pid(s) == pythonClient.pid()).hasSize(CALLS_AFTER)
        .allSatisfy(s -> assertThat(s.urlPath()).as(s.toString()).isEqualTo("/preopened"));
    assertThat(spans).filteredOn(s -> TracingAgent.pid(s) == goClient.pid())
        .extracting(ReceivedSpan::urlPath).containsExactlyInAnyOrder("/preopened/2", "/preopened/3");
    assertThat(spans).filteredOn(s -> TracingAgent.pid(s) == server.pid())
        .extracting(s -> s.attributes().get("url.path"))
        .containsExactlyInAnyOrder("/preopened", "/preopened", "/preopened/2", "/preopened/3");
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.kind()).isEqualTo(TracingAgent.pid(s) == server.pid() ? SpanKind.SPAN_KIND_SERVER
          : SpanKind.SPAN_KIND_CLIENT);
      assertThat(s.name()).isEqualTo("GET");
      assertThat(s.attributes())
          .containsEntry("url.scheme", "https")
          .containsEntry("http.response.status_code", 200L);
      assertThat(s.attributes().toString()).doesNotContain("go-tls-secret");
    });
    tracing.assertLogsKeep("go-tls-secret");
    tracing.assertNoKernelDrops();
  }

  private static BlockingQueue<String> lines(Process process) {
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread.ofVirtual().start(() -> {
      try (BufferedReader out = process.inputReader()) {
        out.lines().forEach(lines::add);
      } catch (IOException ignored) {
        // the client went away
      }
    });
    return lines;
  }

  private static String nextLine(BlockingQueue<String> lines, Process process) throws InterruptedException {
    String line = lines.poll(15, TimeUnit.SECONDS);
    if (line == null) {
      throw new AssertionError("the client printed nothing more within 15 s (alive: " + process.isAlive() + ")");
    }
    return line;
  }
}
