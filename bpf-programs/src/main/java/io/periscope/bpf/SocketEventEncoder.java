package io.periscope.bpf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes records in the kernel's {@code struct socket_event} format: recorded and synthetic events
 * for tests and benchmarks, fed to the same pipeline as live ones.
 */
public final class SocketEventEncoder {
  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

  private byte type = SocketEvent.TYPE_DATA;
  private byte direction;
  private byte origin;
  private int tgid;
  private int tid;
  private int fd;
  private long sock;
  private long enterNanos;
  private long exitNanos;
  private long sequence;
  private int totalLength = -1;
  private int localPort;
  private int remotePort;
  private byte[] localAddress = v4(127, 0, 0, 1);
  private byte[] remoteAddress = v4(127, 0, 0, 1);
  private String comm = "";
  private byte[] payload = new byte[0];
  private byte[] tail = new byte[0];
  private byte mode = SocketEvent.MODE_BYTES;
  private byte flags;
  private int framesLength;
  private int frameStart;
  private int frameStartWire;

  public static SocketEventEncoder data(byte direction, byte[] payload) {
    SocketEventEncoder e = new SocketEventEncoder();
    e.direction = direction;
    e.payload = payload;
    return e;
  }

  public static SocketEventEncoder open(byte origin) {
    SocketEventEncoder e = new SocketEventEncoder();
    e.type = SocketEvent.TYPE_CONN_OPEN;
    e.origin = origin;
    return e;
  }

  /** A {@link SocketEvent#TYPE_TRACE_INJECTED} record: the line the kernel inserted at {@code at}. */
  public static SocketEventEncoder injected(String line, int at) {
    SocketEventEncoder e = data(SocketEvent.DIRECTION_EGRESS, line.getBytes(StandardCharsets.US_ASCII));
    e.type = SocketEvent.TYPE_TRACE_INJECTED;
    e.frameStart = at;
    return e;
  }

  /** A {@link SocketEvent#TYPE_TRACE_ROOT} record: the trace id the kernel made for a request. */
  public static SocketEventEncoder root(String traceId) {
    SocketEventEncoder e = data(SocketEvent.DIRECTION_INGRESS, traceId.getBytes(StandardCharsets.US_ASCII));
    e.type = SocketEvent.TYPE_TRACE_ROOT;
    return e;
  }

  public static SocketEventEncoder close() {
    SocketEventEncoder e = new SocketEventEncoder();
    e.type = SocketEvent.TYPE_CONN_CLOSE;
    return e;
  }

  /** An IPv4 address in the kernel's v4-mapped IPv6 form. */
  public static byte[] v4(int a, int b, int c, int d) {
    byte[] addr = new byte[16];
    addr[10] = (byte) 0xff;
    addr[11] = (byte) 0xff;
    addr[12] = (byte) a;
    addr[13] = (byte) b;
    addr[14] = (byte) c;
    addr[15] = (byte) d;
    return addr;
  }

  public SocketEventEncoder process(int tgid, int tid, String comm) {
    this.tgid = tgid;
    this.tid = tid;
    this.comm = comm;
    return this;
  }

  public SocketEventEncoder socket(long sock, int fd) {
    this.sock = sock;
    this.fd = fd;
    return this;
  }

  public SocketEventEncoder endpoints(byte[] localAddress, int localPort, byte[] remoteAddress, int remotePort) {
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    return this;
  }

  public SocketEventEncoder time(long enterNanos, long exitNanos) {
    this.enterNanos = enterNanos;
    this.exitNanos = exitNanos;
    return this;
  }

  public SocketEventEncoder sequence(long sequence) {
    this.sequence = sequence;
    return this;
  }

  /** Bytes the syscall moved, when more than the payload captured (a cut capture, or sendfile). */
  public SocketEventEncoder totalLength(int totalLength) {
    this.totalLength = totalLength;
    return this;
  }

  /** The last bytes the syscall moved, beyond the captured payload (the kernel copies them when it cuts). */
  public SocketEventEncoder tail(byte[] tail) {
    this.tail = tail;
    return this;
  }

  /** The record's flags ({@link SocketEvent#FLAG_TLS}, ...). */
  public SocketEventEncoder flags(byte flags) {
    this.flags = flags;
    return this;
  }

  /**
   * Marks the payload as an HTTP/2 frame stream (the kernel skipped DATA payloads): {@code mode} is
   * {@link SocketEvent#MODE_H2_FRAMES} or {@link SocketEvent#MODE_H2_FRAMES_LOST}.
   */
  public SocketEventEncoder frames(byte mode, int framesLength, int frameStart, int frameStartWire) {
    this.mode = mode;
    this.framesLength = framesLength;
    this.frameStart = frameStart;
    this.frameStartWire = frameStartWire;
    return this;
  }

  public byte[] encode() {
    byte[] record = new byte[SocketEvent.SIZE + payload.length + tail.length];
    MemorySegment m = MemorySegment.ofArray(record);
    m.set(ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_TYPE, type);
    m.set(ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_DIRECTION, direction);
    m.set(ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_ORIGIN, origin);
    m.set(INT, SocketEvent.OFFSET_TGID, tgid);
    m.set(INT, SocketEvent.OFFSET_TID, tid);
    m.set(INT, SocketEvent.OFFSET_FD, fd);
    m.set(LONG, SocketEvent.OFFSET_SOCK, sock);
    m.set(LONG, SocketEvent.OFFSET_ENTER_NS, enterNanos);
    m.set(LONG, SocketEvent.OFFSET_EXIT_NS, exitNanos);
    m.set(INT, SocketEvent.OFFSET_SEQ, (int) sequence);
    m.set(INT, SocketEvent.OFFSET_TOTAL_LEN, totalLength < 0 ? payload.length + tail.length : totalLength);
    m.set(INT, SocketEvent.OFFSET_CAPTURED_LEN, payload.length);
    m.set(SHORT, SocketEvent.OFFSET_LOCAL_PORT, (short) localPort);
    m.set(SHORT, SocketEvent.OFFSET_REMOTE_PORT, (short) remotePort);
    MemorySegment.copy(localAddress, 0, m, ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_LOCAL_ADDR, 16);
    MemorySegment.copy(remoteAddress, 0, m, ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_REMOTE_ADDR, 16);
    byte[] name = comm.getBytes(StandardCharsets.UTF_8);
    MemorySegment.copy(name, 0, m, ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_COMM,
        Math.min(name.length, SocketEvent.COMM_SIZE - 1));
    MemorySegment.copy(payload, 0, m, ValueLayout.JAVA_BYTE, SocketEvent.SIZE, payload.length);
    m.set(INT, SocketEvent.OFFSET_TAIL_LEN, tail.length);
    MemorySegment.copy(tail, 0, m, ValueLayout.JAVA_BYTE, SocketEvent.SIZE + payload.length, tail.length);
    m.set(ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_MODE, mode);
    m.set(ValueLayout.JAVA_BYTE, SocketEvent.OFFSET_FLAGS, flags);
    m.set(INT, SocketEvent.OFFSET_FRAMES_LEN, framesLength);
    m.set(INT, SocketEvent.OFFSET_FRAME_START, frameStart);
    m.set(INT, SocketEvent.OFFSET_FRAME_START_WIRE, frameStartWire);
    return record;
  }
}
