package io.periscope.bench;

import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * Socket events as the kernel records them for the bench target (wrk -> nginx {@code return 200},
 * keep-alive), laid out back to back in off-heap memory like ring-buffer records, so benchmarks
 * feed the pipeline exactly what the capture thread feeds it.
 */
final class RecordedTraffic {
  static final byte[] REQUEST = ("GET / HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
  static final byte[] RESPONSE = ("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 24 Nov 2026 06:00:00 GMT\r\n"
      + "Content-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")
      .getBytes(StandardCharsets.US_ASCII);

  final MemorySegment records;
  final long[] offsets;
  final int[] lengths;

  private RecordedTraffic(MemorySegment records, long[] offsets, int[] lengths) {
    this.records = records;
    this.offsets = offsets;
    this.lengths = lengths;
  }

  /** {@code connections} keep-alive connections, {@code exchanges} request/response pairs each, interleaved. */
  static RecordedTraffic nginxKeepAlive(int connections, int exchanges, Arena arena) {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    int count = connections * exchanges * 2;
    long[] offsets = new long[count];
    int[] lengths = new int[count];
    int n = 0;
    long time = 1_000_000_000L;
    for (int e = 0; e < exchanges; e++) {
      for (int c = 0; c < connections; c++) {
        for (int direction = 0; direction < 2; direction++) {
          byte[] payload = direction == 0 ? REQUEST : RESPONSE;
          byte[] record = SocketEventEncoder.data(
                  direction == 0 ? SocketEvent.DIRECTION_INGRESS : SocketEvent.DIRECTION_EGRESS, payload)
              .process(4242, 4242, "nginx")
              .socket(0xffff_8880_0000_0000L + c * 4096L, 10 + c)
              .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 18080, SocketEventEncoder.v4(127, 0, 0, 1), 40000 + c)
              .time(time, time + 2_000)
              .sequence(1_000 + e * 100L)
              .encode();
          time += 5_000;
          offsets[n] = all.size();
          lengths[n] = record.length;
          n++;
          all.writeBytes(record);
          all.writeBytes(new byte[(8 - record.length % 8) % 8]); // ring-buffer records are 8-byte aligned
        }
      }
    }
    byte[] bytes = all.toByteArray();
    MemorySegment segment = arena.allocate(bytes.length, 8);
    segment.copyFrom(MemorySegment.ofArray(bytes));
    return new RecordedTraffic(segment, offsets, lengths);
  }
}
