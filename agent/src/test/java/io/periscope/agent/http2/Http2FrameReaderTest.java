package io.periscope.agent.http2;

import static io.periscope.agent.testing.Http2Traffic.CONTINUATION;
import static io.periscope.agent.testing.Http2Traffic.END_HEADERS;
import static io.periscope.agent.testing.Http2Traffic.END_STREAM;
import static io.periscope.agent.testing.Http2Traffic.HEADERS;
import static io.periscope.agent.testing.Http2Traffic.PADDED;
import static io.periscope.agent.testing.Http2Traffic.PING;
import static io.periscope.agent.testing.Http2Traffic.PREFACE;
import static io.periscope.agent.testing.Http2Traffic.concat;
import static io.periscope.agent.testing.Http2Traffic.data;
import static io.periscope.agent.testing.Http2Traffic.frame;
import static io.periscope.agent.testing.Http2Traffic.goAway;
import static io.periscope.agent.testing.Http2Traffic.rst;
import static io.periscope.agent.testing.Http2Traffic.settings;
import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.Http2Traffic;
import io.periscope.agent.testing.Http2Traffic.Direction;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * The frame reader over records as the kernel makes them: raw bytes and frame streams, split at
 * every offset and byte by byte, with holes, cuts and hostile frames.
 */
class Http2FrameReaderTest {
  private static final Direction.Peer CLIENT = new Direction.Peer(100, 101, "client", 0x1000, 7,
      SocketEventEncoder.v4(127, 0, 0, 1), 40_000, SocketEventEncoder.v4(127, 0, 0, 1), 8080);

  /** What the reader told its listener, one line per call. */
  private final List<String> seen = new ArrayList<>();
  private final Http2FrameReader.Listener listener = new Http2FrameReader.Listener() {
    @Override
    public void onHeaders(int stream, boolean endStream, byte[] block, int length, boolean truncated) {
      seen.add("HEADERS " + stream + (endStream ? " end " : " ") + (truncated ? "truncated " + length + " "
          : "") + HexFormat.of().formatHex(block, 0, Math.min(length, 16)));
    }

    @Override
    public void onPushPromise(int stream, byte[] block, int length, boolean truncated) {
      seen.add("PUSH_PROMISE " + stream);
    }

    @Override
    public void onData(int stream, boolean endStream) {
      seen.add("DATA " + stream + (endStream ? " end" : ""));
    }

    @Override
    public void onReset(int stream, long errorCode) {
      seen.add("RST_STREAM " + stream + " " + errorCode);
    }

    @Override
    public void onSettings(int[] ids, long[] values, int count) {
      StringBuilder s = new StringBuilder("SETTINGS");
      for (int i = 0; i < count; i++) {
        s.append(' ').append(ids[i]).append('=').append(values[i]);
      }
      seen.add(s.toString());
    }

    @Override
    public void onGoAway(int lastStream, long errorCode) {
      seen.add("GOAWAY " + lastStream + " " + errorCode);
    }

    @Override
    public void onLost() {
      seen.add("LOST");
    }
  };

  /** A client's bytes: preface, SETTINGS, then frames of every kind that matters. */
  private static byte[] clientStream() {
    byte[] block = "a header block, whatever its HPACK".getBytes(StandardCharsets.US_ASCII);
    return concat(PREFACE,
        settings(1, 4096, 5, 1 << 20),
        frame(HEADERS, END_HEADERS, 1, block),
        data(1, 300, true),
        // A block over HEADERS and two CONTINUATIONs; the HEADERS padded, with priority fields.
        frame(HEADERS, PADDED | 0x20, 3, concat(new byte[] {4}, new byte[] {0, 0, 0, 1, 16}, Arrays.copyOf(block, 10),
            new byte[4])),
        frame(CONTINUATION, 0, 3, Arrays.copyOfRange(block, 10, 20)),
        frame(CONTINUATION, END_HEADERS, 3, Arrays.copyOfRange(block, 20, block.length)),
        data(3, 20_000, false),
        frame(PING, 0, 0, new byte[8]),
        frame(0x21, 0, 0, new byte[50]), // an extension frame: ignored
        frame(HEADERS, END_HEADERS | END_STREAM, 3, block), // trailers
        rst(5, 8),
        goAway(3, 0));
  }

  private static final List<String> CLIENT_FRAMES = List.of(
      "SETTINGS 1=4096 5=1048576",
      "HEADERS 1 " + hex("a header block, "),
      "DATA 1 end",
      "HEADERS 3 " + hex("a header block, "),
      "DATA 3",
      "HEADERS 3 end " + hex("a header block, "),
      "RST_STREAM 5 8",
      "GOAWAY 3 0");

  private static String hex(String s) {
    return HexFormat.of().formatHex(s.getBytes(StandardCharsets.US_ASCII));
  }

  @Test
  void rawRecordsSplitAtEveryOffset() {
    byte[] bytes = clientStream();
    for (int split = 1; split < bytes.length; split++) {
      seen.clear();
      Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
      // Raw records uncut, as they are below the capture limit (a cut one is a test of its own).
      feed(reader, raw().captureLimit(bytes.length).syscalls(bytes, split));
      assertThat(reader.failure()).as("split at %d", split).isNull();
      assertThat(seen).as("split at %d", split).isEqualTo(CLIENT_FRAMES);
    }
  }

  @Test
  void frameStreamRecordsSplitAtEveryOffset() {
    byte[] bytes = clientStream();
    for (int split = 1; split < bytes.length; split++) {
      seen.clear();
      Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
      Direction kernel = frames();
      List<byte[]> records = new ArrayList<>(kernel.syscalls(bytes, split));
      feed(reader, records);
      assertThat(reader.failure()).as("split at %d", split).isNull();
      assertThat(seen).as("split at %d", split).isEqualTo(CLIENT_FRAMES);
    }
  }

  @Test
  void byteByByte() {
    byte[] bytes = clientStream();
    int[] ones = new int[bytes.length];
    Arrays.fill(ones, 1);
    for (Direction kernel : List.of(raw(), frames())) {
      seen.clear();
      Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
      feed(reader, kernel.syscalls(bytes, ones));
      assertThat(seen).isEqualTo(CLIENT_FRAMES);
    }
  }

  /** The kernel records no syscall that moved only skipped DATA bytes; the sequence numbers show where they went. */
  @Test
  void syscallsInsideSkippedPayloadsAreNoLoss() {
    byte[] bytes = clientStream();
    Direction kernel = frames();
    List<byte[]> records = kernel.syscalls(bytes, 130, 200, 100, 4000, 4000, 4000, 4000, 4000, 4000, 200);
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, records);
    assertThat(records).as("some syscalls were not recorded").hasSizeLessThan(11);
    assertThat(seen).isEqualTo(CLIENT_FRAMES);
  }

  /** A record lost in the ring buffer: the reader says so, and finds the frames again at the next record. */
  @Test
  void aLostRecordIsFoundAgain() {
    Direction kernel = frames();
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    Http2Traffic.Hpack hpack = new Http2Traffic.Hpack();
    feed(reader, kernel.syscall(concat(PREFACE, settings())));
    feed(reader, kernel.syscall(hpack.headers(1, false, ":method", "GET")));
    kernel.syscall(hpack.headers(3, true, ":method", "GET")); // dropped
    feed(reader, kernel.syscall(concat(data(1, 10, true), hpack.headers(5, true, ":method", "GET"))));
    assertThat(seen).hasSize(5);
    assertThat(seen.get(2)).isEqualTo("LOST");
    assertThat(seen.get(3)).isEqualTo("DATA 1 end");
    assertThat(seen.get(4)).startsWith("HEADERS 5 end");
    assertThat(reader.failed()).isFalse();
  }

  /** After a loss, the first frame found may be the CONTINUATION of a block whose HEADERS is gone: skipped, not a failure. */
  @Test
  void continuationsOfALostBlockAreSkipped() {
    Direction kernel = frames();
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, kernel.syscall(concat(PREFACE, settings())));
    kernel.syscall(frame(HEADERS, 0, 1, new byte[10])); // dropped
    feed(reader, kernel.syscall(concat(frame(CONTINUATION, END_HEADERS, 1, new byte[5]), data(1, 3, true))));
    assertThat(seen).containsExactly("SETTINGS", "LOST", "DATA 1 end");
    assertThat(reader.failed()).isFalse();
  }

  /**
   * A header block too big for the capture (a big cookie): what was captured of it is delivered,
   * marked truncated, and when its frame ended the syscall nothing else is lost.
   */
  @Test
  void aHeaderBlockCutAtTheCaptureLimitIsDeliveredTruncated() {
    Direction kernel = frames().captureLimit(60);
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    byte[] block = new byte[100];
    block[0] = 0x11;
    feed(reader, kernel.syscall(concat(PREFACE, settings(), frame(HEADERS, END_HEADERS, 1, block))));
    feed(reader, kernel.syscall(data(1, 5, true)));
    assertThat(seen).containsExactly("SETTINGS", "HEADERS 1 truncated 18 11000000000000000000000000000000",
        "DATA 1 end");
  }

  /** A cut that hides more than the rest of one frame loses the place: the next record starts clean. */
  @Test
  void aCutHidingMoreThanOneFrameLosesOnlyItsRest() {
    Direction kernel = frames().captureLimit(60);
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, kernel.syscall(concat(PREFACE, settings(), frame(HEADERS, END_HEADERS, 1, new byte[100]),
        rst(1, 8))));
    feed(reader, kernel.syscall(data(3, 5, true)));
    assertThat(seen).containsExactly("SETTINGS", "HEADERS 1 truncated 18 00000000000000000000000000000000", "LOST",
        "DATA 3 end");
  }

  /** The same in a raw record: the gap after the capture is the rest of the HEADERS frame. */
  @Test
  void aHeaderBlockCutInARawRecordIsDeliveredTruncated() {
    Direction kernel = raw().captureLimit(60);
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    byte[] withEnd = concat(frame(HEADERS, END_HEADERS, 1, new byte[100]));
    feed(reader, kernel.syscall(concat(PREFACE, settings())));
    feed(reader, kernel.syscall(withEnd));
    feed(reader, kernel.syscall(data(1, 5, true)));
    assertThat(seen).containsExactly("SETTINGS", "HEADERS 1 truncated 51 00000000000000000000000000000000",
        "DATA 1 end");
  }

  /** A raw record cut inside a DATA payload (the capture limit, or sendfile) is no loss: DATA is skipped anyway. */
  @Test
  void rawRecordsCutInsideDataAreNoLoss() {
    Direction kernel = raw().captureLimit(100);
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, kernel.syscall(concat(PREFACE, settings(), data(1, 5000, true))));
    feed(reader, kernel.syscall(rst(1, 0)));
    assertThat(seen).containsExactly("SETTINGS", "DATA 1 end", "RST_STREAM 1 0");
  }

  /** Joined midway (a connection open before the agent): raw bytes are no place to start; a frame-stream record is. */
  @Test
  void joinsMidwayAtAFrameStreamRecord() {
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, false);
    feed(reader, raw().syscall(data(1, 10, false)));
    Direction joined = new Direction(CLIENT, SocketEvent.DIRECTION_EGRESS, Direction.Mode.FRAMES, 5_000,
        new Http2Traffic.Clock());
    feed(reader, joined.syscall(concat(data(1, 10, true), rst(3, 8))));
    assertThat(seen).containsExactly("DATA 1 end", "RST_STREAM 3 8");
    assertThat(reader.fromStart()).isFalse();
  }

  @Test
  void longHeaderBlocksAreSkippedNotKept() {
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    byte[] big = new byte[Http2FrameReader.MAX_HEADER_BLOCK + 1];
    feed(reader, raw().syscalls(concat(PREFACE, settings(), frame(HEADERS, 0, 1, Arrays.copyOf(big, 40_000)),
        frame(CONTINUATION, END_HEADERS, 1, Arrays.copyOfRange(big, 40_000, big.length)), rst(1, 8)), 8192, 8192,
        8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192));
    assertThat(seen).containsExactly("SETTINGS", "HEADERS 1 truncated 65536 00000000000000000000000000000000",
        "RST_STREAM 1 8");
  }

  @Test
  void protocolErrorsFailTheReader() {
    assertFails(frame(PING, 0, 0, new byte[7]), "PING frame not 8 bytes long");
    assertFails(frame(PING, 0, 1, new byte[8]), "PING frame not on stream 0");
    assertFails(frame(Http2Traffic.SETTINGS, 0, 1, new byte[0]), "SETTINGS frame not on stream 0");
    assertFails(frame(Http2Traffic.SETTINGS, 0, 0, new byte[5]), "not a multiple of 6");
    assertFails(frame(Http2Traffic.SETTINGS, 1, 0, new byte[6]), "an ACK with a payload");
    assertFails(frame(Http2Traffic.RST_STREAM, 0, 1, new byte[3]), "RST_STREAM frame not 4 bytes long");
    assertFails(frame(Http2Traffic.RST_STREAM, 0, 0, new byte[4]), "RST_STREAM frame on stream 0");
    assertFails(frame(HEADERS, END_HEADERS, 0, new byte[1]), "HEADERS frame on stream 0");
    assertFails(data(0, 1, false), "DATA frame on stream 0");
    assertFails(frame(Http2Traffic.WINDOW_UPDATE, 0, 0, new byte[5]), "WINDOW_UPDATE frame not 4 bytes long");
    assertFails(frame(Http2Traffic.PRIORITY, 0, 1, new byte[4]), "PRIORITY frame not 5 bytes long");
    assertFails(frame(Http2Traffic.GOAWAY, 0, 0, new byte[7]), "GOAWAY frame shorter than 8 bytes");
    assertFails(frame(CONTINUATION, END_HEADERS, 1, new byte[1]), "CONTINUATION frame without a HEADERS");
    assertFails(concat(frame(HEADERS, 0, 1, new byte[1]), frame(PING, 0, 0, new byte[8])), "inside a header block");
    assertFails(concat(frame(HEADERS, 0, 1, new byte[1]), frame(CONTINUATION, END_HEADERS, 3, new byte[1])),
        "inside a header block of stream 1");
    assertFails(frame(HEADERS, END_HEADERS | PADDED, 1, new byte[] {9, 1, 2}), "padding longer than the frame");
    assertFails(frame(HEADERS, END_HEADERS, 1, new byte[20_000]), "above SETTINGS_MAX_FRAME_SIZE 16384");
  }

  /** The frame whose padding broke the protocol ends in the same record: its end must not undo the failure. */
  @Test
  void aFailureInsideAPayloadStaysWhenTheFrameEnds() {
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, raw().syscall(concat(PREFACE, settings(), frame(HEADERS, PADDED, 1, new byte[] {9, 1, 2}),
        frame(CONTINUATION, END_HEADERS, 1, new byte[] {(byte) 0x82}))));
    assertThat(reader.failed()).isTrue();
    assertThat(reader.failure()).contains("padding longer than the frame");
    assertThat(seen).containsExactly("SETTINGS");
  }

  @Test
  void aPrefaceMustBeFollowedBySettings() {
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, raw().syscall(concat(PREFACE, "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII))));
    assertThat(reader.failure()).contains("must be a SETTINGS frame");
  }

  @Test
  void aFailedReaderIgnoresEverythingAfter() {
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    feed(reader, raw().syscall(concat(PREFACE, settings(), frame(PING, 0, 0, new byte[7]))));
    feed(reader, raw().syscall(rst(1, 8)));
    assertThat(seen).containsExactly("SETTINGS");
    assertThat(reader.failed()).isTrue();
  }

  /** After the preface and SETTINGS, with the receiver's frame size limit at its default. */
  private void assertFails(byte[] frames, String why) {
    seen.clear();
    Http2FrameReader reader = Http2FrameReader.awaitingStart(listener, true);
    reader.setMaxFrameSize(Http2FrameReader.DEFAULT_MAX_FRAME_SIZE);
    feed(reader, raw().syscall(concat(PREFACE, settings(), frames)));
    assertThat(reader.failure()).as(why).contains(why);
    assertThat(reader.failed()).as("failed, and stays so: " + why).isTrue();
  }

  private static Direction raw() {
    return new Direction(CLIENT, SocketEvent.DIRECTION_EGRESS, Direction.Mode.BYTES, 1_000, new Http2Traffic.Clock());
  }

  private static Direction frames() {
    return new Direction(CLIENT, SocketEvent.DIRECTION_EGRESS, Direction.Mode.FRAMES, 1_000, new Http2Traffic.Clock()).afterPreface();
  }

  private static void feed(Http2FrameReader reader, List<byte[]> records) {
    SocketEvent event = new SocketEvent();
    for (byte[] r : records) {
      assertThat(event.wrap(MemorySegment.ofArray(r), 0, r.length)).isTrue();
      reader.feed(event);
    }
  }
}
