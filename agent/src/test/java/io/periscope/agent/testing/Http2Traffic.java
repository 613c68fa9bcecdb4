package io.periscope.agent.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * HTTP/2 traffic for tests: frames, header blocks encoded by netty's HPACK encoder (an
 * independent implementation), and the ring-buffer records the kernel makes of them. The kernel
 * model here follows periscope.bpf.c's frame walk (DATA and unknown-type payloads skipped, a record
 * per syscall, none for a syscall wholly inside a skipped payload); {@code Http2CaptureTest} checks
 * the same rules against the real kernel.
 */
public final class Http2Traffic {
  public static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  public static final int DATA = 0;
  public static final int HEADERS = 1;
  public static final int PRIORITY = 2;
  public static final int RST_STREAM = 3;
  public static final int SETTINGS = 4;
  public static final int PUSH_PROMISE = 5;
  public static final int PING = 6;
  public static final int GOAWAY = 7;
  public static final int WINDOW_UPDATE = 8;
  public static final int CONTINUATION = 9;
  public static final int END_STREAM = 0x1;
  public static final int END_HEADERS = 0x4;
  public static final int PADDED = 0x8;

  private Http2Traffic() {}

  public static byte[] frame(int type, int flags, int stream, byte[] payload) {
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

  /** SETTINGS with these (identifier, value) pairs. */
  public static byte[] settings(long... pairs) {
    byte[] p = new byte[pairs.length / 2 * 6];
    for (int i = 0; i < pairs.length / 2; i++) {
      long id = pairs[2 * i];
      long value = pairs[2 * i + 1];
      p[6 * i] = (byte) (id >>> 8);
      p[6 * i + 1] = (byte) id;
      p[6 * i + 2] = (byte) (value >>> 24);
      p[6 * i + 3] = (byte) (value >>> 16);
      p[6 * i + 4] = (byte) (value >>> 8);
      p[6 * i + 5] = (byte) value;
    }
    return frame(SETTINGS, 0, 0, p);
  }

  public static byte[] data(int stream, int length, boolean endStream) {
    byte[] body = new byte[length];
    Arrays.fill(body, (byte) 'd');
    return frame(DATA, endStream ? END_STREAM : 0, stream, body);
  }

  public static byte[] rst(int stream, int code) {
    return frame(RST_STREAM, 0, stream, new byte[] {(byte) (code >>> 24), (byte) (code >>> 16), (byte) (code >>> 8), (byte) code});
  }

  public static byte[] goAway(int lastStream, int code) {
    return frame(GOAWAY, 0, 0, new byte[] {(byte) (lastStream >>> 24), (byte) (lastStream >>> 16),
        (byte) (lastStream >>> 8), (byte) lastStream, (byte) (code >>> 24), (byte) (code >>> 16), (byte) (code >>> 8),
        (byte) code});
  }

  public static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  /** The header blocks of one direction, encoded by netty, whose dynamic table carries over from block to block. */
  public static final class Hpack {
    private final DefaultHttp2HeadersEncoder encoder = new DefaultHttp2HeadersEncoder();

    /** A header block of these name/value pairs, in order. */
    public byte[] block(String... namesAndValues) {
      Http2Headers headers = new DefaultHttp2Headers(false);
      for (int i = 0; i < namesAndValues.length; i += 2) {
        headers.add(namesAndValues[i], namesAndValues[i + 1]);
      }
      ByteBuf out = Unpooled.buffer();
      try {
        encoder.encodeHeaders(1, headers, out);
      } catch (Http2Exception e) {
        throw new AssertionError(e);
      }
      byte[] bytes = new byte[out.readableBytes()];
      out.readBytes(bytes);
      return bytes;
    }

    /** The next block starts with a dynamic table size update to {@code size}. */
    public void tableSize(long size) {
      try {
        encoder.configuration().maxHeaderTableSize(size);
      } catch (Http2Exception e) {
        throw new AssertionError(e);
      }
    }

    /** A HEADERS frame (END_HEADERS) with these fields. */
    public byte[] headers(int stream, boolean endStream, String... namesAndValues) {
      return frame(HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), stream, block(namesAndValues));
    }
  }

  /** Monotonic time shared by the directions of one test, so that records of different ends are ordered. */
  public static final class Clock {
    private long now;

    long advance(long nanos) {
      return now += nanos;
    }
  }

  /**
   * One direction of one end of a connection, as the kernel records it: each {@link #syscall}
   * becomes a record (or none), with the sequence numbers, times and frame-stream fields the kernel
   * sets. In {@link Mode#FRAMES} the kernel knows the frame boundaries (from the first byte
   * {@link #frames} began at); in {@link Mode#BYTES} it copies raw bytes.
   */
  public static final class Direction {
    public enum Mode { BYTES, FRAMES }

    private final Peer end;
    private final byte direction;
    private Mode mode;
    private long sequence;
    private final Clock clock;
    private int tid;
    private int captureLimit = SocketEvent.MAX_CAPTURE;
    // The kernel's cursor.
    private int remaining;
    private boolean elide;
    private int have;
    private final byte[] header = new byte[9];

    /**
     * @param end      who is on this end: every record carries it
     * @param sequence the TCP sequence number of the direction's next byte
     * @param clock    the time every record takes its times from
     */
    public Direction(Peer end, byte direction, Mode mode, long sequence, Clock clock) {
      this.end = end;
      this.direction = direction;
      this.mode = mode;
      this.sequence = sequence;
      this.clock = clock;
      this.tid = end.tid;
    }

    /** Who is on this end of the connection. */
    public record Peer(int tgid, int tid, String comm, long sock, int fd, byte[] localAddress, int localPort,
        byte[] remoteAddress, int remotePort) {}

    /** The kernel saw the preface start this direction: it is copied like a payload, then frames follow. */
    public Direction afterPreface() {
      remaining = PREFACE.length;
      elide = false;
      return this;
    }

    public Direction mode(Mode mode) {
      this.mode = mode;
      return this;
    }

    public Direction captureLimit(int limit) {
      this.captureLimit = limit;
      return this;
    }

    public Direction thread(int tid) {
      this.tid = tid;
      return this;
    }

    public long sequence() {
      return sequence;
    }

    /** The records of one syscall that moved {@code bytes}: none, when the kernel would skip it. */
    public List<byte[]> syscall(byte[] bytes) {
      long enter = clock.advance(10);
      long exit = clock.advance(5);
      SocketEventEncoder e = mode == Mode.BYTES ? bytesRecord(bytes) : framesRecord(bytes);
      long seq = sequence;
      sequence = (sequence + bytes.length) & 0xffffffffL;
      if (e == null) {
        return List.of();
      }
      return List.of(e.process(end.tgid, tid, end.comm).socket(end.sock, end.fd)
          .endpoints(end.localAddress, end.localPort, end.remoteAddress, end.remotePort)
          .time(enter, exit).sequence(seq).totalLength(bytes.length).encode());
    }

    /** The records of syscalls that moved {@code bytes} in pieces of these sizes (the last piece takes the rest). */
    public List<byte[]> syscalls(byte[] bytes, int... sizes) {
      List<byte[]> records = new ArrayList<>();
      int pos = 0;
      for (int i = 0; pos < bytes.length; i++) {
        int n = i < sizes.length ? Math.min(sizes[i], bytes.length - pos) : bytes.length - pos;
        records.addAll(syscall(Arrays.copyOfRange(bytes, pos, pos + n)));
        pos += n;
      }
      return records;
    }

    private SocketEventEncoder bytesRecord(byte[] bytes) {
      if (bytes.length <= captureLimit) {
        return SocketEventEncoder.data(direction, bytes);
      }
      int tail = Math.min(SocketEvent.TAIL_BYTES, bytes.length - captureLimit);
      return SocketEventEncoder.data(direction, Arrays.copyOf(bytes, captureLimit))
          .tail(Arrays.copyOfRange(bytes, bytes.length - tail, bytes.length));
    }

    private SocketEventEncoder framesRecord(byte[] bytes) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int frameStart = -1;
      int frameStartWire = bytes.length;
      int pos = 0;
      while (pos < bytes.length) {
        if (remaining > 0) {
          int n = Math.min(remaining, bytes.length - pos);
          if (!elide) {
            out.write(bytes, pos, n);
          }
          remaining -= n;
          pos += n;
          continue;
        }
        if (have == 0 && frameStart < 0) {
          frameStart = out.size();
          frameStartWire = pos;
        }
        int n = Math.min(9 - have, bytes.length - pos);
        System.arraycopy(bytes, pos, header, have, n);
        out.write(bytes, pos, n);
        have += n;
        pos += n;
        if (have == 9) {
          remaining = ((header[0] & 0xff) << 16) | ((header[1] & 0xff) << 8) | (header[2] & 0xff);
          int type = header[3] & 0xff;
          elide = type == DATA || type > CONTINUATION;
          have = 0;
        }
      }
      if (out.size() == 0 && remaining > 0) {
        return null; // wholly inside a skipped payload: the next record's sequence number tells
      }
      byte[] stream = out.toByteArray();
      byte[] captured = Arrays.copyOf(stream, Math.min(stream.length, captureLimit));
      return SocketEventEncoder.data(direction, captured).frames(SocketEvent.MODE_H2_FRAMES, stream.length,
          frameStart < 0 ? stream.length : frameStart, frameStart < 0 ? bytes.length : frameStartWire);
    }
  }
}
