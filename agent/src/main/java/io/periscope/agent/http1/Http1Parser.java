package io.periscope.agent.http1;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * Incremental parser for one direction of one HTTP/1.x connection (RFC 9112): requests on the
 * stream a client writes, responses on the stream a server writes. Input arrives as the kernel
 * captured it, in arbitrary pieces (one syscall is not one message), and each piece may end in a
 * <em>gap</em>: bytes the syscall moved but the capture did not copy (the cut at capture_bytes, or a
 * sendfile body). Gaps inside a body are skipped by count; a gap anywhere a parser needs to read
 * (a head, a chunk size) leaves the stream unparseable, and the parser fails.
 *
 * <p>Bodies are never copied: a Content-Length or chunk body is skipped by count. Only message
 * heads are buffered, up to {@link #MAX_HEAD_BYTES}.
 *
 * <p>A failure is reported as data ({@link #failure()}), never thrown: after it the parser ignores
 * all input, so one broken connection costs nothing more.
 */
public final class Http1Parser {
  /** Longest message head (start line and header fields) accepted; longer heads fail the stream. */
  public static final int MAX_HEAD_BYTES = 64 * 1024;
  /** Longest trailer section after a chunked body. */
  public static final int MAX_TRAILER_BYTES = 16 * 1024;
  /** Longest chunk size line, extensions included. */
  public static final int MAX_CHUNK_LINE_BYTES = 4096;
  /** A head buffer grown past this is released after its message, so one huge head is not kept per connection. */
  private static final int RETAINED_HEAD_BYTES = 4096;
  /** CRLF "0" CRLF CRLF: the end of a chunked body without trailers, as 7 bytes in a long. */
  private static final long LAST_CHUNK = 0x0D0A300D0A0D0AL;
  private static final long LAST_CHUNK_MASK = 0xFFFFFFFFFFFFFFL;
  private static final int LAST_CHUNK_LENGTH = 7;
  /** Chunk sizes above this are treated as corrupt input (2^40: a terabyte). */
  private static final long MAX_CHUNK_SIZE = 1L << 40;

  /**
   * Receives messages as they are found, during {@link #feed}: "the current piece" is the one being
   * fed. Called on the parsing thread; must not throw.
   */
  public interface Listener {
    /** A message begins at this offset of the current piece. */
    void onMessageStart(long offsetInPiece);

    /** The message's head was parsed. */
    void onHead(Http1Head head);

    /** The message (head and body) ended in the current piece. */
    void onMessageEnd();

    /** For a response about to be framed: whether the request it answers was HEAD (no body follows). */
    boolean answersHeadRequest();
  }

  enum State {
    IDLE, HEAD, BODY_FIXED, CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, TRAILERS, CHUNK_LOST, BODY_UNTIL_CLOSE, OPAQUE,
    FAILED
  }

  private static final byte[] NO_HEAD = new byte[0];
  private static final byte[] STATUS_LINE_START = "HTTP/1.".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private final boolean requests;
  private final Listener listener;
  private final Http1HeadParser heads = new Http1HeadParser();
  private State state = State.IDLE;
  private byte[] head = new byte[512];
  private int headLength;
  private long remaining;
  private int chunkDigits;
  private boolean chunkExtension;
  private int lineLength;
  private int trailerBytes;
  /** In CHUNK_LOST: the last bytes seen (up to 7), newest in the low byte, and how many are known. */
  private long recent;
  private int recentKnown;
  private boolean switchesProtocol;
  private long opaqueFrom = -1;
  private @Nullable String failure;

  private Http1Parser(boolean requests, Listener listener) {
    this.requests = requests;
    this.listener = listener;
  }

  public static Http1Parser requests(Listener listener) {
    return new Http1Parser(true, listener);
  }

  public static Http1Parser responses(Listener listener) {
    return new Http1Parser(false, listener);
  }

  /**
   * Parses {@code length} captured bytes of {@code data} from {@code offset}, then accounts for
   * {@code gap} bytes that followed them on the wire but were not captured.
   */
  public void feed(MemorySegment data, long offset, int length, long gap) {
    feed(data, offset, length, gap, 0, 0);
  }

  /**
   * Like {@link #feed(MemorySegment, long, int, long)}, then parses {@code tailLength} bytes at
   * {@code tailOffset}: the last bytes the syscall moved, which followed the gap.
   */
  public void feed(MemorySegment data, long offset, int length, long gap, long tailOffset, int tailLength) {
    opaqueFrom = -1;
    parse(data, offset, offset + length, offset);
    if (gap > 0) {
      skipGap(gap);
    }
    if (tailLength > 0) {
      // Offsets reported to the listener count from the start of the piece, gap included.
      parse(data, tailOffset, tailOffset + tailLength, tailOffset - length - gap);
    }
  }

  private void parse(MemorySegment data, long from, long end, long pieceStart) {
    long pos = from;
    while (pos < end && state != State.FAILED && state != State.OPAQUE) {
      pos = switch (state) {
        case IDLE -> idle(data, pos, end, pieceStart);
        case HEAD -> head(data, pos, end);
        case BODY_FIXED -> bodyFixed(pos, end);
        case CHUNK_SIZE -> chunkSize(data, pos, end);
        case CHUNK_DATA -> chunkData(pos, end);
        case CHUNK_DATA_END -> chunkDataEnd(data, pos);
        case TRAILERS -> trailers(data, pos, end);
        case CHUNK_LOST -> chunkLost(data, pos, end);
        case BODY_UNTIL_CLOSE, OPAQUE, FAILED -> end;
      };
    }
    if (state == State.OPAQUE && opaqueFrom < 0 && pos < end) {
      opaqueFrom = pos - pieceStart;
    }
  }

  /**
   * Where, in the piece just fed, the bytes stopped being HTTP/1 (after a 101 or the 2xx to a
   * CONNECT), when that happened in its captured part with bytes left after it; -1 otherwise.
   */
  public long opaqueFrom() {
    return opaqueFrom;
  }

  /** The stream ended (the peer closed it): ends a body delimited by the close, fails one cut short. */
  public void endOfStream() {
    switch (state) {
      case BODY_UNTIL_CLOSE -> messageEnd();
      case IDLE, OPAQUE, FAILED -> { }
      default -> fail("stream ended inside a message (" + state + ")");
    }
  }

  public boolean failed() {
    return state == State.FAILED;
  }

  /**
   * A response whose head is not whole yet: the status its status line gave, once that line is in
   * ({@code HTTP/1.x NNN}: a client may read no more than that before it closes); 0 otherwise.
   */
  public int partialStatus() {
    if (requests || state != State.HEAD || headLength < 13 || head[8] != ' '
        || !Arrays.equals(head, 0, 7, STATUS_LINE_START, 0, 7)) {
      return 0;
    }
    int status = 0;
    for (int i = 9; i < 12; i++) {
      int digit = head[i] - '0';
      if (digit < 0 || digit > 9) {
        return 0;
      }
      status = status * 10 + digit;
    }
    byte after = head[12];
    return status >= 100 && (after == ' ' || after == '\r' || after == '\n') ? status : 0;
  }

  /** Why the stream could not be parsed, or null while it can. */
  public @Nullable String failure() {
    return failure;
  }

  /** After a 101 or a CONNECT tunnel the stream is no longer HTTP/1 and is ignored. */
  public boolean opaque() {
    return state == State.OPAQUE;
  }

  /** The bytes that follow are not HTTP/1 (the other direction switched protocols). */
  public void stop() {
    if (state != State.FAILED) {
      state = State.OPAQUE;
    }
  }

  State state() {
    return state;
  }

  private long idle(MemorySegment data, long pos, long end, long pieceStart) {
    // RFC 9112 §2.2: a recipient should ignore empty lines received before a request line.
    while (pos < end) {
      byte b = data.get(ValueLayout.JAVA_BYTE, pos);
      if (b != '\r' && b != '\n') {
        headLength = 0;
        state = State.HEAD;
        listener.onMessageStart(pos - pieceStart);
        return pos;
      }
      pos++;
    }
    return pos;
  }

  private long head(MemorySegment data, long pos, long end) {
    long scan = pos;
    while (scan < end) {
      if (data.get(ValueLayout.JAVA_BYTE, scan) == '\n') {
        int lineEnd = headLength + (int) (scan - pos);
        if (endsHead(data, pos, scan, lineEnd)) {
          if (!append(data, pos, scan + 1)) {
            return end;
          }
          headComplete();
          return scan + 1;
        }
      }
      scan++;
    }
    append(data, pos, end);
    return end;
  }

  /** Whether the LF at {@code scan} ends an empty line, i.e. the head (the line may span pieces). */
  private boolean endsHead(MemorySegment data, long pos, long scan, int lineEnd) {
    // The byte before this LF, and the one before that, either in this piece or already buffered.
    int previous = byteBefore(data, pos, scan, lineEnd, 1);
    if (previous == '\n') {
      return true;
    }
    return previous == '\r' && byteBefore(data, pos, scan, lineEnd, 2) == '\n';
  }

  private int byteBefore(MemorySegment data, long pos, long scan, int lineEnd, int back) {
    if (scan - back >= pos) {
      return data.get(ValueLayout.JAVA_BYTE, scan - back);
    }
    int index = lineEnd - back;
    return index >= 0 ? head[index] : -1;
  }

  private boolean append(MemorySegment data, long from, long to) {
    int n = (int) (to - from);
    if (headLength + n > MAX_HEAD_BYTES) {
      fail("message head longer than " + MAX_HEAD_BYTES + " bytes");
      return false;
    }
    if (headLength + n > head.length) {
      head = Arrays.copyOf(head, Math.min(MAX_HEAD_BYTES, Math.max(head.length * 2, headLength + n)));
    }
    MemorySegment.copy(data, ValueLayout.JAVA_BYTE, from, head, headLength, n);
    headLength += n;
    return true;
  }

  private void headComplete() {
    Http1Head message = requests ? heads.parseRequest(head, headLength) : heads.parseResponse(head, headLength);
    headLength = 0;
    if (head.length > RETAINED_HEAD_BYTES) {
      head = new byte[512];
    }
    if (message == null) {
      fail(heads.error());
      return;
    }
    listener.onHead(message);
    if (state != State.HEAD) {
      return; // the listener called stop(): framing the body would undo it
    }
    frame(message);
  }

  /** Message body length, RFC 9112 §6.3, in its order of precedence. */
  private void frame(Http1Head message) {
    if (!message.isRequest()) {
      int status = message.status();
      switchesProtocol = status == 101;
      if ((status >= 100 && status < 200) || status == 204 || status == 304 || listener.answersHeadRequest()) {
        messageEnd();
        return;
      }
    }
    if (message.chunked()) {
      startChunk();
    } else if (message.otherTransferEncoding()) {
      if (message.isRequest()) {
        fail("request with a Transfer-Encoding other than chunked"); // §6.3 rule 4: unframeable
      } else {
        state = State.BODY_UNTIL_CLOSE;
      }
    } else if (message.contentLength() > 0) {
      remaining = message.contentLength();
      state = State.BODY_FIXED;
    } else if (message.contentLength() == 0 || message.isRequest()) {
      messageEnd();
    } else {
      state = State.BODY_UNTIL_CLOSE;
    }
  }

  private long bodyFixed(long pos, long end) {
    long n = Math.min(remaining, end - pos);
    remaining -= n;
    if (remaining == 0) {
      messageEnd();
    }
    return pos + n;
  }

  private void startChunk() {
    state = State.CHUNK_SIZE;
    remaining = 0;
    chunkDigits = 0;
    chunkExtension = false;
    lineLength = 0;
  }

  private long chunkSize(MemorySegment data, long pos, long end) {
    while (pos < end) {
      byte b = data.get(ValueLayout.JAVA_BYTE, pos++);
      if (b == '\n') {
        if (chunkDigits == 0) {
          fail("chunk size line without a size");
        } else if (remaining == 0) {
          state = State.TRAILERS;
          lineLength = 0;
          trailerBytes = 0;
        } else {
          state = State.CHUNK_DATA;
        }
        return pos;
      }
      if (++lineLength > MAX_CHUNK_LINE_BYTES) {
        fail("chunk size line longer than " + MAX_CHUNK_LINE_BYTES + " bytes");
        return pos;
      }
      if (chunkExtension || b == '\r') {
        continue;
      }
      int digit = Character.digit(b, 16);
      if (digit >= 0) {
        remaining = remaining * 16 + digit;
        chunkDigits++;
        if (remaining > MAX_CHUNK_SIZE) {
          fail("chunk size too large");
          return pos;
        }
      } else if (b == ';' || b == ' ' || b == '\t') {
        chunkExtension = true; // §7.1.1: extensions are ignored
      } else {
        fail("invalid character in chunk size");
        return pos;
      }
    }
    return pos;
  }

  private long chunkData(long pos, long end) {
    long n = Math.min(remaining, end - pos);
    remaining -= n;
    if (remaining == 0) {
      state = State.CHUNK_DATA_END;
      lineLength = 0;
    }
    return pos + n;
  }

  private long chunkDataEnd(MemorySegment data, long pos) {
    byte b = data.get(ValueLayout.JAVA_BYTE, pos);
    if (b == '\r' && lineLength == 0) {
      lineLength = 1;
    } else if (b == '\n') {
      startChunk();
    } else {
      fail("chunk data not followed by CRLF");
    }
    return pos + 1;
  }

  private long trailers(MemorySegment data, long pos, long end) {
    while (pos < end) {
      byte b = data.get(ValueLayout.JAVA_BYTE, pos++);
      if (++trailerBytes > MAX_TRAILER_BYTES) {
        fail("trailer section longer than " + MAX_TRAILER_BYTES + " bytes");
        return pos;
      }
      if (b == '\n') {
        if (lineLength == 0) {
          messageEnd();
          return pos;
        }
        lineLength = 0;
      } else if (b != '\r') {
        lineLength++;
      }
    }
    return pos;
  }

  private void skipGap(long gap) {
    switch (state) {
      case BODY_FIXED -> {
        if (gap > remaining) {
          fail("capture gap runs past the end of a body"); // the next head is in it
          return;
        }
        remaining -= gap;
        if (remaining == 0) {
          messageEnd();
        }
      }
      case CHUNK_DATA -> {
        if (gap > remaining) {
          loseChunkFraming();
          return;
        }
        remaining -= gap;
        if (remaining == 0) {
          state = State.CHUNK_DATA_END;
          lineLength = 0;
        }
      }
      case CHUNK_SIZE, CHUNK_DATA_END, TRAILERS -> loseChunkFraming();
      case CHUNK_LOST -> recentKnown = 0; // what came before the gap no longer ends the stream
      case BODY_UNTIL_CLOSE, OPAQUE, FAILED -> { }
      default -> fail("capture gap where a message head was expected");
    }
  }

  /**
   * A gap hid chunk framing (a size line, the CRLF after chunk data). The body is then skipped
   * until the bytes seen end with the last chunk, {@code CRLF 0 CRLF CRLF}: a chunked body without
   * trailers ends so. The tail the kernel copies of every cut syscall makes that end visible even
   * in one big read. A body whose data happens to contain that sequence right where framing was
   * lost ends early; one with trailers never ends, and fails at close. Both are counted failures
   * at worst, never a span with another message's bytes.
   */
  private void loseChunkFraming() {
    state = State.CHUNK_LOST;
    recent = 0;
    recentKnown = 0;
  }

  private long chunkLost(MemorySegment data, long pos, long end) {
    while (pos < end) {
      recent = (recent << 8) | (data.get(ValueLayout.JAVA_BYTE, pos++) & 0xff);
      if (recentKnown < LAST_CHUNK_LENGTH) {
        recentKnown++;
      }
      if (recentKnown == LAST_CHUNK_LENGTH && (recent & LAST_CHUNK_MASK) == LAST_CHUNK) {
        messageEnd();
        return pos;
      }
    }
    return pos;
  }

  private void messageEnd() {
    state = State.IDLE;
    listener.onMessageEnd();
    if (switchesProtocol) {
      state = State.OPAQUE;
    }
  }

  private void fail(String reason) {
    state = State.FAILED;
    failure = reason;
    // Nothing is read any more: a head gathered so far (up to MAX_HEAD_BYTES) is let go now, not
    // when the connection closes.
    head = NO_HEAD;
    headLength = 0;
  }
}
