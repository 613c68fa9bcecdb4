package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 streams of the JDK's HttpClient ({@link JvmHttp2Client}, h2c by {@code Upgrade}) that end
 * the hard ways: cancelled by the client before the response, or closed by it mid-body, through
 * nghttpx (traced on its frontend only) to a slow origin; refused by a server's GOAWAY, or cut by
 * a connection reset ({@code h2_abrupt_server.py}). Every stream is one linked pair of spans whose
 * error.type says how it ended.
 */
@Tag("kernel")
class JvmHttp2AbruptEndsTest {
  private static final int NGHTTPX_PORT = 18_621;
  /** The origin behind nghttpx; not traced. */
  private static final int ORIGIN_PORT = 18_622;
  private static final int GOAWAY_PORT = 18_623;
  private static final int RESET_PORT = 18_624;
  private static final String USER_AGENT = "Java-http-client/";

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess origin;
  private static PeerProcess nghttpx;
  private static PeerProcess goAwayServer;
  private static PeerProcess resetServer;

  @BeforeAll
  static void start() throws Exception {
    origin = PeerProcess.server(tmp, ORIGIN_PORT, PeerProcess.PYTHON, script("slow_origin.py"),
        Integer.toString(ORIGIN_PORT), arrived().toString());
    tracing = TracingAgent.tracingPorts(NGHTTPX_PORT, GOAWAY_PORT, RESET_PORT);
    // --conf=/dev/null: not the Debian sample configuration, which adds a frontend and syslog.
    nghttpx = PeerProcess.server(tmp, NGHTTPX_PORT, "/usr/sbin/nghttpx", "--conf=/dev/null",
        "--frontend=127.0.0.1," + NGHTTPX_PORT + ";no-tls", "--backend=127.0.0.1," + ORIGIN_PORT,
        "--workers=1", "--no-ocsp", "--errorlog-file=" + tmp.resolve("nghttpx-error.log"));
    String abrupt = script("h2_abrupt_server.py");
    goAwayServer = PeerProcess.server(tmp, GOAWAY_PORT, PeerProcess.PYTHON, abrupt, Integer.toString(GOAWAY_PORT),
        "goaway", "upgrade");
    resetServer = PeerProcess.server(tmp, RESET_PORT, PeerProcess.PYTHON, abrupt, Integer.toString(RESET_PORT),
        "reset", "upgrade");
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(resetServer, goAwayServer, nghttpx, origin, tracing);
  }

  /**
   * The client cancels its request while the origin sits on it: the JDK sends RST_STREAM(CANCEL)
   * and no response head ever came. After the upgraded /fast, the cancelled request is stream 3.
   */
  @Test
  void requestCancelledBeforeTheResponseIsCancelOnBothEnds() throws Exception {
    List<SpanPair> requests = run(nghttpx, 2, JvmHttp2Client.command("cancel", base(NGHTTPX_PORT), "/stall",
        arrived().toString()), "/fast 200 HTTP_2", "/stall cancelled");
    Http2SpanAssert.assertGet(request(requests, "/fast", null), "/fast", 200, NGHTTPX_PORT, USER_AGENT);
    Http2SpanAssert.assertCutShort(request(requests, "/stall", "CANCEL"), "/stall", null, "CANCEL", NGHTTPX_PORT,
        USER_AGENT);
  }

  /**
   * The client reads the first KiB of a 1 MiB body and closes it: the JDK resets the stream
   * (RST_STREAM(CANCEL)) after the 200 came; the spans keep the status and say the stream was cancelled.
   */
  @Test
  void bodyClosedMidStreamIsCancelAfterTheStatus() throws Exception {
    List<SpanPair> requests = run(nghttpx, 2, JvmHttp2Client.command("stop-reading", base(NGHTTPX_PORT),
        "/trickle", "1024"), "/fast 200 HTTP_2", "/trickle 200 HTTP_2 closed after 1024 bytes");
    Http2SpanAssert.assertGet(request(requests, "/fast", null), "/fast", 200, NGHTTPX_PORT, USER_AGENT);
    Http2SpanAssert.assertCutShort(request(requests, "/trickle", "CANCEL"), "/trickle", 200L, "CANCEL", NGHTTPX_PORT,
        USER_AGENT);
  }

  /**
   * The server answers the upgraded /one, then sends GOAWAY(last stream 1) with /two open on
   * stream 3: /two was refused on that connection, and the JDK sends it again on a new one (its
   * stream 1 there), where it is answered. Three requests, three pairs.
   */
  @Test
  void goAwayRefusesTheOpenStreamAndTheJdkRetriesItOnANewConnection() throws Exception {
    List<SpanPair> requests = run(goAwayServer, 3, JvmHttp2Client.command("get", base(GOAWAY_PORT), "/one", "/two"),
        "/one 200 HTTP_2", "/two 200 HTTP_2");
    SpanPair one = request(requests, "/one", null);
    SpanPair refused = request(requests, "/two", "GOAWAY");
    SpanPair retried = request(requests, "/two", null);
    Http2SpanAssert.assertGet(one, "/one", 200, GOAWAY_PORT, USER_AGENT);
    Http2SpanAssert.assertCutShort(refused, "/two", null, "GOAWAY", GOAWAY_PORT, USER_AGENT);
    Http2SpanAssert.assertGet(retried, "/two", 200, GOAWAY_PORT, USER_AGENT);
    assertThat(clientPort(refused)).as("refused on the first connection").isEqualTo(clientPort(one));
    assertThat(clientPort(retried)).as("retried on a second connection").isNotEqualTo(clientPort(one));
  }

  /** The server answers the upgraded /one, then resets the connection with /two open: the JDK does not retry it. */
  @Test
  void connectionResetMidStreamEndsTheOpenStream() throws Exception {
    List<SpanPair> requests = run(resetServer, 2, JvmHttp2Client.command("get", base(RESET_PORT), "/one", "/two"),
        "/one 200 HTTP_2", "/two IOException");
    Http2SpanAssert.assertGet(request(requests, "/one", null), "/one", 200, RESET_PORT, USER_AGENT);
    Http2SpanAssert.assertCutShort(request(requests, "/two", "connection_closed"), "/two", null, "connection_closed", RESET_PORT,
        USER_AGENT);
  }

  /**
   * Runs the client to completion; returns its {@code count} requests to {@code server}, each a
   * linked pair of spans, checked to leave no parent dangling.
   */
  private static List<SpanPair> run(PeerProcess server, int count, String[] client, String... expectedOutput)
      throws Exception {
    PeerProcess.Ran jvm = PeerProcess.runWithPid(tmp, client);
    assertThat(jvm.output().strip().lines().toList()).as("what the client printed").containsExactly(expectedOutput);
    List<Long> pids = new ArrayList<>(server.pids());
    pids.add(jvm.pid());
    List<ReceivedSpan> spans = tracing.awaitSpans(pids, 2 * count);
    List<SpanPair> requests = SpanPair.all(spans, jvm.pid(), server.pids(), count);
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
    tracing.assertNoKernelDrops();
    return requests;
  }

  /** The one request for {@code path} whose client span has this error.type (null: none). */
  private static SpanPair request(List<SpanPair> requests, String path, @Nullable String error) {
    List<SpanPair> found = requests.stream()
        .filter(r -> path.equals(r.client().urlPath()))
        .filter(r -> Objects.equals(error, r.client().attributes().get("error.type")))
        .toList();
    assertThat(found).as(path + " ending with " + error + " among " + requests).hasSize(1);
    return found.getFirst();
  }

  private static Object clientPort(SpanPair request) {
    return request.server().attributes().get("client.port");
  }

  private static String base(int port) {
    return "http://127.0.0.1:" + port;
  }

  /** The file the origin creates when /stall came. */
  private static Path arrived() {
    return tmp.resolve("stall-arrived");
  }

  private static String script(String name) throws Exception {
    return Path.of(JvmHttp2AbruptEndsTest.class.getResource(name).toURI()).toString();
  }
}
