package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java mirror of struct socket_event must match what the C compiler laid out (layout.c, run by build.sh). */
class SocketEventLayoutTest {
  private static final Properties C = new Properties();

  @BeforeAll
  static void readCLayout() throws IOException {
    try (Reader in = Files.newBufferedReader(Path.of("target/bpf-build/layout.properties"))) {
      C.load(in);
    }
  }

  private static int c(String key) {
    String value = C.getProperty(key);
    assertThat(value).as("layout.properties has %s", key).isNotNull();
    return Integer.parseInt(value);
  }

  @Test
  void socketEventMatchesC() {
    assertThat(SocketEvent.SIZE).isEqualTo(c("socket_event.size"));
    assertThat(SocketEvent.MAX_CAPTURE).isEqualTo(c("max_capture"));
    assertThat(SocketEvent.OFFSET_TYPE).isEqualTo(c("socket_event.type"));
    assertThat(SocketEvent.OFFSET_DIRECTION).isEqualTo(c("socket_event.direction"));
    assertThat(SocketEvent.OFFSET_ORIGIN).isEqualTo(c("socket_event.origin"));
    assertThat(SocketEvent.OFFSET_SYSCALL).isEqualTo(c("socket_event.syscall"));
    assertThat(SocketEvent.OFFSET_TGID).isEqualTo(c("socket_event.tgid"));
    assertThat(SocketEvent.OFFSET_TID).isEqualTo(c("socket_event.tid"));
    assertThat(SocketEvent.OFFSET_FD).isEqualTo(c("socket_event.fd"));
    assertThat(SocketEvent.OFFSET_SOCK).isEqualTo(c("socket_event.sock"));
    assertThat(SocketEvent.OFFSET_ENTER_NS).isEqualTo(c("socket_event.enter_ns"));
    assertThat(SocketEvent.OFFSET_EXIT_NS).isEqualTo(c("socket_event.exit_ns"));
    assertThat(SocketEvent.OFFSET_SEQ).isEqualTo(c("socket_event.seq"));
    assertThat(SocketEvent.OFFSET_TOTAL_LEN).isEqualTo(c("socket_event.total_len"));
    assertThat(SocketEvent.OFFSET_CAPTURED_LEN).isEqualTo(c("socket_event.captured_len"));
    assertThat(SocketEvent.OFFSET_LOCAL_PORT).isEqualTo(c("socket_event.local_port"));
    assertThat(SocketEvent.OFFSET_REMOTE_PORT).isEqualTo(c("socket_event.remote_port"));
    assertThat(SocketEvent.OFFSET_LOCAL_ADDR).isEqualTo(c("socket_event.local_addr"));
    assertThat(SocketEvent.OFFSET_REMOTE_ADDR).isEqualTo(c("socket_event.remote_addr"));
    assertThat(SocketEvent.OFFSET_COMM).isEqualTo(c("socket_event.comm"));
    assertThat(SocketEvent.OFFSET_TAIL_LEN).isEqualTo(c("socket_event.tail_len"));
    assertThat(SocketEvent.TAIL_BYTES).isEqualTo(c("tail_bytes"));
    assertThat(SocketEvent.OFFSET_MODE).isEqualTo(c("socket_event.mode"));
    assertThat(SocketEvent.OFFSET_FLAGS).isEqualTo(c("socket_event.flags"));
    assertThat(SocketEvent.OFFSET_FRAMES_LEN).isEqualTo(c("socket_event.frames_len"));
    assertThat(SocketEvent.OFFSET_FRAME_START).isEqualTo(c("socket_event.frame_start"));
    assertThat(SocketEvent.OFFSET_FRAME_START_WIRE).isEqualTo(c("socket_event.frame_start_wire"));
    assertThat(SocketEvent.H2_LAST_KNOWN_TYPE).isEqualTo(c("h2_last_known_type"));
    assertThat(CaptureCounters.COUNT).isEqualTo(c("counter_max"));
  }

  @Test
  void configMatchesC() {
    assertThat(KernelCapture.CONFIG_SIZE).isEqualTo(c("periscope_config.size"));
    assertThat(c("periscope_config.agent_tgid")).isZero();
    assertThat(c("periscope_config.capture_bytes")).isEqualTo(4);
    assertThat(c("periscope_config.filter_pids")).isEqualTo(8);
    assertThat(c("periscope_config.filter_comms")).isEqualTo(9);
    assertThat(c("periscope_config.filter_ports")).isEqualTo(10);
    assertThat(c("periscope_config.inject_traceparent")).isEqualTo(11);
    assertThat(c("periscope_config.sample_all")).isEqualTo(12);
    assertThat(c("periscope_config.sample_bound")).isEqualTo(16);
    assertThat(SocketEvent.TRACEPARENT_LINE).isEqualTo(c("traceparent_line"));
  }

  @Test
  void encoderAndViewAgree() {
    byte[] record = SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, "GET / HTTP/1.1\r\n".getBytes())
        .process(42, 43, "curl")
        .socket(0xffff8880deadbeefL, 7)
        .endpoints(SocketEventEncoder.v4(10, 0, 0, 1), 40000, SocketEventEncoder.v4(10, 0, 0, 2), 80)
        .time(1_000, 2_000)
        .sequence(0xfffffff0L)
        .totalLength(100)
        .encode();
    SocketEvent view = new SocketEvent();
    assertThat(view.wrap(java.lang.foreign.MemorySegment.ofArray(record), 0, record.length)).isTrue();
    assertThat(view.type()).isEqualTo(SocketEvent.TYPE_DATA);
    assertThat(view.direction()).isEqualTo(SocketEvent.DIRECTION_EGRESS);
    assertThat(view.tgid()).isEqualTo(42);
    assertThat(view.tid()).isEqualTo(43);
    assertThat(view.comm()).isEqualTo("curl");
    assertThat(view.sock()).isEqualTo(0xffff8880deadbeefL);
    assertThat(view.fd()).isEqualTo(7);
    assertThat(view.localPort()).isEqualTo(40000);
    assertThat(view.remotePort()).isEqualTo(80);
    assertThat(view.sequence()).isEqualTo(0xfffffff0L);
    assertThat(view.totalLength()).isEqualTo(100);
    assertThat(view.capturedLength()).isEqualTo(16);
    assertThat(view.enterNanos()).isEqualTo(1_000);
    assertThat(view.exitNanos()).isEqualTo(2_000);
  }

  @Test
  void tailFollowsThePayload() {
    byte[] record = SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, "HTTP/1.1 200 OK\r\n".getBytes())
        .tail("\r\n0\r\n\r\n".getBytes())
        .totalLength(100_000)
        .encode();
    SocketEvent view = new SocketEvent();
    assertThat(view.wrap(java.lang.foreign.MemorySegment.ofArray(record), 0, record.length)).isTrue();
    assertThat(view.capturedLength()).isEqualTo(17);
    assertThat(view.tailLength()).isEqualTo(7);
    assertThat(view.tailOffset()).isEqualTo(SocketEvent.SIZE + 17);
    assertThat(record[(int) view.tailOffset() + 2]).isEqualTo((byte) '0');
  }

  @Test
  void recordClaimingMoreTailThanItMovedIsRejected() {
    byte[] record = SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, new byte[10]).tail(new byte[10])
        .totalLength(15).encode();
    assertThat(new SocketEvent().wrap(java.lang.foreign.MemorySegment.ofArray(record), 0, record.length)).isFalse();
  }

  @Test
  void truncatedRecordIsRejected() {
    byte[] record = SocketEventEncoder.data(SocketEvent.DIRECTION_INGRESS, new byte[64]).encode();
    SocketEvent view = new SocketEvent();
    assertThat(view.wrap(java.lang.foreign.MemorySegment.ofArray(record), 0, record.length - 1)).isFalse();
    assertThat(view.wrap(java.lang.foreign.MemorySegment.ofArray(record), 0, 50)).isFalse();
  }
}
