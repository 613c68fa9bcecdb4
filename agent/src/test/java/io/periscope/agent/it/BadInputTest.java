package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.testing.ReceivedSpan;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and odd traffic to a traced {@code python3 -m http.server}: each case must cost its own
 * connection a counted failure and nothing more. No span is invented for it, nothing is logged as
 * an internal error, and a normal curl request right after it is still traced on both ends.
 *
 * <p>Counters are compared between two quiet points of the pipeline, so every difference is exact:
 * each TCP connection is tracked twice (the client's socket and the server's), and the curl request
 * that follows every case adds two connections and two exchanges.
 */
@Tag("kernel")
class BadInputTest {
  private static final int PORT = 18_400;
  /** The mid-connection case runs its own server and its own agent, started while a connection is open. */
  private static final int MID_CONNECTION_PORT = 18_401;
  private static final Duration QUIET = Duration.ofMillis(300);

  /**
   * A raw TCP client: sends a file in pieces, optionally shuts down its sending side
   * ({@code shutdown-then-read}), waits, then closes at once ({@code close}) or reads the answer to
   * the end first. Socket errors are printed, not raised: what the server does with hostile input
   * is the server's business.
   */
  private static final String RAW_CLIENT = """
      import os, socket, sys, time
      port, path, piece, pause, wait, end = sys.argv[1:]
      piece, pause, wait = int(piece), float(pause), float(wait)
      print(os.getpid(), flush=True)
      data = open(path, 'rb').read()
      s = socket.create_connection(('127.0.0.1', int(port)))
      try:
          for i in range(0, len(data), piece):
              s.sendall(data[i:i + piece])
              if i + piece < len(data):
                  time.sleep(pause)
          print('sent', len(data), flush=True)
          if end == 'shutdown-then-read':
              s.shutdown(socket.SHUT_WR)
          time.sleep(wait)
          if end != 'close':
              received = b''
              while True:
                  b = s.recv(65536)
                  if not b:
                      break
                  received += b
              print('received', len(received), received.split(b'\\r\\n', 1)[0].decode('latin-1'))
      except OSError as e:
          print('error', type(e).__name__)
      s.close()
      print('closed')
      """;

  /** Makes request 1 on a keep-alive connection, then waits for a file to appear before requests 2 and 3. */
  private static final String KEEP_ALIVE_CLIENT = """
      import http.client, os, sys, time
      port, go = sys.argv[1:]
      print(os.getpid(), flush=True)
      c = http.client.HTTPConnection('127.0.0.1', int(port))
      c.request('GET', '/one.txt')
      time.sleep(0.3)  # the response is in this socket's receive queue, not read yet
      print('request 1 sent', flush=True)
      while not os.path.exists(go):
          time.sleep(0.02)
      for path in ['/two.txt', '/three.txt', None]:
          r = c.getresponse()
          print(r.status, r.read().decode().strip(), flush=True)
          if path:
              c.request('GET', path)
      c.close()
      print('closed', flush=True)
      """;

  @TempDir
  static Path site;
  private static TracingAgent tracing;
  private static PeerProcess server;
  /** The pipeline's loggers: where an exception caught in the capture loop or the tracker is reported. */
  private static final Logger AGENT_LOGGER = Logger.getLogger("io.periscope.agent");
  private static final List<LogRecord> WARNINGS = Collections.synchronizedList(new ArrayList<>());
  private static final Handler WARNING_HANDLER = new Handler() {
    @Override
    public void publish(LogRecord record) {
      if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
        WARNINGS.add(record);
      }
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };

  private PipelineStats.Snapshot before;
  /** The kernel's count of TLS records it did not copy, before the test. */
  private long ciphertextBefore;

  @BeforeAll
  static void start() throws Exception {
    Files.writeString(site.resolve("raw_client.py"), RAW_CLIENT);
    Files.writeString(site.resolve("keep_alive_client.py"), KEEP_ALIVE_CLIENT);
    Files.writeString(site.resolve("hello.txt"), "hello\n");
    for (String n : List.of("one", "two", "three")) {
      Files.writeString(site.resolve(n + ".txt"), n + "\n");
    }
    AGENT_LOGGER.addHandler(WARNING_HANDLER);
    // The server first: the readiness probe's connection is then not part of any count.
    server = PeerProcess.server(site, PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(PORT));
    tracing = TracingAgent.tracingPorts(PORT);
  }

  @AfterAll
  static void stop() {
    AGENT_LOGGER.removeHandler(WARNING_HANDLER);
    if (server != null) {
      server.close();
    }
    if (tracing != null) {
      tracing.close();
    }
  }

  @BeforeEach
  void settle() {
    before = tracing.quietPipelineStats(QUIET);
    ciphertextBefore = tracing.agent.captureCounters().tlsCiphertext();
    tracing.receiver.clear();
    WARNINGS.clear();
  }

  @AfterEach
  void nothingWasLogged() {
    assertThat(WARNINGS).as("warnings and errors logged by the agent")
        .extracting(r -> r.getMessage() + (r.getThrown() == null ? "" : ": " + r.getThrown()))
        .isEmpty();
    tracing.assertLogsKeep(); // at any level: hostile bytes are not copied into a log line
  }

  @Test
  void randomBytesAreCountedAsNotHttpOnTheirConnection() throws Exception {
    byte[] noise = new byte[64 * 1024];
    new Random(1).nextBytes(noise);
    // Every HTTP/1 method, "HTTP/1." and the HTTP/2 preface start with an upper-case letter.
    assertThat(Character.isUpperCase((char) (noise[0] & 0xff))).as("noise starting with " + noise[0]).isFalse();
    // One write of all 64 KiB, then close: python reads the first "line" (up to the first \n),
    // answers it with an HTML error page, and closes.
    String client = rawClient("noise.bin", noise, noise.length, 0, 0, "close");
    assertThat(client).contains("sent 65536");

    long curl = curlHello();
    assertOnlyCurlSpans(curl);
    // Both sockets carried nothing but noise: each is one connection that is not HTTP.
    assertCounts(new Counts(4, 2, 0, 0, 0, 2));
  }

  @Test
  void nonHttpProtocolsAreCountedAsNotHttp() throws Exception {
    // A TLS client's first flight, then it waits for a ServerHello that never comes and gives up:
    // a TLS record, never copied by the kernel, counted there.
    String tls = rawClient("client-hello.bin", clientHello(), 1 << 16, 0, 0.3, "close");
    assertThat(tls).contains("sent 517", "closed");
    // An SMTP client's greeting; python takes it for an HTTP/0.9 request and answers with an HTML error page.
    String smtp = rawClient("ehlo.txt", "EHLO client.example\r\n".getBytes(StandardCharsets.US_ASCII), 1 << 16, 0, 0,
        "read");
    assertThat(smtp).contains("received ").contains("<!DOCTYPE HTML>");

    long curl = curlHello();
    assertOnlyCurlSpans(curl);
    assertCounts(new Counts(6, 2, 0, 0, 0, 2));
    assertCiphertextCounted(2);
  }

  @Test
  void tlsHandshakeThatTricklesInIsCountedAsCiphertext() throws Exception {
    // The same ClientHello in four writes 100 ms apart: python reads each piece as it comes (it
    // waits for a line end that never comes) until the client gives up and closes. The first
    // piece says TLS: none of the pieces is copied, on either end.
    String tls = rawClient("client-hello.bin", clientHello(), 130, 0.1, 0.3, "close");
    assertThat(tls).contains("sent 517", "closed");

    long curl = curlHello();
    assertOnlyCurlSpans(curl);
    assertCounts(new Counts(4, 0, 0, 0, 0, 2));
    assertCiphertextCounted(2 * 4);
  }

  /** The kernel counted at least this many syscalls of TLS records, which it did not copy. */
  private void assertCiphertextCounted(int atLeast) {
    assertThat(tracing.agent.captureCounters().tlsCiphertext() - ciphertextBefore).isGreaterThanOrEqualTo(atLeast);
  }

  @Test
  void requestWithA64KibHeaderFailsItsConnectionAndInventsNoSpan() throws Exception {
    String request = "GET /big-header HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "a".repeat(64 * 1024) + "\r\n\r\n";
    String client = rawClient("big-header.txt", request.getBytes(StandardCharsets.US_ASCII), 1 << 20, 0, 0, "read");
    // Python refuses the header line (longer than its 65536-byte limit) with 431 and closes.
    assertThat(client).contains("received ").contains("HTTP/1.0 431 Line too long");

    long curl = curlHello();
    List<ReceivedSpan> spans = assertOnlyCurlSpans(curl);
    assertThat(spans).as("a span for the refused request" + TracingAgent.describe(spans))
        .noneMatch(s -> "/big-header".equals(s.urlPath()));
    // The server's side fails on a head longer than the parser's 64 KiB limit; the client's, on the
    // one write of 65 KiB, cut at the capture limit inside the head. No exchange, no span.
    assertCounts(new Counts(4, 0, 2, 0, 0, 2));
  }

  @Test
  void connectionsClosedInTheMiddleOfARequestAreCountedAndInventNoSpan() throws Exception {
    String halfLine = rawClient("half-line.txt", "GET /half-a-requ".getBytes(StandardCharsets.US_ASCII), 1 << 16,
        0, 0, "close");
    String halfHead = rawClient("half-head.txt",
        "GET /half-a-head HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII), 1 << 16, 0, 0, "close");
    assertThat(halfLine).contains("closed");
    assertThat(halfHead).contains("closed");

    long curl = curlHello();
    List<ReceivedSpan> spans = assertOnlyCurlSpans(curl);
    assertThat(spans).as(TracingAgent.describe(spans))
        .noneMatch(s -> String.valueOf(s.urlPath()).startsWith("/half"));
    // Each client closed with its request head unfinished: one incomplete exchange each. Each
    // server side read the end of the stream inside the head: one parse failure each.
    assertCounts(new Counts(6, 0, 2, 0, 2, 2));
  }

  @Test
  void responseToARequestTheAgentDidNotRecognizeIsCountedUnmatched() throws Exception {
    // An extension method the protocol detector does not know: neither side is recognised from the
    // request, both are from python's "501 Unsupported method" response, which then answers nothing seen.
    String client = rawClient("foo.txt", "FOO /foo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
        1 << 16, 0, 0, "read");
    assertThat(client).contains("HTTP/1.0 501 Unsupported method ('FOO')");

    long curl = curlHello();
    List<ReceivedSpan> spans = assertOnlyCurlSpans(curl);
    assertThat(spans).as(TracingAgent.describe(spans)).noneMatch(s -> "/foo".equals(s.urlPath()));
    assertCounts(new Counts(4, 0, 0, 2, 0, 2));
  }

  @Test
  void clientThatHalfClosesBeforeReadingTheResponseGetsItsSpan() throws Exception {
    // RFC 9112 §9.6: a client may shut down its sending side once the request is out, and read the
    // response after. Here the response and the server's FIN arrive before the client reads.
    String client = rawClient("half-close.txt",
        "GET /hello.txt HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII), 1 << 16, 0, 0.5,
        "shutdown-then-read");
    assertThat(client).contains("HTTP/1.0 200 OK");
    long pid = pidOf(client);

    // Both spans are done once the client has exited; a shorter wait than usual, as the server's
    // span alone arriving is the failure this looks for.
    tracing.receiver.awaitSpans(s -> TracingAgent.pid(s) == pid, 1, Duration.ofSeconds(5));
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), pid), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2)
        .allSatisfy(s -> {
          assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
          assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
        })
        .extracting(ReceivedSpan::kind)
        .containsExactlyInAnyOrder(SpanKind.SPAN_KIND_SERVER, SpanKind.SPAN_KIND_CLIENT);
    assertCounts(new Counts(2, 0, 0, 0, 0, 2));
  }

  @Test
  void agentStartedInTheMiddleOfAKeepAliveConnectionTracesOnlyWhatItSawWhole() throws Exception {
    try (PeerProcess keepAliveServer = PeerProcess.server(site, MID_CONNECTION_PORT, PeerProcess.PYTHON, "-m",
        "http.server", "--protocol", "HTTP/1.1", "--bind", "127.0.0.1", Integer.toString(MID_CONNECTION_PORT));
        PeerProcess client = PeerProcess.start(site, PeerProcess.PYTHON, "keep_alive_client.py",
            Integer.toString(MID_CONNECTION_PORT), site.resolve("go").toString())) {
      // Request 1 is sent and answered before the agent starts; its response waits, unread, in
      // the client's socket. Python's server thread waits in recv() for request 2.
      client.awaitOutput("request 1 sent", Duration.ofSeconds(10));
      List<ReceivedSpan> spans;
      Counts counts;
      try (TracingAgent late = TracingAgent.tracingPorts(MID_CONNECTION_PORT)) {
        PipelineStats.Snapshot start = late.quietPipelineStats(QUIET);
        Files.writeString(site.resolve("go"), "");
        assertThat(client.awaitExit(Duration.ofSeconds(20))).as(client.output()).isZero();
        assertThat(client.output()).contains("200 one", "200 two", "200 three", "closed");
        // Four spans are right; waiting for three, then the usual moment longer, shows what is there.
        spans = late.awaitSpans(List.of(keepAliveServer.pid(), client.pid()), 3);
        counts = Counts.between(start, late.quietPipelineStats(QUIET));
      }
      String described = TracingAgent.describe(spans);
      assertThat(spans).as("no span for request 1, and none with a wrong path" + described)
          .allSatisfy(s -> assertThat(s.urlPath()).isIn("/two.txt", "/three.txt"));
      assertThat(paths(spans, SpanKind.SPAN_KIND_CLIENT)).as("client spans" + described)
          .containsExactly("/two.txt", "/three.txt");
      assertThat(paths(spans, SpanKind.SPAN_KIND_SERVER)).as("server spans" + described)
          .containsExactly("/two.txt", "/three.txt");
      // Two sockets; four exchanges (requests 2 and 3, on both ends); the client's read of
      // response 1 is a response without a request.
      assertThat(counts).as("counters of the late agent").isEqualTo(new Counts(2, 0, 0, 1, 0, 4));
    }
  }

  // ---- helpers ----

  /** Counter differences between two quiet points; events are not compared (see TracingAgent). */
  record Counts(long connectionsTracked, long connectionsNotHttp, long http1ParseFailures, long unmatchedResponses,
      long incompleteExchanges, long exchanges, long malformedEvents, long connectionsEvicted, long connectionsHttp2,
      long pipelineOverflows) {

    Counts(long connectionsTracked, long connectionsNotHttp, long http1ParseFailures, long unmatchedResponses,
        long incompleteExchanges, long exchanges) {
      this(connectionsTracked, connectionsNotHttp, http1ParseFailures, unmatchedResponses, incompleteExchanges,
          exchanges, 0, 0, 0, 0);
    }

    static Counts between(PipelineStats.Snapshot a, PipelineStats.Snapshot b) {
      return new Counts(b.connectionsTracked() - a.connectionsTracked(),
          b.connectionsNotHttp() - a.connectionsNotHttp(), b.http1ParseFailures() - a.http1ParseFailures(),
          b.unmatchedResponses() - a.unmatchedResponses(), b.incompleteExchanges() - a.incompleteExchanges(),
          b.exchanges() - a.exchanges(), b.malformedEvents() - a.malformedEvents(),
          b.connectionsEvicted() - a.connectionsEvicted(), b.connectionsHttp2() - a.connectionsHttp2(),
          b.pipelineOverflows() - a.pipelineOverflows());
    }
  }

  private void assertCounts(Counts expected) {
    PipelineStats.Snapshot after = tracing.quietPipelineStats(QUIET);
    assertThat(Counts.between(before, after)).as("counter differences (before %s, after %s)", before, after)
        .isEqualTo(expected);
  }

  /** Runs the raw client against the traced server; returns its output, its pid on the first line. */
  private static String rawClient(String file, byte[] payload, int piece, double pause, double wait, String end)
      throws Exception {
    Path path = site.resolve(file);
    Files.write(path, payload);
    return PeerProcess.run(site, PeerProcess.PYTHON, "raw_client.py", Integer.toString(PORT), path.toString(),
        Integer.toString(piece), Double.toString(pause), Double.toString(wait), end);
  }

  private static long pidOf(String clientOutput) {
    return Long.parseLong(clientOutput.lines().findFirst().orElseThrow().strip());
  }

  /** A normal request after the bad input: traced on both ends, whatever came before. */
  private static long curlHello() throws Exception {
    return PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null",
        "http://127.0.0.1:" + PORT + "/hello.txt").pid();
  }

  /** Waits for curl's two spans and returns every span of the server and curl: there must be no other. */
  private static List<ReceivedSpan> assertOnlyCurlSpans(long curl) {
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), curl), 2);
    List<ReceivedSpan> all = tracing.receiver.spans();
    assertThat(all).as("every span exported since the case began" + TracingAgent.describe(all)).hasSize(2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2)
        .allSatisfy(s -> {
          assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
          assertThat(s.attributes())
              .containsEntry("http.request.method", "GET")
              .containsEntry("http.response.status_code", 200L);
        })
        .extracting(ReceivedSpan::kind)
        .containsExactlyInAnyOrder(SpanKind.SPAN_KIND_SERVER, SpanKind.SPAN_KIND_CLIENT);
    ReceivedSpan client = spans.stream().filter(s -> s.kind() == SpanKind.SPAN_KIND_CLIENT).findFirst().orElseThrow();
    assertThat(TracingAgent.pid(client)).isEqualTo(curl);
    assertThat(client.attributes()).containsEntry("url.full", "http://127.0.0.1:" + PORT + "/hello.txt");
    return spans;
  }

  private static List<String> paths(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind)
        .sorted((a, b) -> Long.compare(a.startEpochNanos(), b.startEpochNanos()))
        .map(ReceivedSpan::urlPath).toList();
  }

  /**
   * A TLS 1.2 ClientHello record for {@code example.com}, 517 bytes as browsers pad it (RFC 7685),
   * with no line feed in it: python's http.server reads it as the start of a request line and
   * keeps waiting for the line's end.
   */
  static byte[] clientHello() {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.write(0x03);
    body.write(0x03); // client_version TLS 1.2
    byte[] random = new byte[32];
    new Random(2).nextBytes(random);
    body.writeBytes(random);
    body.write(0); // no session id
    int[] suites = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c, 0x009d};
    writeShort(body, suites.length * 2);
    for (int suite : suites) {
      writeShort(body, suite);
    }
    body.write(1);
    body.write(0); // null compression
    byte[] host = "example.com".getBytes(StandardCharsets.US_ASCII);
    ByteArrayOutputStream extensions = new ByteArrayOutputStream();
    writeShort(extensions, 0x0000); // server_name
    writeShort(extensions, host.length + 5);
    writeShort(extensions, host.length + 3);
    extensions.write(0); // host_name
    writeShort(extensions, host.length);
    extensions.writeBytes(host);
    int headerBytes = 5 + 4 + body.size() + 2 + extensions.size() + 4;
    writeShort(extensions, 0x0015); // padding to 517 bytes
    writeShort(extensions, 517 - headerBytes);
    extensions.writeBytes(new byte[517 - headerBytes]);
    writeShort(body, extensions.size());
    body.writeBytes(extensions.toByteArray());

    ByteArrayOutputStream record = new ByteArrayOutputStream();
    record.write(0x16); // handshake
    record.write(0x03);
    record.write(0x01);
    writeShort(record, body.size() + 4);
    record.write(0x01); // client_hello
    record.write(0);
    writeShort(record, body.size());
    record.writeBytes(body.toByteArray());
    byte[] hello = record.toByteArray();
    assertThat(hello).hasSize(517).doesNotContain((byte) '\n');
    return hello;
  }

  private static void writeShort(ByteArrayOutputStream out, int value) {
    out.write(value >> 8);
    out.write(value & 0xff);
  }
}
