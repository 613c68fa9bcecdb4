package io.periscope.agent.http1;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.periscope.agent.testing.FuzzInput;
import io.periscope.agent.testing.RetainedMemory;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of the HTTP/1 head parser and message framing, with their properties:
 * bytes split anywhere parse as in one piece and byte by byte; a head holds only what its bytes
 * say; a capture gap never makes a message of bytes that did not begin one; the head buffer stays
 * within its limit. Inputs are {@link FuzzInput}s; flag bit 0 picks responses, bits 1-7 say which
 * responses answer a HEAD request.
 */
class Http1ParserFuzzTest {
  /** CRLF "0" CRLF CRLF: where a parser that lost a chunked body's framing finds its end again. */
  private static final byte[] LAST_CHUNK = "\r\n0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);

  /** One complete head: what the parser makes of it is in its bytes, and follows RFC 9112's rules. */
  @FuzzTest
  void heads(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    byte[] bytes = input.whole();
    boolean responses = input.flag(0);
    Http1HeadParser parser = new Http1HeadParser();
    Http1Head head = responses ? parser.parseResponse(bytes, bytes.length) : parser.parseRequest(bytes, bytes.length);
    if (head == null) {
      assertThat(parser.error()).isNotNull();
      return;
    }
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    assertThat(head.isRequest()).isEqualTo(!responses);
    if (responses) {
      assertThat(head.status()).isBetween(100, 999);
      assertThat(text).startsWith("HTTP/1." + head.minorVersion() + " " + head.status());
    } else {
      assertThat(text).startsWith(head.method() + " " + head.target() + " ");
      assertThat(head.method()).hasSizeBetween(1, 32).doesNotContain(" ", "\r", "\n", ":");
      assertThat(head.target()).isNotEmpty().doesNotContain(" ", "\r", "\n", "\t");
    }
    assertThat(head.minorVersion()).isBetween(0, 9);
    assertThat(head.contentLength()).isGreaterThanOrEqualTo(-1);
    if (head.chunked() || head.otherTransferEncoding()) {
      assertThat(head.contentLength()).as("Transfer-Encoding overrides Content-Length").isEqualTo(-1);
    }
    assertThat(head.chunked() && head.otherTransferEncoding()).isFalse();
    for (String value : new String[] {head.host(), head.userAgent(), head.traceparent(), head.tracestate(),
        head.upgrade()}) {
      if (value != null) {
        assertThat(text).as("a field value is the bytes sent").contains(value);
      }
    }
  }

  /** A stream of messages fed whole, byte by byte, and in the pieces the fuzzer cuts: the same messages, the same failure. */
  @FuzzTest
  void splitAnywhere(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    byte[] bytes = input.whole();
    Run whole = new Run(input);
    whole.feed(bytes);
    whole.end();
    Run split = new Run(input);
    for (byte[] piece : input.pieces(bytes)) {
      split.feed(piece);
    }
    split.end();
    assertThat(split.events).isEqualTo(whole.events);
    assertThat(split.parser.failure()).isEqualTo(whole.parser.failure());
    if (bytes.length <= 4096) {
      Run byByte = new Run(input);
      for (byte b : bytes) {
        byByte.feed(new byte[] {b});
      }
      byByte.end();
      assertThat(byByte.events).isEqualTo(whole.events);
      assertThat(byByte.parser.failure()).isEqualTo(whole.parser.failure());
    }
  }

  /**
   * Each piece is a syscall the kernel may have captured only in part: its first bytes, a gap,
   * its last 32. The gap may fail the stream, but every message found begins where a message
   * begins in the whole stream, with the same head: nothing is made of bytes that were not one.
   * The exception is documented: after a gap in a chunked body, the body ends at the first CRLF 0
   * CRLF CRLF, which a body's own data may hold.
   */
  @FuzzTest
  void gapsAndTails(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    byte[] bytes = input.whole();
    Run whole = new Run(input);
    whole.feed(bytes);
    List<byte[]> pieces = input.pieces(bytes);
    Run cut = new Run(input);
    int[] captureLimits = input.cuts();
    for (int i = 0; i < pieces.size(); i++) {
      int limit = captureLimits.length == 0 ? 16 : 1 + captureLimits[i % captureLimits.length] % 64;
      cut.feedCaptured(pieces.get(i), limit);
    }
    if (indexOf(bytes, LAST_CHUNK, 0) >= 0 && lastChunkInsideABody(bytes, input)) {
      return;
    }
    for (int i = 0; i < cut.starts.size(); i++) {
      long at = cut.starts.get(i);
      int same = whole.starts.indexOf(at);
      assertThat(same).as("a message found at %d, where none begins in the whole stream", at).isGreaterThanOrEqualTo(0);
      if (i < cut.heads.size() && same < whole.heads.size()) {
        assertThat(cut.heads.get(i)).isEqualTo(whole.heads.get(same));
      }
    }
  }

  /** Whether a CRLF 0 CRLF CRLF in the bytes is not where a message ends. */
  private static boolean lastChunkInsideABody(byte[] bytes, FuzzInput input) {
    Run byByte = new Run(input);
    for (byte b : bytes) {
      byByte.feed(new byte[] {b}); // each message's end is at the byte that ended it
    }
    for (int i = indexOf(bytes, LAST_CHUNK, 0); i >= 0; i = indexOf(bytes, LAST_CHUNK, i + 1)) {
      if (!byByte.ends.contains((long) i + LAST_CHUNK.length)) {
        return true;
      }
    }
    return false;
  }

  private static int indexOf(byte[] bytes, byte[] part, int from) {
    outer:
    for (int i = from; i + part.length <= bytes.length; i++) {
      for (int j = 0; j < part.length; j++) {
        if (bytes[i + j] != part[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** One parser over one stream, and what it reported, in absolute stream offsets. */
  private static final class Run implements Http1Parser.Listener {
    final List<String> events = new ArrayList<>();
    final List<Long> starts = new ArrayList<>();
    final List<Http1Head> heads = new ArrayList<>();
    /** Where each message ended: the end of the piece that ended it. */
    final List<Long> ends = new ArrayList<>();
    final Http1Parser parser;
    private final int headResponses;
    private long pieceStart;
    private long pieceEnd;
    private int messages;
    private boolean opaqueSeen;

    Run(FuzzInput input) {
      this.parser = input.flag(0) ? Http1Parser.responses(this) : Http1Parser.requests(this);
      this.headResponses = input.flags() >>> 1;
    }

    void feed(byte[] piece) {
      pieceEnd = pieceStart + piece.length;
      parser.feed(MemorySegment.ofArray(piece), 0, piece.length, 0);
      afterFeed(piece.length);
    }

    /** One syscall of {@code piece}, captured as the kernel does when it moved more than {@code limit} bytes. */
    void feedCaptured(byte[] piece, int limit) {
      pieceEnd = pieceStart + piece.length;
      int captured = Math.min(piece.length, limit);
      int tail = Math.min(piece.length - captured, 32);
      long gap = piece.length - captured - tail;
      // The tail after the captured bytes, as in a record: payload, then tail.
      byte[] record = new byte[captured + tail];
      System.arraycopy(piece, 0, record, 0, captured);
      System.arraycopy(piece, piece.length - tail, record, captured, tail);
      parser.feed(MemorySegment.ofArray(record), 0, captured, gap, captured, tail);
      afterFeed(piece.length);
    }

    private void afterFeed(int length) {
      long opaque = parser.opaqueFrom();
      if (opaque >= 0 && !opaqueSeen) {
        opaqueSeen = true;
        events.add("opaque@" + (pieceStart + opaque));
      }
      assertThat(parser.failed() || parser.state() != Http1Parser.State.FAILED).isTrue();
      assertHeadBufferBounded();
      pieceStart += length;
    }

    void end() {
      parser.endOfStream();
      events.add("closed " + parser.state() + " partialStatus=" + parser.partialStatus());
    }

    /** The buffer a head is gathered in never outgrows the head limit, and a big one is let go once its head is parsed. */
    private void assertHeadBufferBounded() {
      int held = RetainedMemory.of(parser, this).longestArray();
      assertThat(held).isLessThanOrEqualTo(Http1Parser.MAX_HEAD_BYTES);
      if (parser.state() != Http1Parser.State.HEAD) {
        assertThat(held).as("a head buffer kept outside a head").isLessThanOrEqualTo(4096);
      }
    }

    @Override
    public void onMessageStart(long offsetInPiece) {
      messages++;
      starts.add(pieceStart + offsetInPiece);
      events.add("start@" + (pieceStart + offsetInPiece));
    }

    @Override
    public void onHead(Http1Head head) {
      heads.add(head);
      events.add("head " + head);
    }

    @Override
    public void onMessageEnd() {
      ends.add(pieceEnd);
      events.add("end");
    }

    @Override
    public boolean answersHeadRequest() {
      return (headResponses >>> (messages % 7) & 1) != 0;
    }
  }

}
