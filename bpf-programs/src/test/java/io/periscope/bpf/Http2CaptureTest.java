package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel's frame-aware capture of HTTP/2 on the real kernel: a python client writes frames in
 * every shape a real peer uses (many frames per syscall, iovec arrays, a 1 MiB DATA frame followed by
 * trailers in one call, frame headers cut by syscall boundaries), and a python server reads them in
 * small reads. What the kernel hands over must be exactly the frame stream: every byte but DATA
 * payloads, on both ends, whatever the syscall boundaries.
 */
@Tag("kernel")
class Http2CaptureTest {
  private static final int PORT = 19_001;
  private static final int PORT_OPEN_BEFORE = 19_002;
  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  /** What the capture recorded for one process and direction. */
  record Record(int tgid, byte direction, byte mode, long sequence, int total, byte[] payload, int framesLength,
      int frameStart, int frameStartWire) {}

  @Test
  void framesKeepEveryHeaderAndSkipDataPayloads(@TempDir Path tmp) throws Exception {
    KernelSupport.check();
    byte[] wire = clientBytes();
    Path wireFile = Files.write(tmp.resolve("wire"), wire);
    List<Record> records;
    Process server;
    Process client;
    try (KernelCapture capture = start(PORT)) {
      server = python("""
          import socket, sys
          s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
          s.bind(('127.0.0.1', %d)); s.listen(1); print('ready', flush=True)
          c, _ = s.accept(); got = 0; buf = bytearray(1000)
          # Small reads: frame headers and HEADERS payloads are cut at arbitrary places.
          while True:
              n = c.recv_into(buf, 997)
              if n == 0: break
              got += n
          print(got, flush=True); c.close()
          """.formatted(PORT));
      assertThat(new String(server.getInputStream().readNBytes(6))).startsWith("ready");
      client = python(clientScript(PORT, wireFile));
      assertThat(client.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(client.exitValue()).as(output(client)).isZero();
      assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
      records = drain(capture, Set.of((int) client.pid(), (int) server.pid()));
      assertThat(capture.counters().ringBufferDrops()).isZero();
      assertThat(capture.counters().h2SyncLost()).isZero();
    }
    byte[] expected = frameStream(wire);
    List<Record> sent = of(records, (int) client.pid(), SocketEvent.DIRECTION_EGRESS);
    List<Record> read = of(records, (int) server.pid(), SocketEvent.DIRECTION_INGRESS);
    assertThat(sent).allSatisfy(r -> assertThat(r.mode).isEqualTo(SocketEvent.MODE_H2_FRAMES));
    assertThat(read.subList(0, read.size() - 1)) // the last read is the end of stream
        .allSatisfy(r -> assertThat(r.mode).isEqualTo(SocketEvent.MODE_H2_FRAMES));
    assertThat(hex(stream(sent))).isEqualTo(hex(expected));
    assertThat(hex(stream(read))).isEqualTo(hex(expected));
    assertThat(sent.stream().mapToLong(Record::total).sum()).isEqualTo(wire.length);
    // Reads wholly inside the big DATA payload are not recorded: the next record's sequence number
    // accounts for them. Every record starts where the previous one ended, or inside that payload.
    assertThat(read).hasSizeLessThan(20);
    assertSequenceAccountsForSkippedReads(read, wire.length);
    // Where each record says its first frame begins is where a reader that lost its place starts again.
    assertFrameStartsAgree(sent, expected);
    assertFrameStartsAgree(read, expected);
    // Nothing of the 1 MiB body came out of the kernel.
    assertThat(read.stream().mapToInt(r -> r.payload.length).sum()).isLessThan(2048);
  }

  @Test
  void connectionOpenBeforeTheCaptureIsFoundByItsFrames() throws Exception {
    KernelSupport.check();
    Process server = python("""
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', %d)); s.listen(1); print('ready', flush=True)
        c, _ = s.accept()
        while True:
            d = c.recv(65536)
            if not d: break
        c.close()
        """.formatted(PORT_OPEN_BEFORE));
    assertThat(new String(server.getInputStream().readNBytes(6))).startsWith("ready");
    // The client connects and speaks HTTP/2 first, then waits for the capture before it goes on.
    Process client = python("""
        import socket, sys, time
        c = socket.create_connection(('127.0.0.1', %d))
        c.sendall(bytes.fromhex('%s'))
        print('connected', flush=True)
        sys.stdin.readline()
        for i in range(3):
            c.sendall(bytes.fromhex('%s')); time.sleep(0.05)
        c.close()
        """.formatted(PORT_OPEN_BEFORE, hex(concat(PREFACE, settings())), hex(headersAndData(1))));
    List<Record> records;
    try {
      assertThat(new String(client.getInputStream().readNBytes(10))).startsWith("connected");
      try (KernelCapture capture = start(PORT_OPEN_BEFORE)) {
        client.getOutputStream().write('\n');
        client.getOutputStream().flush();
        assertThat(client.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
        records = drain(capture, Set.of((int) client.pid(), (int) server.pid()));
      }
    } finally {
      client.destroyForcibly();
      server.destroyForcibly();
    }
    byte[] one = frameStreamOf(headersAndData(1));
    List<Record> sent = of(records, (int) client.pid(), SocketEvent.DIRECTION_EGRESS);
    assertThat(sent).hasSize(3).allSatisfy(r -> {
      assertThat(r.mode).isEqualTo(SocketEvent.MODE_H2_FRAMES);
      assertThat(hex(r.payload)).isEqualTo(hex(one));
      assertThat(r.frameStart).isZero();
    });
    List<Record> read = of(records, (int) server.pid(), SocketEvent.DIRECTION_INGRESS);
    assertThat(read.stream().filter(r -> r.total > 0))
        .isNotEmpty()
        .allSatisfy(r -> assertThat(r.mode).isEqualTo(SocketEvent.MODE_H2_FRAMES));
  }

  /** The bytes the client sends: preface, SETTINGS, then streams in the shapes real peers write. */
  private static byte[] clientBytes() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(PREFACE);
    out.writeBytes(settings());
    out.writeBytes(headersAndData(1));
    byte[] big = new byte[1 << 20];
    new Random(7).nextBytes(big); // random: nothing in it may be taken for a frame
    out.writeBytes(frame(1, 0x4, 3, new byte[] {(byte) 0x83, (byte) 0x86, 0x44, 3, '/', 'b', 'g'})); // HEADERS
    out.writeBytes(frame(0, 0, 3, big)); // a 1 MiB DATA frame ...
    out.writeBytes(frame(1, 0x5, 3, new byte[] {0x40, 1, 'x', 1, 'y'})); // ... then trailers, END_STREAM
    out.writeBytes(frame(6, 0, 0, new byte[8])); // PING
    out.writeBytes(frame(0x20, 0, 0, new byte[] {9, 9, 9, 9})); // an extension type: skipped like DATA
    out.writeBytes(frame(0, 0x1, 5, new byte[300])); // DATA with END_STREAM
    out.writeBytes(frame(3, 0, 5, new byte[] {0, 0, 0, 8})); // RST_STREAM CANCEL
    return out.toByteArray();
  }

  /**
   * Writes {@code wire} (from a file) as: the preface and SETTINGS with send(); one stream's frames
   * in a sendmsg of three iovecs, a frame header cut between two of them; the big frame and its
   * trailers in sendmsg calls of two iovecs (one call when the socket takes it all); then the rest
   * with a frame header cut by a syscall boundary.
   */
  private static String clientScript(int port, Path wire) {
    int settingsEnd = PREFACE.length + settings().length;
    int firstStreamEnd = settingsEnd + headersAndData(1).length;
    int bigEnd = firstStreamEnd + 9 + 7 + 9 + (1 << 20) + 9 + 5;
    return """
        import socket, time
        w = open('%s', 'rb').read()
        c = socket.create_connection(('127.0.0.1', %d))
        c.send(w[:%d])
        a = %d; b = %d; e = %d
        assert c.sendmsg([w[a:a+5], w[a+5:a+9], w[a+9:b]]) == b - a
        sent = 0
        while sent < e - b:
            sent += c.sendmsg([w[b+sent:b+sent+9000], w[b+sent+9000:e]])
        rest = w[e:]
        c.sendall(rest[:4]); time.sleep(0.02)
        c.sendall(rest[4:]); c.close()
        """.formatted(wire, port, settingsEnd, settingsEnd, firstStreamEnd, bigEnd);
  }

  private static byte[] settings() {
    return frame(4, 0, 0, new byte[] {0, 4, 0, 0x10, 0, 0, 0, 5, 0, 0x40, 0, 0}); // INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE 4 MiB
  }

  /** A request: HEADERS (END_HEADERS) with a small literal block, then DATA with END_STREAM. */
  private static byte[] headersAndData(int stream) {
    return concat(frame(1, 0x4, stream, new byte[] {(byte) 0x83, (byte) 0x86, 0x44, 2, '/', 'a'}),
        frame(0, 0x1, stream, "hello".getBytes(StandardCharsets.US_ASCII)));
  }

  static byte[] frame(int type, int flags, int stream, byte[] payload) {
    byte[] f = new byte[9 + payload.length];
    f[0] = (byte) (payload.length >>> 16);
    f[1] = (byte) (payload.length >>> 8);
    f[2] = (byte) payload.length;
    f[3] = (byte) type;
    f[4] = (byte) flags;
    f[5] = (byte) (stream >>> 24);
    f[6] = (byte) (stream >>> 16);
    f[7] = (byte) (stream >>> 8);
    f[8] = (byte) stream;
    System.arraycopy(payload, 0, f, 9, payload.length);
    return f;
  }

  /** The preface, then the frames of {@code wire} with DATA and unknown-type payloads left out. */
  private static byte[] frameStream(byte[] wire) {
    return concat(PREFACE, frameStreamOf(java.util.Arrays.copyOfRange(wire, PREFACE.length, wire.length)));
  }

  private static byte[] frameStreamOf(byte[] frames) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int pos = 0;
    while (pos < frames.length) {
      int length = ((frames[pos] & 0xff) << 16) | ((frames[pos + 1] & 0xff) << 8) | (frames[pos + 2] & 0xff);
      int type = frames[pos + 3] & 0xff;
      out.write(frames, pos, 9);
      if (type != 0 && type <= SocketEvent.H2_LAST_KNOWN_TYPE) {
        out.write(frames, pos + 9, length);
      }
      pos += 9 + length;
    }
    return out.toByteArray();
  }

  /** Records come in stream order, and the last ends where the client's bytes end: skipped reads left no hole. */
  private static void assertSequenceAccountsForSkippedReads(List<Record> records, int wireLength) {
    List<Record> data = records.stream().filter(r -> r.total > 0).toList();
    long first = data.getFirst().sequence;
    long end = 0;
    for (Record r : data) {
      long at = (r.sequence - first) & 0xffffffffL;
      assertThat(at).as("wire offset of a record").isGreaterThanOrEqualTo(end);
      end = at + r.total;
    }
    assertThat(end).isEqualTo(wireLength);
  }

  /** Each record's frame start, counted from the start of the whole stream, falls on a frame header. */
  private static void assertFrameStartsAgree(List<Record> records, byte[] stream) {
    List<Integer> headers = new ArrayList<>();
    for (int pos = PREFACE.length; pos < stream.length; ) {
      headers.add(pos);
      int length = ((stream[pos] & 0xff) << 16) | ((stream[pos + 1] & 0xff) << 8) | (stream[pos + 2] & 0xff);
      int type = stream[pos + 3] & 0xff;
      pos += 9 + (type != 0 && type <= SocketEvent.H2_LAST_KNOWN_TYPE ? length : 0);
    }
    int offset = 0;
    for (Record r : records) {
      if (r.frameStart < r.framesLength) {
        assertThat(headers).as("frame start %d of a record at %d", r.frameStart, offset).contains(offset + r.frameStart);
      }
      offset += r.framesLength;
    }
  }

  private static KernelCapture start(int port) {
    return KernelCapture.start(CaptureConfig.everything((int) ProcessHandle.current().pid()).withPorts(Set.of(port)));
  }

  private static List<Record> drain(KernelCapture capture, Set<Integer> pids) throws InterruptedException {
    List<Record> records = new ArrayList<>();
    SocketEvent view = new SocketEvent();
    long quietSince = System.nanoTime();
    while (System.nanoTime() - quietSince < 300_000_000L) {
      int n = capture.poll((MemorySegment memory, long offset, int length) -> {
        assertThat(view.wrap(memory, offset, length)).isTrue();
        if (view.type() != SocketEvent.TYPE_DATA || !pids.contains(view.tgid())) {
          return;
        }
        byte[] payload = new byte[view.capturedLength()];
        MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, view.payloadOffset(), payload, 0, payload.length);
        records.add(new Record(view.tgid(), view.direction(), view.mode(), view.sequence(), view.totalLength(), payload,
            view.framesLength(), view.frameStart(), view.frameStartWire()));
      });
      if (n > 0) {
        quietSince = System.nanoTime();
      }
      Thread.sleep(10);
    }
    return records;
  }

  private static List<Record> of(List<Record> records, int tgid, byte direction) {
    return records.stream().filter(r -> r.tgid == tgid && r.direction == direction).toList();
  }

  private static byte[] stream(List<Record> records) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Record r : records) {
      assertThat(r.payload.length).as("record cut").isEqualTo(r.framesLength);
      out.writeBytes(r.payload);
    }
    return out.toByteArray();
  }

  private static Process python(String script) throws java.io.IOException {
    return new ProcessBuilder("/usr/bin/python3", "-c", script).redirectErrorStream(true).start();
  }

  private static String output(Process p) {
    try {
      return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(bytes);
  }
}
