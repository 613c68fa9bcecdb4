package io.periscope.agent.http2;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.periscope.agent.testing.FuzzInput;
import io.periscope.agent.testing.Http2Traffic;
import io.periscope.agent.testing.Http2Traffic.Direction;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Coverage-guided fuzzing of the HTTP/2 frame reader. The data is a client's frames after the
 * preface; the cut points are its syscalls. Properties: the same frames come out of the bytes in
 * one record, in the fuzzer's pieces, byte by byte, and from the frame-stream records the kernel
 * makes of the same syscalls (DATA payloads skipped); a header block is never kept past its limit.
 */
class Http2FrameReaderFuzzTest {
  @FuzzTest
  void rawAndFrameStream(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    byte[] bytes = Http2Traffic.concat(Http2Traffic.PREFACE, input.whole());
    List<byte[]> pieces = input.pieces(bytes);

    Frames whole = new Frames();
    whole.feed(List.of(SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, bytes).sequence(7_000)
        .totalLength(bytes.length).time(1, 2).encode()));
    Frames split = new Frames();
    split.feed(records(pieces, Direction.Mode.BYTES));
    Frames frameStream = new Frames();
    frameStream.feed(records(pieces, Direction.Mode.FRAMES));

    assertThat(split.events).isEqualTo(whole.events);
    assertThat(frameStream.events).as("from the kernel's frame stream").isEqualTo(whole.events);
    if (bytes.length <= 4096) {
      Frames byByte = new Frames();
      List<byte[]> bytewise = new ArrayList<>();
      for (byte b : bytes) {
        bytewise.add(new byte[] {b});
      }
      byByte.feed(records(bytewise, Direction.Mode.BYTES));
      assertThat(byByte.events).isEqualTo(whole.events);
    }
  }

  private static List<byte[]> records(List<byte[]> syscalls, Direction.Mode mode) {
    byte[] lo = SocketEventEncoder.v4(127, 0, 0, 1);
    Direction out = new Direction(new Direction.Peer(1, 1, "c", 1, 3, lo, 1, lo, 2), SocketEvent.DIRECTION_EGRESS,
        mode, 7_000, new Http2Traffic.Clock()).captureLimit(Integer.MAX_VALUE - SocketEvent.SIZE);
    if (mode == Direction.Mode.FRAMES) {
      out.afterPreface();
    }
    List<byte[]> records = new ArrayList<>();
    for (byte[] syscall : syscalls) {
      if (syscall.length > 0) {
        records.addAll(out.syscall(syscall));
      }
    }
    return records;
  }

  /** A reader of one direction, and every frame it reported, as text. */
  private static final class Frames implements Http2FrameReader.Listener {
    final List<String> events = new ArrayList<>();
    final Http2FrameReader reader = Http2FrameReader.awaitingStart(this, true);
    private final SocketEvent event = new SocketEvent();

    void feed(List<byte[]> records) {
      records.forEach(this::feed);
      events.add(reader.failed() ? "failed: " + reader.failure() : "ok");
    }

    void feed(byte[] record) {
      assertThat(event.wrap(MemorySegment.ofArray(record), 0, record.length)).isTrue();
      reader.feed(event);
    }

    @Override
    public void onHeaders(int stream, boolean endStream, byte[] block, int length, boolean truncated) {
      assertThat(length).isLessThanOrEqualTo(Http2FrameReader.MAX_HEADER_BLOCK);
      assertThat(block.length).isLessThanOrEqualTo(Http2FrameReader.MAX_HEADER_BLOCK);
      events.add("headers " + stream + " end=" + endStream + " " + HexFormat.of().formatHex(block, 0, length)
          + (truncated ? " truncated" : ""));
    }

    @Override
    public void onPushPromise(int stream, byte[] block, int length, boolean truncated) {
      assertThat(length).isLessThanOrEqualTo(Http2FrameReader.MAX_HEADER_BLOCK);
      events.add("push " + stream + " " + HexFormat.of().formatHex(block, 0, length) + (truncated ? " truncated" : ""));
    }

    @Override
    public void onData(int stream, boolean endStream) {
      events.add("data " + stream + " end=" + endStream);
    }

    @Override
    public void onReset(int stream, long errorCode) {
      events.add("reset " + stream + " " + errorCode);
    }

    @Override
    public void onSettings(int[] ids, long[] values, int count) {
      StringBuilder s = new StringBuilder("settings");
      for (int i = 0; i < count; i++) {
        s.append(' ').append(ids[i]).append('=').append(values[i]);
      }
      events.add(s.toString());
    }

    @Override
    public void onGoAway(int lastStream, long errorCode) {
      events.add("goaway " + lastStream + " " + errorCode);
    }

    @Override
    public void onLost() {
      events.add("lost");
    }
  }
}
