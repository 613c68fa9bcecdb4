package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.ReceivedSpan;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gRPC connection (python grpcio on both ends) that made its first call before the agent started,
 * then more calls on the same connection once it runs.
 *
 * <p>gRPC C-core's HPACK encoder adds {@code :path}, {@code :authority}, {@code content-type},
 * {@code user-agent} and the response's {@code content-type} and {@code grpc-status} to its dynamic
 * table on first use and sends them as bare indices afterwards. The agent never saw that first call,
 * so on the later calls of the same method those fields are unknowable: the spans must still come,
 * marked {@code periscope.http2.headers_incomplete}, named only by what decodes ({@code :method}
 * POST is in the static table), never by a guess and never from another connection's table. A method
 * first called after the agent started has its {@code :path} as a literal, which does decode.
 */
@Tag("kernel")
class GrpcPreopenedConnectionTest {
  private static final int PORT = 19_050;
  /** Calls of Unary after the agent started; the first one (before) taught the peers' tables its :path. */
  private static final int REPEATED_CALLS = 3;
  private static final String HEADERS_INCOMPLETE = "periscope.http2.headers_incomplete";

  @TempDir
  Path tmp;
  private PeerProcess server;
  private Process client;
  private TracingAgent tracing;

  @AfterEach
  void stop() {
    if (client != null) {
      client.destroyForcibly();
    }
    PeerProcess.closeAll(server, tracing);
  }

  @Test
  void callsOnAConnectionOpenedBeforeTheAgentAreSpannedAndNeverMisnamed() throws Exception {
    String script = Path.of(getClass().getResource("grpc_echo.py").toURI()).toString();
    server = PeerProcess.server(tmp, PORT, PeerProcess.PYTHON, script, "server", Integer.toString(PORT));
    client = new ProcessBuilder(PeerProcess.PYTHON, script, "preopened", Integer.toString(PORT),
        Integer.toString(REPEATED_CALLS)).redirectErrorStream(true).start();
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread.ofVirtual().start(() -> {
      try (BufferedReader out = client.inputReader()) {
        out.lines().forEach(lines::add);
      } catch (IOException ignored) {
        // the client went away
      }
    });
    String before = nextLine(lines);
    assertThat(before).as("the call made before the agent started").startsWith("before OK ipv4:127.0.0.1:");
    String connection = before.substring("before OK ".length());

    tracing = TracingAgent.tracingPorts(PORT);
    // A new connection's table, built while the agent watches, holds ServerStream's :path where the
    // old one holds Unary's: a decoder shared between connections would name the later calls ServerStream.
    PeerProcess.Ran fresh = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script, "client", Integer.toString(PORT),
        "server_stream", "server_stream");
    assertThat(fresh.output().lines().toList()).containsExactly("OK 5", "OK 5");
    List<SpanPair> freshCalls = SpanPair.all(tracing.awaitSpans(List.of(fresh.pid(), server.pid()), 4), fresh.pid(),
        List.of(server.pid()), 2);
    for (SpanPair call : freshCalls) {
      GrpcSpanAssert.assertCall(call, "demo.Echo", "ServerStream", PORT, 0, null);
    }
    tracing.receiver.clear();

    try (Writer stdin = client.outputWriter()) {
      stdin.write("go\n");
    }
    List<String> after = new ArrayList<>();
    for (int i = 0; i <= REPEATED_CALLS; i++) {
      after.add(nextLine(lines));
    }
    assertThat(client.waitFor(15, TimeUnit.SECONDS)).as("the client finished").isTrue();
    // Every call answered with the address the server saw: one connection, opened before the agent.
    assertThat(after).as("what the client printed after the agent started")
        .containsOnly("after OK " + connection);

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 2 * (REPEATED_CALLS + 1));
    List<SpanPair> calls = SpanPair.all(spans, client.pid(), List.of(server.pid()), REPEATED_CALLS + 1).stream()
        .sorted(Comparator.comparingLong(p -> p.client().startEpochNanos()))
        .toList();
    for (int i = 0; i < REPEATED_CALLS; i++) {
      for (ReceivedSpan span : calls.get(i).both()) {
        // :path is an index into a dynamic-table entry made before the agent started: it cannot be known.
        assertThat(span.name()).as(span.toString()).isEqualTo("POST");
        assertThat(span.attributes()).as(span.toString())
            .containsEntry(HEADERS_INCOMPLETE, true)
            .containsEntry("http.request.method", "POST")
            .containsEntry("network.protocol.version", "2")
            .doesNotContainKeys("url.path", "url.query", "rpc.method", "rpc.service");
        // A CLIENT span names its path in url.full: with :path unknown it must not name one either
        // (no url.full, rather than a guessed "/").
        assertThat(span.urlPath()).as(span.toString()).isNull();
      }
    }
    // Second's :path was sent as a literal (first use on the connection); its content-type was not.
    for (ReceivedSpan span : calls.get(REPEATED_CALLS).both()) {
      assertThat(span.attributes()).as(span.toString()).containsEntry(HEADERS_INCOMPLETE, true);
      if (span.attributes().containsKey("rpc.system")) {
        assertThat(span.name()).as(span.toString()).isEqualTo("demo.Echo/Second");
        assertThat(span.attributes()).containsEntry("rpc.method", "Second");
      } else {
        assertThat(span.name()).as(span.toString()).isEqualTo("POST");
        assertThat(span.urlPath()).as(span.toString()).isEqualTo("/demo.Echo/Second");
      }
    }
    assertThat(tracing.agent.pipelineStats().http2ParseFailures()).as("HTTP/2 parse failures").isZero();
    tracing.assertNoKernelDrops();
  }

  private String nextLine(BlockingQueue<String> lines) throws InterruptedException {
    String line = lines.poll(15, TimeUnit.SECONDS);
    if (line == null) {
      throw new AssertionError("the client printed nothing more within 15 s (alive: " + client.isAlive() + ")");
    }
    return line;
  }
}
