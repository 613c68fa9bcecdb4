package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Overload on the real kernel: a ring buffer the test does not read fills up, and the kernel
 * sheds whole connections instead of random records from the middle of exchanges (issue 19,
 * "Overload"). A keep-alive connection that lost a record makes no more records; one that starts
 * while the ring is over half full is not followed; once there is room, each is followed again
 * from its next request, flagged {@link SocketEvent#FLAG_LOST_BEFORE}.
 */
@Tag("kernel")
class OverloadSheddingTest {
  private static final int PORT = 18_171;
  /** Four pages: a few exchanges with 1 KiB answers fill it. */
  private static final int RING_BYTES = 16 * 1024;
  private static final int EXCHANGES_TO_FILL = 24;

  /** One record as the test saw it. */
  record Seen(byte type, long sock, byte direction, long seq, int total, int flags, String payload) {
    boolean lostBefore() {
      return (flags & SocketEvent.FLAG_LOST_BEFORE) != 0;
    }
  }

  @Test
  void aFullRingShedsWholeConnectionsAndFollowsThemAgainFromTheirNextRequest() throws Exception {
    KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    CaptureConfig config =
        new CaptureConfig(self, CaptureConfig.DEFAULT_CAPTURE_BYTES, RING_BYTES, Set.of(), Set.of(), Set.of(PORT));
    Process server = null;
    Process client = null;
    try (KernelCapture capture = KernelCapture.start(config)) {
      server = new ProcessBuilder("/usr/bin/python3", "-c", SERVER.formatted(PORT)).redirectErrorStream(true).start();
      BufferedReader serverOut = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.US_ASCII));
      assertThat(serverOut.readLine()).isEqualTo("ready");
      client = new ProcessBuilder("/usr/bin/python3", "-c", CLIENT.formatted(PORT, EXCHANGES_TO_FILL)).start();
      BufferedReader clientOut = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII));
      OutputStream clientIn = client.getOutputStream();

      // Phase 1, nothing read: connection A fills the ring and loses records, then B starts.
      assertThat(clientOut.readLine()).as("the client's first phase").isEqualTo("filled");
      CaptureCounters full = capture.counters();
      assertThat(full.ringBufferDrops()).as("records that did not fit").isPositive();
      assertThat(full.shedRecords()).as("records of A not made after its loss").isPositive();
      assertThat(full.shedConnections()).as("B's two ends, begun in a full ring").isEqualTo(2);
      List<Seen> before = drain(capture);

      // Phase 2, the ring read empty: one more exchange on each connection.
      clientIn.write("more\n".getBytes(StandardCharsets.US_ASCII));
      clientIn.flush();
      assertThat(clientOut.readLine()).as("the client's second phase").isEqualTo("done");
      List<Seen> after = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (after.stream().filter(Seen::lostBefore).count() < 4 && System.nanoTime() < deadline) {
        after.addAll(drain(capture));
        Thread.sleep(10);
      }
      after.addAll(drain(capture));

      assertThat(before).as("no record after a loss, until there is room").noneMatch(Seen::lostBefore);
      assertThat(before).as("B began in a full ring: it has no open record").filteredOn(s -> s.type == SocketEvent.TYPE_CONN_OPEN)
          .hasSize(2); // A's two ends
      assertContiguous(before);

      // Each of the four sockets is followed again from its next request, flagged, then whole.
      Map<Long, List<Seen>> bySocket =
          after.stream().filter(s -> s.type == SocketEvent.TYPE_DATA).collect(Collectors.groupingBy(Seen::sock));
      assertThat(bySocket).as("A's and B's ends").hasSize(4);
      bySocket.forEach((sock, records) -> {
        Seen first = records.getFirst();
        assertThat(first.lostBefore()).as("the first record after the loss says so").isTrue();
        assertThat(first.payload).startsWith("GET /more");
        assertThat(records.subList(1, records.size())).noneMatch(Seen::lostBefore);
        assertThat(records).as("the request and its whole answer")
            .anySatisfy(s -> assertThat(s.payload).startsWith("HTTP/1.1 200 OK"));
      });
      assertContiguous(after);
      assertThat(capture.counters().shedConnections()).as("no connection began in a full ring since").isEqualTo(2);
    } finally {
      if (client != null) {
        client.destroyForcibly();
      }
      if (server != null) {
        server.destroyForcibly();
      }
    }
  }

  /** Every record of a socket's direction starts where the one before it ended: nothing in between was lost. */
  private static void assertContiguous(List<Seen> records) {
    Map<String, List<Seen>> streams =
        records.stream().filter(s -> s.type == SocketEvent.TYPE_DATA)
            .collect(Collectors.groupingBy(s -> s.sock + "/" + s.direction));
    streams.forEach((stream, seen) -> {
      for (int i = 1; i < seen.size(); i++) {
        long expected = (seen.get(i - 1).seq + seen.get(i - 1).total) & 0xffff_ffffL;
        assertThat(seen.get(i).seq).as("seq of record %d of %s", i, stream).isEqualTo(expected);
      }
    });
  }

  private static List<Seen> drain(KernelCapture capture) {
    List<Seen> seen = new ArrayList<>();
    SocketEvent view = new SocketEvent();
    while (capture.poll((memory, offset, length) -> {
          assertThat(view.wrap(memory, offset, length)).isTrue();
          byte[] payload = new byte[view.capturedLength()];
          MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, view.payloadOffset(), payload, 0, payload.length);
          seen.add(new Seen(view.type(), view.sock(), view.direction(), view.sequence(), view.totalLength(),
              view.flags(), new String(payload, StandardCharsets.ISO_8859_1)));
        }) > 0) {
      // until the ring is empty
    }
    return seen;
  }

  /** Answers every request head on every connection with 1 KiB, keep-alive. */
  private static final String SERVER = """
      import socket, threading
      s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      s.bind(('127.0.0.1', %d)); s.listen(8); print('ready', flush=True)
      body = b'x' * 1024
      answer = b'HTTP/1.1 200 OK\\r\\nContent-Length: %%d\\r\\n\\r\\n' %% len(body) + body
      def serve(c):
          pending = b''
          while True:
              data = c.recv(65536)
              if not data:
                  return
              pending += data
              while b'\\r\\n\\r\\n' in pending:
                  _, pending = pending.split(b'\\r\\n\\r\\n', 1)
                  c.sendall(answer)
      while True:
          c, _ = s.accept()
          threading.Thread(target=serve, args=(c,), daemon=True).start()
      """;

  /**
   * Connection A: enough exchanges to fill the ring; then connection B opens and makes one. On
   * "more", one exchange on each.
   */
  private static final String CLIENT = """
      import socket, sys
      def exchange(c, path):
          c.sendall(b'GET ' + path + b' HTTP/1.1\\r\\nHost: h\\r\\n\\r\\n')
          got = b''
          while b'\\r\\n\\r\\n' not in got or len(got.split(b'\\r\\n\\r\\n', 1)[1]) < 1024:
              got += c.recv(65536)
      a = socket.create_connection(('127.0.0.1', %d))
      for i in range(%d):
          exchange(a, b'/fill/%%d' %% i)
      b = socket.create_connection(a.getpeername())
      exchange(b, b'/late')
      print('filled', flush=True)
      sys.stdin.readline()
      exchange(a, b'/more/a')
      exchange(b, b'/more/b')
      print('done', flush=True)
      sys.stdin.readline()
      """;
}
