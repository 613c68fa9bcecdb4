package io.periscope.bpf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A reusable view of one {@code struct socket_event} record (periscope.h) and its payload. One
 * instance is re-pointed at each record, so reading the ring buffer allocates nothing; do not keep
 * a reference to a view or its payload past the handler call.
 *
 * <p>The offsets mirror the C struct; {@code SocketEventLayoutTest} checks them against the sizes
 * and offsets the C compiler reports.
 */
public final class SocketEvent {
  public static final int SIZE = 128;
  /** The kernel side's hard cap on payload bytes per record (MAX_CAPTURE). */
  public static final int MAX_CAPTURE = 8192;
  /** Most tail bytes a record carries (TAIL_BYTES). */
  public static final int TAIL_BYTES = 32;

  public static final byte TYPE_DATA = 1;
  public static final byte TYPE_CONN_OPEN = 2;
  public static final byte TYPE_CONN_CLOSE = 3;
  /**
   * The kernel inserted a traceparent line into the request the next data record writes: the
   * payload is the line, {@link #sequence()} the request's first byte, {@link #frameStart()} where
   * in the written bytes the line went.
   */
  public static final byte TYPE_TRACE_INJECTED = 4;
  /**
   * Injection on: a traced server began reading a request with no valid traceparent, and the
   * kernel made the trace id (the payload, 32 hex digits) that its thread's calls carry;
   * {@link #sequence()} is the request's first byte. Comes before that read's data record.
   */
  public static final byte TYPE_TRACE_ROOT = 5;
  /** Bytes of an inserted "traceparent: 00-...-...-01\r\n" line. */
  public static final int TRACEPARENT_LINE = 70;

  public static final byte DIRECTION_INGRESS = 0;
  public static final byte DIRECTION_EGRESS = 1;

  /** The payload is the first bytes the syscall moved (then, when cut, its last ones). */
  public static final byte MODE_BYTES = 0;
  /** The record's payload is TLS plaintext from the TLS library (flags, enum event_flags). */
  public static final byte FLAG_TLS = 1;
  /** A later piece of one syscall that moved an HTTP head longer than the capture (its own seq and length). */
  public static final byte FLAG_HEAD_PIECE = 2;
  /**
   * On a close record: not a close. The agent lost its place on the connection (a TLS read whose call
   * it did not see); what the connection was in the middle of is lost, and it is followed again from
   * what comes next.
   */
  public static final byte FLAG_RESTART = 4;
  /**
   * Records of the connection were lost before this one (overload): on a data record, the start
   * of a request from which it is followed again, as one joined midway; on a close record, the
   * connection ended while shed.
   */
  public static final byte FLAG_LOST_BEFORE = 8;
  /**
   * The payload is the HTTP/2 frame stream of the syscall: every byte it moved but the payloads of
   * DATA frames and of frame types above {@link #H2_LAST_KNOWN_TYPE}, which the kernel skipped.
   */
  public static final byte MODE_H2_FRAMES = 1;
  /** Like {@link #MODE_H2_FRAMES}, but the kernel lost the frame boundaries after {@link #framesLength()}. */
  public static final byte MODE_H2_FRAMES_LOST = 2;
  /** The highest HTTP/2 frame type whose payload the kernel copies (CONTINUATION); DATA (0) is skipped too. */
  public static final int H2_LAST_KNOWN_TYPE = 9;

  public static final byte ORIGIN_UNKNOWN = 0;
  public static final byte ORIGIN_ACCEPT = 1;
  public static final byte ORIGIN_CONNECT = 2;

  static final int OFFSET_TYPE = 0;
  static final int OFFSET_DIRECTION = 1;
  static final int OFFSET_ORIGIN = 2;
  static final int OFFSET_SYSCALL = 3;
  static final int OFFSET_TGID = 4;
  static final int OFFSET_TID = 8;
  static final int OFFSET_FD = 12;
  static final int OFFSET_SOCK = 16;
  static final int OFFSET_ENTER_NS = 24;
  static final int OFFSET_EXIT_NS = 32;
  static final int OFFSET_SEQ = 40;
  static final int OFFSET_TOTAL_LEN = 44;
  static final int OFFSET_CAPTURED_LEN = 48;
  static final int OFFSET_LOCAL_PORT = 52;
  static final int OFFSET_REMOTE_PORT = 54;
  static final int OFFSET_LOCAL_ADDR = 56;
  static final int OFFSET_REMOTE_ADDR = 72;
  static final int OFFSET_COMM = 88;
  static final int OFFSET_TAIL_LEN = 104;
  static final int OFFSET_MODE = 108;
  static final int OFFSET_FLAGS = 109;
  static final int OFFSET_FRAMES_LEN = 112;
  static final int OFFSET_FRAME_START = 116;
  static final int OFFSET_FRAME_START_WIRE = 120;
  static final int COMM_SIZE = 16;
  static final int ADDR_SIZE = 16;

  // The kernel writes host byte order; records are only ever read on the machine that wrote them.
  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

  private MemorySegment memory = MemorySegment.NULL;
  private long base;
  private int length;

  /**
   * Points this view at a record; false (and the view unusable) when the record is too short for
   * its header or its stated payload, which only a corrupt record can be.
   */
  public boolean wrap(MemorySegment memory, long offset, int length) {
    this.memory = memory;
    this.base = offset;
    this.length = length;
    if (length < SIZE) {
      return false;
    }
    int captured = capturedLength();
    int tail = tailLength();
    if (captured < 0 || tail < 0 || tail > TAIL_BYTES || (long) SIZE + captured + tail > length) {
      return false;
    }
    return switch (mode()) {
      case MODE_BYTES -> (long) captured + tail <= totalLength();
      case MODE_H2_FRAMES, MODE_H2_FRAMES_LOST -> tail == 0 && captured <= framesLength()
          && Integer.compareUnsigned(framesLength(), totalLength()) <= 0
          && Integer.compareUnsigned(frameStart(), framesLength()) <= 0
          && Integer.compareUnsigned(frameStartWire(), totalLength()) <= 0;
      default -> false;
    };
  }

  public byte type() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_TYPE);
  }

  public byte direction() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_DIRECTION);
  }

  public byte origin() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_ORIGIN);
  }

  public byte syscall() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_SYSCALL);
  }

  public int tgid() {
    return memory.get(INT, base + OFFSET_TGID);
  }

  public int tid() {
    return memory.get(INT, base + OFFSET_TID);
  }

  public int fd() {
    return memory.get(INT, base + OFFSET_FD);
  }

  /** The kernel address of the socket: identifies the connection while it lives. */
  public long sock() {
    return memory.get(LONG, base + OFFSET_SOCK);
  }

  public long enterNanos() {
    return memory.get(LONG, base + OFFSET_ENTER_NS);
  }

  public long exitNanos() {
    return memory.get(LONG, base + OFFSET_EXIT_NS);
  }

  /** TCP sequence number of the first byte moved, as an unsigned 32-bit value. */
  public long sequence() {
    return Integer.toUnsignedLong(memory.get(INT, base + OFFSET_SEQ));
  }

  /** Bytes the syscall moved; 0 on a read means end of stream. */
  public int totalLength() {
    return memory.get(INT, base + OFFSET_TOTAL_LEN);
  }

  /** Payload bytes present in the record; fewer than {@link #totalLength()} when the capture was cut. */
  public int capturedLength() {
    return memory.get(INT, base + OFFSET_CAPTURED_LEN);
  }

  /**
   * When the payload was cut: how many of the syscall's last bytes follow the payload. The bytes
   * between payload and tail were not captured.
   */
  public int tailLength() {
    return memory.get(INT, base + OFFSET_TAIL_LEN);
  }

  /** What the payload is: {@link #MODE_BYTES}, {@link #MODE_H2_FRAMES} or {@link #MODE_H2_FRAMES_LOST}. */
  public byte mode() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_MODE);
  }

  /** {@link #FLAG_TLS}, or 0. */
  public byte flags() {
    return memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_FLAGS);
  }

  /** The payload is TLS plaintext taken at the TLS library, and the sequence numbers count plaintext bytes. */
  public boolean tls() {
    return (flags() & FLAG_TLS) != 0;
  }

  /** HTTP/2 modes: bytes of frame stream the syscall carried; fewer were captured when the record was cut. */
  public int framesLength() {
    return memory.get(INT, base + OFFSET_FRAMES_LEN);
  }

  /**
   * HTTP/2 modes: where in the frame stream the first frame header beginning in this syscall is
   * ({@link #framesLength()} when none does); the bytes before it end a frame an earlier syscall began.
   */
  public int frameStart() {
    return memory.get(INT, base + OFFSET_FRAME_START);
  }

  /** HTTP/2 modes: that header's offset in the bytes the syscall moved ({@link #totalLength()} when none). */
  public int frameStartWire() {
    return memory.get(INT, base + OFFSET_FRAME_START_WIRE);
  }

  public long tailOffset() {
    return base + SIZE + capturedLength();
  }

  public int localPort() {
    return Short.toUnsignedInt(memory.get(SHORT, base + OFFSET_LOCAL_PORT));
  }

  public int remotePort() {
    return Short.toUnsignedInt(memory.get(SHORT, base + OFFSET_REMOTE_PORT));
  }

  /** Copies the 16-byte local address (IPv4 as v4-mapped IPv6) into {@code dst}. */
  public void localAddress(byte[] dst) {
    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, base + OFFSET_LOCAL_ADDR, dst, 0, ADDR_SIZE);
  }

  public void remoteAddress(byte[] dst) {
    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, base + OFFSET_REMOTE_ADDR, dst, 0, ADDR_SIZE);
  }

  /** The thread's command name (up to 15 characters) when the event was recorded. */
  public String comm() {
    int end = 0;
    while (end < COMM_SIZE && memory.get(ValueLayout.JAVA_BYTE, base + OFFSET_COMM + end) != 0) {
      end++;
    }
    byte[] bytes = new byte[end];
    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, base + OFFSET_COMM, bytes, 0, end);
    return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
  }

  /** The segment holding the payload; read it from {@link #payloadOffset()} for {@link #capturedLength()} bytes. */
  public MemorySegment memory() {
    return memory;
  }

  public long payloadOffset() {
    return base + SIZE;
  }

  /** The record's length as delivered, header included. */
  public int recordLength() {
    return length;
  }
}
