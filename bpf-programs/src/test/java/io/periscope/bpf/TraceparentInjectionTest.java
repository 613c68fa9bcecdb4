package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Traceparent injection on the real kernel: a python client writes three requests on one
 * keep-alive connection to a python server that answers with what it received. The server must
 * see a traceparent in exactly the requests that had none, with everything else byte for byte as
 * written, and the records must say what was inserted at the sequence numbers the server sees.
 */
@Tag("kernel")
class TraceparentInjectionTest {
  private static final int PORT = 18_151;
  private static final int MIDDLE_PORT = 18_152;
  private static final int DOWNSTREAM_PORT = 18_153;
  private static final int SAMPLED_PORT = 18_154;
  private static final String OWN_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  record Seen(byte type, byte direction, int tgid, long seq, int total, int frameStart, String payload) {}

  @Test
  void insertsATraceparentAfterTheRequestLineOfRequestsWithout() throws Exception {
    KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    CaptureConfig config = CaptureConfig.everything(self).withPorts(Set.of(PORT)).withTraceparentInjection(true)
        .withInjectionDespiteFionread(true);
    List<Seen> seen = new ArrayList<>();
    Process server;
    Process client;
    String answers;
    CaptureCounters counters;
    try (KernelCapture capture = KernelCapture.start(config)) {
      assertThat(capture.programs()).contains("inject_track", "inject_traceparent");
      // Answers each request with its request line, its traceparent (or "-") and its body.
      server = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
          s.bind(('127.0.0.1', %d)); s.listen(1); print('ready', flush=True)
          c, _ = s.accept(); f = c.makefile('rb')
          for _ in range(3):
              line = f.readline().decode().strip(); tp = '-'; length = 0
              while True:
                  h = f.readline().decode()
                  if h == '\\r\\n': break
                  name, value = h.split(':', 1)
                  if name.lower() == 'traceparent': tp = value.strip()
                  if name.lower() == 'content-length': length = int(value)
              body = f.read(length).decode()
              answer = ('%%s|%%s|%%s' %% (line, tp, body)).encode()
              c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: %%d\\r\\n\\r\\n' %% len(answer) + answer)
          c.close()
          """.formatted(PORT)).redirectErrorStream(true).start();
      assertThat(new String(server.getInputStream().readNBytes(6))).startsWith("ready");
      // One sendall (sendto), one with a traceparent of its own, one sendmsg of head and body apart.
      client = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          c = socket.create_connection(('127.0.0.1', %d)); f = c.makefile('rb')
          def answer():
              f.readline(); length = 0
              while True:
                  h = f.readline().decode()
                  if h == '\\r\\n': break
                  if h.lower().startswith('content-length:'): length = int(h.split(':')[1])
              print(f.read(length).decode(), flush=True)
          c.sendall(b'POST /one HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nhello'); answer()
          c.sendall(b'GET /two HTTP/1.1\\r\\nHost: x\\r\\ntraceparent: %s\\r\\n\\r\\n'); answer()
          c.sendmsg([b'PUT /three HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 6\\r\\n\\r\\n', b'world!']); answer()
          c.close()
          """.formatted(PORT, OWN_TRACEPARENT)).redirectErrorStream(true).start();
      answers = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      assertThat(client.waitFor()).as(answers).isZero();
      assertThat(server.waitFor()).isZero();

      collect(capture, seen, 5_000, () -> seen.stream().filter(s -> s.type == SocketEvent.TYPE_CONN_CLOSE).count() >= 2);
      counters = capture.counters();
    }
    String[] lines = answers.strip().split("\n");
    assertThat(lines).hasSize(3);
    // What the server received: bodies and request lines as written, a traceparent where there was none.
    Pattern injectedAnswer = Pattern.compile("(.*)\\|(00-[0-9a-f]{32}-[0-9a-f]{16}-01)\\|(.*)");
    Matcher one = injectedAnswer.matcher(lines[0]);
    assertThat(one.matches()).as(lines[0]).isTrue();
    assertThat(one.group(1)).isEqualTo("POST /one HTTP/1.1");
    assertThat(one.group(3)).isEqualTo("hello");
    assertThat(lines[1]).isEqualTo("GET /two HTTP/1.1|" + OWN_TRACEPARENT + "|");
    Matcher three = injectedAnswer.matcher(lines[2]);
    assertThat(three.matches()).as(lines[2]).isTrue();
    assertThat(three.group(1)).isEqualTo("PUT /three HTTP/1.1");
    assertThat(three.group(3)).isEqualTo("world!");
    assertThat(three.group(2)).isNotEqualTo(one.group(2));

    int clientPid = (int) client.pid();
    int serverPid = (int) server.pid();
    List<Seen> injected = seen.stream().filter(s -> s.type == SocketEvent.TYPE_TRACE_INJECTED).toList();
    assertThat(injected).hasSize(2).allSatisfy(s -> {
      assertThat(s.tgid).isEqualTo(clientPid);
      assertThat(s.total).isEqualTo(SocketEvent.TRACEPARENT_LINE);
      assertThat(s.payload).hasSize(SocketEvent.TRACEPARENT_LINE).startsWith("traceparent: ").endsWith("\r\n");
    });
    assertThat(injected.get(0).payload).isEqualTo("traceparent: " + one.group(2) + "\r\n");
    assertThat(injected.get(1).payload).isEqualTo("traceparent: " + three.group(2) + "\r\n");
    assertThat(injected.get(0).frameStart).isEqualTo("POST /one HTTP/1.1\r\n".length());
    assertThat(injected.get(1).frameStart).isEqualTo("PUT /three HTTP/1.1\r\n".length());

    // Each request starts at the same sequence number on both ends: the client's records count the
    // bytes the kernel inserted, though the process never wrote them.
    List<Seen> written = seen.stream()
        .filter(s -> s.type == SocketEvent.TYPE_DATA && s.tgid == clientPid && s.direction == SocketEvent.DIRECTION_EGRESS)
        .toList();
    List<Seen> read = seen.stream()
        .filter(s -> s.type == SocketEvent.TYPE_DATA && s.tgid == serverPid && s.direction == SocketEvent.DIRECTION_INGRESS
            && s.total > 0)
        .toList();
    assertThat(written).extracting(Seen::payload).containsExactly(
        "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "GET /two HTTP/1.1\r\nHost: x\r\ntraceparent: " + OWN_TRACEPARENT + "\r\n\r\n",
        "PUT /three HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nworld!");
    assertThat(injected.get(0).seq).isEqualTo(written.get(0).seq);
    assertThat(injected.get(1).seq).isEqualTo(written.get(2).seq);
    List<Long> requestStarts = new ArrayList<>();
    for (Seen r : read) {
      if (r.payload.startsWith("POST ") || r.payload.startsWith("GET ") || r.payload.startsWith("PUT ")) {
        requestStarts.add(r.seq);
      }
    }
    assertThat(requestStarts).containsExactly(written.get(0).seq, written.get(1).seq, written.get(2).seq);
    assertThat(written.get(1).seq - written.get(0).seq)
        .isEqualTo(written.get(0).total + SocketEvent.TRACEPARENT_LINE);
    assertThat(counters.traceparentsInjected()).isEqualTo(2);
    assertThat(counters.injectionsFailed()).isZero();
  }

  /**
   * A threading python server in the middle calls a downstream one while it serves each request:
   * its calls carry the trace of the request being served, taken from that request's traceparent,
   * or, for a request without one, a trace id the kernel made and reported for it; a traceparent
   * that comes in a later piece of the head counts too. The client is not traced (the capture
   * follows the two servers' pids), so nothing is inserted into its requests.
   */
  @Test
  void callsMadeWhileServingARequestContinueItsTrace(@TempDir Path tmp) throws Exception {
    KernelSupport.check();
    Path received = tmp.resolve("downstream.out");
    Process downstream = new ProcessBuilder("/usr/bin/python3", "-c", """
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def do_GET(self):
                print(self.headers.get('traceparent', '-'), flush=True)
                self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')
            def log_message(self, *a): pass
        s = http.server.HTTPServer(('127.0.0.1', %d), H); print('ready', flush=True); s.serve_forever()
        """.formatted(DOWNSTREAM_PORT)).redirectErrorStream(true).redirectOutput(received.toFile()).start();
    Process middle = new ProcessBuilder("/usr/bin/python3", "-c", """
        import http.server, http.client
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def do_GET(self):
                c = http.client.HTTPConnection('127.0.0.1', %d); c.request('GET', '/down' + self.path)
                r = c.getresponse(); r.read(); c.close()
                self.send_response(200); self.send_header('Content-Length', '4'); self.end_headers(); self.wfile.write(b'done')
            def log_message(self, *a): pass
        s = http.server.ThreadingHTTPServer(('127.0.0.1', %d), H); print('ready', flush=True); s.serve_forever()
        """.formatted(DOWNSTREAM_PORT, MIDDLE_PORT)).redirectErrorStream(true).start();
    List<Seen> seen = new ArrayList<>();
    String client;
    try {
      for (int i = 0; i < 500 && !Files.readString(received).startsWith("ready"); i++) {
        Thread.sleep(10);
      }
      assertThat(Files.readString(received)).startsWith("ready");
      assertThat(new String(middle.getInputStream().readNBytes(6))).startsWith("ready");
      int self = (int) ProcessHandle.current().pid();
      CaptureConfig config = CaptureConfig.everything(self).withPids(Set.of((int) middle.pid(), (int) downstream.pid()))
          .withTraceparentInjection(true)
        .withInjectionDespiteFionread(true);
      try (KernelCapture capture = KernelCapture.start(config)) {
        Process caller = new ProcessBuilder("/usr/bin/python3", "-c", """
            import socket, time
            c = socket.create_connection(('127.0.0.1', %d)); f = c.makefile('rb')
            def answer():
                while f.readline() != b'\\r\\n': pass
                f.read(4)
            c.sendall(b'GET /with HTTP/1.1\\r\\nHost: m\\r\\ntraceparent: %s\\r\\n\\r\\n'); answer()
            c.sendall(b'GET /without HTTP/1.1\\r\\nHost: m\\r\\n\\r\\n'); answer()
            # Heads in pieces, read one at a time, as a request the kernel inserted a line into can arrive.
            c.sendall(b'GET /pieces-with HTTP/1.1\\r\\n'); time.sleep(0.3)
            c.sendall(b'traceparent: %s\\r\\nHost: m\\r\\n\\r\\n'); answer()
            c.sendall(b'GET /pieces-without HTTP/1.1\\r\\n'); time.sleep(0.3)
            c.sendall(b'Host: m\\r\\n'); time.sleep(0.3)
            c.sendall(b'\\r\\n'); answer()
            print('answered', flush=True)
            """.formatted(MIDDLE_PORT, OWN_TRACEPARENT, OWN_TRACEPARENT)).redirectErrorStream(true).start();
        client = new String(caller.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        assertThat(caller.waitFor()).as(client).isZero();
        collect(capture, seen, 3_000, () -> false);
        assertThat(capture.counters().traceparentsInjected()).isEqualTo(4);
      }
    } finally {
      middle.destroy();
      downstream.destroy();
    }
    assertThat(client).contains("answered");
    downstream.waitFor();
    List<String> lines = Files.readAllLines(received);
    assertThat(lines).as("what the downstream server printed").hasSize(5);
    String[] traceparents = {lines.get(1), lines.get(2), lines.get(3), lines.get(4)};
    // The call made for the request with a traceparent: its trace, a new parent id.
    String ownTrace = OWN_TRACEPARENT.substring(3, 35);
    assertThat(traceparents[0]).matches("00-" + ownTrace + "-[0-9a-f]{16}-01").doesNotContain(OWN_TRACEPARENT.substring(36, 52));
    // The call made for the request without: the trace id the kernel made for that request.
    List<Seen> roots = seen.stream().filter(s -> s.type == SocketEvent.TYPE_TRACE_ROOT).toList();
    assertThat(roots).hasSize(1);
    Seen root = roots.getFirst();
    assertThat(root.tgid).isEqualTo((int) middle.pid());
    assertThat(root.payload).matches("[0-9a-f]{32}").isNotEqualTo(ownTrace);
    assertThat(traceparents[1]).matches("00-" + root.payload + "-[0-9a-f]{16}-01");
    Seen withoutRead = seen.stream().filter(s -> s.type == SocketEvent.TYPE_DATA && s.tgid == (int) middle.pid()
        && s.direction == SocketEvent.DIRECTION_INGRESS && s.payload.startsWith("GET /without ")).findFirst().orElseThrow();
    assertThat(root.seq).as("the root is for the request without a traceparent").isEqualTo(withoutRead.seq);
    // A head in pieces: the piece with the traceparent continues its trace. Without one, no root
    // is made for it (the pieces after its first are not looked at for one): its call starts its own.
    assertThat(traceparents[2]).matches("00-" + ownTrace + "-[0-9a-f]{16}-01");
    assertThat(traceparents[3]).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01")
        .doesNotContain(ownTrace).doesNotContain(root.payload);
    assertThat(seen.stream().filter(s -> s.type == SocketEvent.TYPE_TRACE_INJECTED).map(s -> s.payload.strip()))
        .containsExactly("traceparent: " + traceparents[0], "traceparent: " + traceparents[1],
            "traceparent: " + traceparents[2], "traceparent: " + traceparents[3]);
  }

  /**
   * The traces the kernel starts are sampled as the agent's ratio sampler (OpenTelemetry's
   * TraceIdRatioBased) samples the same trace id: the injected flags say so, and the agent's
   * spans for those traces follow them.
   */
  @Test
  void theTracesTheKernelStartsAreSampledByTheAgentsRatioRule() throws Exception {
    KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    int requests = 40;
    CaptureConfig config = CaptureConfig.everything(self).withPorts(Set.of(SAMPLED_PORT))
        .withTraceparentInjection(true, 0.5)
        .withInjectionDespiteFionread(true);
    List<String> lines = new ArrayList<>();
    try (KernelCapture capture = KernelCapture.start(config)) {
      Process server = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
          s.bind(('127.0.0.1', %d)); s.listen(1); print('ready', flush=True)
          c, _ = s.accept(); f = c.makefile('rb')
          for _ in range(%d):
              while f.readline() != b'\\r\\n': pass
              c.sendall(b'HTTP/1.1 204 No Content\\r\\n\\r\\n')
          c.close()
          """.formatted(SAMPLED_PORT, requests)).redirectErrorStream(true).start();
      assertThat(new String(server.getInputStream().readNBytes(6))).startsWith("ready");
      Process client = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          c = socket.create_connection(('127.0.0.1', %d)); f = c.makefile('rb')
          for i in range(%d):
              c.sendall(b'GET /%%d HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' %% i)
              while f.readline() != b'\\r\\n': pass
          """.formatted(SAMPLED_PORT, requests)).redirectErrorStream(true).start();
      assertThat(client.waitFor()).isZero();
      assertThat(server.waitFor()).isZero();
      List<Seen> seen = new ArrayList<>();
      collect(capture, seen, 5_000, () -> seen.stream().filter(s -> s.type == SocketEvent.TYPE_TRACE_INJECTED).count()
          >= requests);
      seen.stream().filter(s -> s.type == SocketEvent.TYPE_TRACE_INJECTED).forEach(s -> lines.add(s.payload));
    }
    assertThat(lines).hasSize(requests);
    long bound = KernelCapture.sampleBound(0.5);
    int sampled = 0;
    for (String line : lines) {
      Matcher m = Pattern.compile("traceparent: 00-([0-9a-f]{32})-[0-9a-f]{16}-(0[01])\r\n").matcher(line);
      assertThat(m.matches()).as(line).isTrue();
      // TraceIdRatioBased: sampled when |the trace id's lower 64 bits, as a signed long| < the bound.
      long low = Long.parseUnsignedLong(m.group(1).substring(16), 16);
      boolean expected = Math.abs(low) < bound;
      assertThat(m.group(2)).as(line).isEqualTo(expected ? "01" : "00");
      sampled += expected ? 1 : 0;
    }
    assertThat(sampled).as("both decisions were made").isBetween(1, requests - 1);
  }

  /** Polls the capture into {@code seen} until {@code done} says so or {@code millis} have passed. */
  private static void collect(KernelCapture capture, List<Seen> seen, long millis, BooleanSupplier done)
      throws InterruptedException {
    SocketEvent view = new SocketEvent();
    long deadline = System.nanoTime() + millis * 1_000_000;
    while (System.nanoTime() < deadline && !done.getAsBoolean()) {
      capture.poll((memory, offset, length) -> {
        assertThat(view.wrap(memory, offset, length)).isTrue();
        byte[] payload = new byte[view.capturedLength()];
        MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, view.payloadOffset(), payload, 0, payload.length);
        seen.add(new Seen(view.type(), view.direction(), view.tgid(), view.sequence(), view.totalLength(),
            view.frameStart(), new String(payload, StandardCharsets.US_ASCII)));
      });
      Thread.sleep(10);
    }
  }
}
