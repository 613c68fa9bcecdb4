package io.periscope.agent.http2;

import io.periscope.bpf.SocketEvent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.jspecify.annotations.Nullable;

/**
 * One direction of one HTTP/2 connection, turned back into frames (RFC 9113 §4) from the records
 * the kernel captured: raw bytes, or the frame stream (every byte but the payloads of DATA frames
 * and of unknown frame types, which the kernel skipped). An explicit state machine over arbitrary
 * pieces: a frame may span many records, a record hold many frames.
 *
 * <p>Bytes can be lost: a ring-buffer drop or a cut capture shows as a hole in the TCP sequence
 * numbers or in a record. Then this direction is <em>lost</em> ({@link Listener#onLost}): it waits
 * for a frame-stream record, whose {@link SocketEvent#frameStart()} says where a frame begins, and
 * goes on from there. (A hole inside a skipped payload is no loss: the kernel does not record a
 * syscall that moved nothing but skipped payload bytes.)
 *
 * <p>Bytes that break the protocol (RFC 9113 §4.2 frame sizes, §6 per-type lengths and stream
 * rules, §6.10 CONTINUATION sequences, a wrong preface) fail the reader: reported as data
 * ({@link #failure()}), never thrown; it ignores everything after.
 */
public final class Http2FrameReader {
  public static final int FRAME_HEADER = 9;
  /** SETTINGS_MAX_FRAME_SIZE until the receiver says otherwise (RFC 9113 §6.5.2). */
  public static final int DEFAULT_MAX_FRAME_SIZE = 16_384;
  /** Longest header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs) kept for decoding; longer ones are skipped. */
  public static final int MAX_HEADER_BLOCK = 64 * 1024;
  /** Longest SETTINGS payload accepted (a real peer sends a handful of settings). */
  public static final int MAX_SETTINGS_PAYLOAD = 64 * 6;

  static final int DATA = 0;
  static final int HEADERS = 1;
  static final int PRIORITY = 2;
  static final int RST_STREAM = 3;
  static final int SETTINGS = 4;
  static final int PUSH_PROMISE = 5;
  static final int PING = 6;
  static final int GOAWAY = 7;
  static final int WINDOW_UPDATE = 8;
  static final int CONTINUATION = 9;

  /** RFC 9113 §6.5.2 setting identifiers. */
  public static final int SETTINGS_HEADER_TABLE_SIZE = 0x1;
  public static final int SETTINGS_MAX_FRAME_SIZE = 0x5;

  static final int FLAG_END_STREAM = 0x1;
  static final int FLAG_ACK = 0x1;
  static final int FLAG_END_HEADERS = 0x4;
  static final int FLAG_PADDED = 0x8;
  static final int FLAG_PRIORITY = 0x20;

  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** What the frames say. Called during {@link #feed}; must not throw. */
  public interface Listener {
    /**
     * The header block of a HEADERS frame (and its CONTINUATIONs), its first {@code length} bytes in
     * {@code block}. {@code truncated}: only a prefix is there, the rest was not captured (the kernel
     * cut the syscall) or was longer than {@link #MAX_HEADER_BLOCK}.
     */
    void onHeaders(int stream, boolean endStream, byte[] block, int length, boolean truncated);

    /** A PUSH_PROMISE's header block: decoded for the compression state, never a span. */
    void onPushPromise(int stream, byte[] block, int length, boolean truncated);

    /** A DATA frame ended (its payload is never seen). */
    void onData(int stream, boolean endStream);

    void onReset(int stream, long errorCode);

    /** A SETTINGS frame (not an ACK): {@code count} settings, identifiers and values, in order. */
    void onSettings(int[] ids, long[] values, int count);

    void onGoAway(int lastStream, long errorCode);

    /** Bytes of this direction were lost: frames, and changes to the compression state, may be missing. */
    void onLost();
  }

  private enum State { START, PREFACE, HEADER, PAYLOAD, LOST, FAILED }

  private final Listener listener;
  private State state;
  private @Nullable String failure;
  /** The first frames came right after the preface, or the first frame was SETTINGS: the direction is seen from its start. */
  private boolean fromStart;
  private int maxFrameSize = Integer.MAX_VALUE;
  private boolean settingsMayStart;
  /** The next frame is a direction's first: RFC 9113 §3.4 says it is SETTINGS. */
  private boolean expectSettings;

  // The record being fed.
  private long recordSequence;
  private int recordTotal;
  private long recordEnter;
  private long recordExit;
  private int recordTid;
  private int wire; // offset in the record's bytes on the wire
  private long expectedSequence = -1;

  // The frame being read.
  private final byte[] header = new byte[FRAME_HEADER];
  private int headerHave;
  private int length;
  private int type;
  private int flags;
  private int stream;
  private int remaining; // payload bytes still to come
  private int payloadPos; // payload bytes seen
  private int padLength;
  private long frameSequence;
  private long frameEnter;
  private long frameExit;
  private int frameTid;
  private int prefaceHave;
  /** Frames are read again after a loss: a header block's CONTINUATIONs may come first, without their HEADERS. */
  private boolean afterResync;

  // Small fixed-size payloads (SETTINGS, RST_STREAM, GOAWAY's first 8 bytes, ...).
  private final byte[] small = new byte[MAX_SETTINGS_PAYLOAD];
  private int smallHave;
  private final int[] settingIds = new int[MAX_SETTINGS_PAYLOAD / 6];
  private final long[] settingValues = new long[MAX_SETTINGS_PAYLOAD / 6];

  // The header block being assembled.
  private byte[] block = new byte[1024];
  private int blockLength;
  /** Bytes of the block are missing after {@link #blockLength}: too long to keep, or not captured. */
  private boolean blockTruncated;
  private int blockStream; // 0: no block open
  private boolean blockEndStream;
  private boolean blockIsPush;
  private long blockSequence;
  private long blockEnter;
  private long blockExit;
  private int blockTid;

  /**
   * A reader for a direction whose first bytes are yet to come: the preface, or a record to find
   * frames in. With {@code seenOpening} (the agent saw the connection made), a SETTINGS frame at the
   * start of the first record is the direction's first frame, so nothing was missed.
   */
  public static Http2FrameReader awaitingStart(Listener listener, boolean seenOpening) {
    Http2FrameReader reader = new Http2FrameReader(listener, State.START);
    reader.settingsMayStart = seenOpening;
    return reader;
  }

  /** A reader whose next byte begins a frame: the server's side after an HTTP/1.1 {@code Upgrade: h2c}. */
  public static Http2FrameReader atFrameBoundary(Listener listener) {
    Http2FrameReader reader = new Http2FrameReader(listener, State.HEADER);
    reader.fromStart = true;
    reader.expectSettings = true;
    return reader;
  }

  private Http2FrameReader(Listener listener, State state) {
    this.listener = listener;
    this.state = state;
  }

  /** The receiver's SETTINGS_MAX_FRAME_SIZE: frames longer than this are a protocol error. */
  public void setMaxFrameSize(long size) {
    maxFrameSize = (int) Math.min(Math.max(size, DEFAULT_MAX_FRAME_SIZE), Integer.MAX_VALUE);
  }

  /** The direction was seen from its first frame, so every compression state change is seen too (until a loss). */
  public boolean fromStart() {
    return fromStart;
  }

  public boolean failed() {
    return state == State.FAILED;
  }

  public @Nullable String failure() {
    return failure;
  }

  /** Where the frame whose header block was delivered last began: the record's times and thread, its TCP sequence number. */
  public long blockSequence() {
    return blockSequence;
  }

  public long blockEnterNanos() {
    return blockEnter;
  }

  public long blockExitNanos() {
    return blockExit;
  }

  public int blockTid() {
    return blockTid;
  }

  /** The exit time of the record in which the frame just delivered ended. */
  public long recordExitNanos() {
    return recordExit;
  }

  /** Feeds one data record of this direction. */
  public void feed(SocketEvent event) {
    feed(event, 0);
  }

  /**
   * Feeds a data record from {@code offset} of its payload (the bytes before it belonged to
   * another protocol: the HTTP/1.1 101 that switched to HTTP/2). Only raw records have an offset.
   */
  public void feed(SocketEvent event, int offset) {
    int total = event.totalLength();
    if (state == State.FAILED || total == 0) {
      return; // at the end of stream, the connection's close says what was left open
    }
    boolean first = state == State.START;
    recordSequence = event.sequence();
    recordTotal = total;
    recordEnter = event.enterNanos();
    recordExit = event.exitNanos();
    recordTid = event.tid();
    wire = offset;
    if (!first && expectedSequence >= 0) {
      checkContinuity();
    }
    expectedSequence = (recordSequence + recordTotal) & 0xffffffffL;
    if (event.mode() == SocketEvent.MODE_BYTES) {
      feedBytes(event, first, offset);
    } else {
      feedFrames(event, first);
    }
  }

  /** A raw record: every byte the syscall moved, unless the capture was cut (then a gap, then its last bytes). */
  private void feedBytes(SocketEvent event, boolean first, int offset) {
    MemorySegment data = event.memory();
    int captured = event.capturedLength() - offset;
    long payload = event.payloadOffset() + offset;
    if (first) {
      if (!beginsWithPreface(data, payload, captured)) {
        state = State.LOST; // raw bytes of a connection joined midway: wait for a frame-stream record
        return;
      }
      startWithPreface();
    }
    if (state == State.LOST) {
      return;
    }
    consume(data, payload, captured, false);
    int tail = event.tailLength();
    long gap = (long) event.totalLength() - event.capturedLength() - tail;
    if (gap > 0) {
      skipWire(gap);
    }
    if (tail > 0) {
      consume(data, event.tailOffset(), tail, false);
    }
  }

  /** A frame-stream record: where the first frame in it begins is known, so a lost reader starts again here. */
  private void feedFrames(SocketEvent event, boolean first) {
    MemorySegment data = event.memory();
    long payload = event.payloadOffset();
    int captured = event.capturedLength();
    int start = 0;
    if (first && beginsWithPreface(data, payload, captured)) {
      startWithPreface();
    } else if (first || state == State.LOST) {
      start = event.frameStart();
      if (start >= captured) {
        state = State.LOST; // no frame begins in what was captured
        return;
      }
      state = State.HEADER;
      headerHave = 0;
      blockStream = 0;
      afterResync = true;
      wire = event.frameStartWire();
      // The direction's very first frame (a SETTINGS, which each side sends first) means nothing was missed.
      fromStart = first && settingsMayStart && wire == 0 && isSettings(data, payload, captured);
    }
    consume(data, payload + start, captured - start, true);
    if (state == State.FAILED || state == State.LOST) {
      return;
    }
    if (captured < event.framesLength() && !cutInHeaderBlock(event.framesLength() - captured)) {
      lose(); // the record was cut at the capture limit, and more than one header block's end is missing
    } else if (event.mode() == SocketEvent.MODE_H2_FRAMES_LOST || wire != recordTotal) {
      lose(); // the kernel lost the boundaries, or the frames did not fit the bytes moved
    }
  }

  private void checkContinuity() {
    if (recordSequence == expectedSequence) {
      return;
    }
    long hole = (recordSequence - expectedSequence) & 0xffffffffL;
    if (state == State.PAYLOAD && !inFrameStream() && hole < remaining) {
      remaining -= (int) hole; // syscalls inside a skipped payload, which the kernel does not record
    } else {
      lose();
    }
  }

  /** The bytes are the preface, or (a client that wrote it in pieces) its beginning. */
  private static boolean beginsWithPreface(MemorySegment data, long offset, int length) {
    if (length == 0) {
      return false;
    }
    for (int i = 0; i < Math.min(length, PREFACE.length); i++) {
      if (data.get(ValueLayout.JAVA_BYTE, offset + i) != PREFACE[i]) {
        return false;
      }
    }
    return true;
  }

  private void startWithPreface() {
    state = State.PREFACE;
    fromStart = true;
    expectSettings = true;
  }

  private static boolean isSettings(MemorySegment data, long offset, int length) {
    return length >= FRAME_HEADER && data.get(ValueLayout.JAVA_BYTE, offset + 3) == SETTINGS
        && (data.get(ValueLayout.JAVA_BYTE, offset + 4) & FLAG_ACK) == 0;
  }

  /**
   * Parses {@code length} bytes of frame stream at {@code offset}. In a frame-stream piece
   * ({@code skipped}), DATA and unknown-type payloads are absent: their bytes are counted on the
   * wire, not read.
   */
  private void consume(MemorySegment data, long offset, int length, boolean skipped) {
    long pos = offset;
    long end = offset + length;
    while (state != State.FAILED && state != State.LOST) {
      if (state == State.PAYLOAD && skipped && !inFrameStream()) {
        int n = Math.min(remaining, recordTotal - wire);
        remaining -= n;
        wire += n;
        if (remaining > 0) {
          if (pos < end) {
            lose(); // frame-stream bytes where the kernel said a skipped payload went on
          }
          return;
        }
        frameEnd();
        continue;
      }
      if (pos >= end) {
        return;
      }
      switch (state) {
        case PREFACE -> {
          int n = (int) Math.min(PREFACE.length - prefaceHave, end - pos);
          for (int i = 0; i < n; i++) {
            if (data.get(ValueLayout.JAVA_BYTE, pos + i) != PREFACE[prefaceHave + i]) {
              fail("not the HTTP/2 connection preface (RFC 9113 §3.4)");
              return;
            }
          }
          prefaceHave += n;
          pos += n;
          wire += n;
          if (prefaceHave == PREFACE.length) {
            state = State.HEADER;
          }
        }
        case HEADER -> {
          if (headerHave == 0) {
            frameSequence = (recordSequence + wire) & 0xffffffffL;
            frameEnter = recordEnter;
            frameExit = recordExit;
            frameTid = recordTid;
          }
          int n = (int) Math.min(FRAME_HEADER - headerHave, end - pos);
          MemorySegment.copy(data, ValueLayout.JAVA_BYTE, pos, header, headerHave, n);
          headerHave += n;
          pos += n;
          wire += n;
          if (headerHave == FRAME_HEADER) {
            headerHave = 0;
            frameStart();
          }
        }
        case PAYLOAD -> {
          int n = (int) Math.min(remaining, end - pos);
          if (keptPayload()) {
            payload(data, pos, n);
            if (state == State.FAILED) {
              return; // the payload broke the protocol: its frame must not end, or the reader would go on
            }
          }
          remaining -= n;
          pos += n;
          wire += n;
          if (remaining == 0) {
            frameEnd();
          }
        }
        default -> {
          return;
        }
      }
    }
  }

  /**
   * Bytes on the wire that were not captured (a cut raw record, before its tail): fine inside a
   * skipped payload or a header block's frame; a loss when they hide a frame boundary.
   */
  private void skipWire(long gap) {
    if (state == State.PAYLOAD && !inFrameStream() && gap <= remaining) {
      remaining -= (int) gap;
      wire += (int) gap;
      if (remaining == 0) {
        frameEnd();
      }
    } else if (state != State.FAILED && !cutInHeaderBlock(gap)) {
      lose();
    }
  }

  /**
   * The capture missed {@code missing} bytes inside a header block's frame (a large header block, a
   * big cookie say, cut at the capture limit): what was captured of the block is still decoded
   * (pseudo-headers come first), the rest is unknown. Returns whether the missing bytes were all in
   * that frame's payload, so that the frame boundaries are still known.
   */
  private boolean cutInHeaderBlock(long missing) {
    if (state != State.PAYLOAD || (type != HEADERS && type != PUSH_PROMISE && type != CONTINUATION)) {
      return false;
    }
    int skip = (int) Math.min(missing, remaining);
    blockTruncated = true;
    remaining -= skip;
    payloadPos += skip;
    wire += skip;
    if (remaining == 0) {
      frameEnd();
    }
    return missing == skip && state != State.FAILED;
  }

  /** DATA and unknown types: the kernel skips their payloads, and so do we. */
  private boolean keptPayload() {
    return type > DATA && type <= SocketEvent.H2_LAST_KNOWN_TYPE;
  }

  /** Whether the current frame's payload is in a frame-stream record (everything but DATA and unknown types). */
  private boolean inFrameStream() {
    return type == -1 || keptPayload();
  }

  /** A frame header is complete: validate it (RFC 9113 §4.2, §6), then read its payload. */
  private void frameStart() {
    length = ((header[0] & 0xff) << 16) | ((header[1] & 0xff) << 8) | (header[2] & 0xff);
    type = header[3] & 0xff;
    flags = header[4] & 0xff;
    stream = ((header[5] & 0x7f) << 24) | ((header[6] & 0xff) << 16) | ((header[7] & 0xff) << 8) | (header[8] & 0xff);
    remaining = length;
    payloadPos = 0;
    padLength = 0;
    smallHave = 0;
    if (expectSettings) {
      expectSettings = false;
      if (type != SETTINGS || (flags & FLAG_ACK) != 0) {
        fail("the connection preface must be a SETTINGS frame, not " + name(type) + " (RFC 9113 §3.4)");
        return;
      }
    }
    if (length > maxFrameSize) {
      fail("frame of " + length + " bytes, above SETTINGS_MAX_FRAME_SIZE " + maxFrameSize + " (RFC 9113 §4.2)");
      return;
    }
    if (afterResync && type == CONTINUATION && blockStream == 0) {
      type = -1; // the rest of a header block whose start was lost: skipped like an unknown frame
      state = State.PAYLOAD;
      if (remaining == 0) {
        frameEnd();
      }
      return;
    }
    afterResync = false;
    if (blockStream != 0 && (type != CONTINUATION || stream != blockStream)) {
      fail("frame type " + type + " inside a header block of stream " + blockStream + " (RFC 9113 §6.10)");
      return;
    }
    String invalid = switch (type) {
      case DATA, HEADERS -> stream == 0 ? "on stream 0" : null;
      case PRIORITY -> stream == 0 ? "on stream 0" : length != 5 ? "not 5 bytes long" : null;
      case RST_STREAM -> stream == 0 ? "on stream 0" : length != 4 ? "not 4 bytes long" : null;
      case SETTINGS -> stream != 0 ? "not on stream 0" : length % 6 != 0 ? "not a multiple of 6 bytes"
          : (flags & FLAG_ACK) != 0 && length != 0 ? "an ACK with a payload"
          : length > MAX_SETTINGS_PAYLOAD ? "longer than " + MAX_SETTINGS_PAYLOAD + " bytes" : null;
      case PUSH_PROMISE -> stream == 0 ? "on stream 0" : length < 4 ? "shorter than 4 bytes" : null;
      case PING -> stream != 0 ? "not on stream 0" : length != 8 ? "not 8 bytes long" : null;
      case GOAWAY -> stream != 0 ? "not on stream 0" : length < 8 ? "shorter than 8 bytes" : null;
      case WINDOW_UPDATE -> length != 4 ? "not 4 bytes long" : null;
      case CONTINUATION -> blockStream == 0 ? "without a HEADERS or PUSH_PROMISE before it" : null;
      default -> null; // unknown types are ignored (RFC 9113 §4.1)
    };
    if (invalid != null) {
      fail(name(type) + " frame " + invalid + " (RFC 9113 §6)");
      return;
    }
    if (type == HEADERS || type == PUSH_PROMISE) {
      blockStream = stream;
      blockLength = 0;
      blockTruncated = false;
      blockEndStream = type == HEADERS && (flags & FLAG_END_STREAM) != 0;
      blockIsPush = type == PUSH_PROMISE;
      blockSequence = frameSequence;
      blockEnter = frameEnter;
      blockExit = frameExit;
      blockTid = frameTid;
    }
    state = State.PAYLOAD;
    if (remaining == 0) {
      frameEnd();
    }
  }

  /** Payload bytes of a kept frame: header block fragments go to the block, small payloads to {@link #small}. */
  private void payload(MemorySegment data, long pos, int n) {
    for (int i = 0; i < n; i++) {
      int at = payloadPos++;
      byte b = data.get(ValueLayout.JAVA_BYTE, pos + i);
      if (type == HEADERS || type == PUSH_PROMISE || type == CONTINUATION) {
        blockByte(at, b);
      } else if (at < small.length) {
        small[at] = b;
        smallHave = at + 1;
      }
    }
  }

  /**
   * One byte of a HEADERS, PUSH_PROMISE or CONTINUATION payload: the pad length, priority fields and
   * promised stream id (RFC 9113 §6.2, §6.6) are skipped, the fragment kept, the padding dropped.
   */
  private void blockByte(int at, byte b) {
    boolean padded = type != CONTINUATION && (flags & FLAG_PADDED) != 0;
    int prefix = padded ? 1 : 0;
    if (type == HEADERS && (flags & FLAG_PRIORITY) != 0) {
      prefix += 5;
    } else if (type == PUSH_PROMISE) {
      prefix += 4;
    }
    if (padded && at == 0) {
      padLength = b & 0xff;
      if (padLength + prefix > length) {
        fail("padding longer than the frame (RFC 9113 §6.2)");
      }
      return;
    }
    if (at < prefix || at >= length - padLength) {
      return;
    }
    if (blockTruncated) {
      return;
    }
    if (blockLength == MAX_HEADER_BLOCK) {
      blockTruncated = true; // too long to keep: what follows is skipped, and its fields unknown
      return;
    }
    if (blockLength == block.length) {
      block = java.util.Arrays.copyOf(block, Math.min(MAX_HEADER_BLOCK, block.length * 2));
    }
    block[blockLength++] = b;
  }

  private void frameEnd() {
    state = State.HEADER;
    switch (type) {
      case DATA -> listener.onData(stream, (flags & FLAG_END_STREAM) != 0);
      case HEADERS, PUSH_PROMISE, CONTINUATION -> {
        if (type != CONTINUATION && (flags & FLAG_PADDED) != 0 && length == 0) {
          fail("PADDED frame without a pad length (RFC 9113 §6.2)");
          return;
        }
        if ((flags & FLAG_END_HEADERS) != 0) {
          int s = blockStream;
          blockStream = 0;
          if (blockIsPush) {
            listener.onPushPromise(s, block, blockLength, blockTruncated);
          } else {
            listener.onHeaders(s, blockEndStream, block, blockLength, blockTruncated);
          }
        }
      }
      case RST_STREAM -> listener.onReset(stream, u32(small, 0));
      case SETTINGS -> {
        if ((flags & FLAG_ACK) == 0) {
          int count = smallHave / 6;
          for (int i = 0; i < count; i++) {
            settingIds[i] = ((small[6 * i] & 0xff) << 8) | (small[6 * i + 1] & 0xff);
            settingValues[i] = u32(small, 6 * i + 2);
          }
          listener.onSettings(settingIds, settingValues, count);
        }
      }
      case GOAWAY -> listener.onGoAway((int) (u32(small, 0) & 0x7fffffff), u32(small, 4));
      default -> { } // PRIORITY, PING, WINDOW_UPDATE, unknown types: nothing for tracing
    }
  }

  private static long u32(byte[] b, int at) {
    return ((long) (b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
  }

  private void lose() {
    if (state == State.FAILED || state == State.LOST) {
      return;
    }
    boolean wasStarted = state != State.START;
    state = State.LOST;
    headerHave = 0;
    blockStream = 0;
    if (wasStarted) {
      listener.onLost();
    }
  }

  private void fail(String why) {
    failure = why;
    state = State.FAILED;
  }

  private static String name(int type) {
    return switch (type) {
      case DATA -> "DATA";
      case HEADERS -> "HEADERS";
      case PRIORITY -> "PRIORITY";
      case RST_STREAM -> "RST_STREAM";
      case SETTINGS -> "SETTINGS";
      case PUSH_PROMISE -> "PUSH_PROMISE";
      case PING -> "PING";
      case GOAWAY -> "GOAWAY";
      case WINDOW_UPDATE -> "WINDOW_UPDATE";
      case CONTINUATION -> "CONTINUATION";
      default -> "type " + type;
    };
  }
}
