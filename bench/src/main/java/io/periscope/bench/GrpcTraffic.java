package io.periscope.bench;

import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The records the kernel makes on a gRPC server's end of its connections: unary calls, each a
 * read of the request (HEADERS, DATA) and a write of the response (HEADERS, DATA, trailers), in
 * the kernel's frame-stream form (DATA payloads skipped). Header blocks are encoded as gRPC peers
 * encode them: literals with incremental indexing on a connection's first call, indexed fields
 * from its dynamic table afterwards, and a literal {@code traceparent} per call. Laid out like
 * ring-buffer records, as {@link RecordedTraffic} does for HTTP/1.
 */
final class GrpcTraffic {
  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final String PATH = "/demo.Echo/Unary";
  private static final String AUTHORITY = "localhost:50051";
  private static final String CONTENT_TYPE = "application/grpc";
  private static final String USER_AGENT = "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)";

  final MemorySegment records;
  final long[] offsets;
  final int[] lengths;
  final int calls;

  private GrpcTraffic(MemorySegment records, long[] offsets, int[] lengths, int calls) {
    this.records = records;
    this.offsets = offsets;
    this.lengths = lengths;
    this.calls = calls;
  }

  /** {@code connections} connections (preface and SETTINGS first), {@code calls} unary calls on each, interleaved. */
  static GrpcTraffic unaryCalls(int connections, int calls, Arena arena) {
    Connection[] all = new Connection[connections];
    for (int c = 0; c < connections; c++) {
      all[c] = new Connection(c);
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    List<long[]> index = new ArrayList<>();
    for (Connection c : all) {
      add(bytes, index, c.read(concat(PREFACE, frame(4, 0, 0, settings()), frame(4, 1, 0, new byte[0])), 0));
      add(bytes, index, c.write(concat(frame(4, 0, 0, settings()), frame(4, 1, 0, new byte[0])), 0));
    }
    for (int call = 0; call < calls; call++) {
      for (Connection c : all) {
        int stream = 2 * call + 1;
        add(bytes, index, c.read(concat(frame(1, 4, stream, c.requestBlock(call)), dataHeader(stream, 1)), MESSAGE));
        add(bytes, index, c.write(concat(frame(1, 4, stream, c.responseBlock()), dataHeader(stream, 0),
            frame(1, 5, stream, c.trailersBlock())), MESSAGE));
      }
    }
    // Every connection closes, so that replaying the records starts them afresh.
    for (Connection c : all) {
      add(bytes, index, c.close());
    }
    byte[] flat = bytes.toByteArray();
    MemorySegment segment = arena.allocate(flat.length, 8);
    segment.copyFrom(MemorySegment.ofArray(flat));
    long[] offsets = new long[index.size()];
    int[] lengths = new int[index.size()];
    for (int i = 0; i < offsets.length; i++) {
      offsets[i] = index.get(i)[0];
      lengths[i] = (int) index.get(i)[1];
    }
    return new GrpcTraffic(segment, offsets, lengths, connections * calls);
  }

  private static void add(ByteArrayOutputStream bytes, List<long[]> index, byte[] record) {
    index.add(new long[] {bytes.size(), record.length});
    bytes.writeBytes(record);
    bytes.writeBytes(new byte[(8 - record.length % 8) % 8]); // ring-buffer records are 8-byte aligned
  }

  /** One connection's server end: sequence numbers, times, and what each side's HPACK table holds. */
  private static final class Connection {
    private final int id;
    private long readSequence = 1_000;
    private long writeSequence = 9_000_000;
    private long time = 1_000_000_000L;
    private boolean requestsIndexed;
    private boolean responsesIndexed;

    Connection(int id) {
      this.id = id;
    }

    /** A read of these frames, whose DATA payloads ({@code skipped} bytes) the kernel left out. */
    byte[] read(byte[] frames, int skipped) {
      byte[] r = record(SocketEventEncoder.data(SocketEvent.DIRECTION_INGRESS, frames), frames, skipped, readSequence);
      readSequence += frames.length + skipped;
      return r;
    }

    byte[] write(byte[] frames, int skipped) {
      byte[] r = record(SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, frames), frames, skipped, writeSequence);
      writeSequence += frames.length + skipped;
      return r;
    }

    byte[] close() {
      return endpoints(SocketEventEncoder.close()).time(time, time).encode();
    }

    private byte[] record(SocketEventEncoder e, byte[] frames, int skipped, long sequence) {
      time += 20_000;
      return endpoints(e)
          .time(time, time + 3_000)
          .sequence(sequence)
          .totalLength(frames.length + skipped)
          .frames(SocketEvent.MODE_H2_FRAMES, frames.length, 0, 0)
          .encode();
    }

    private SocketEventEncoder endpoints(SocketEventEncoder e) {
      return e.process(5151, 5152 + id % 4, "python3")
          .socket(0xffff_8880_1000_0000L + id * 4096L, 20 + id)
          .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 50_051, SocketEventEncoder.v4(127, 0, 0, 1), 45_000 + id);
    }

    /**
     * :method POST and :scheme http from the static table; :path, :authority, content-type, te and
     * user-agent added to the table by the first call (newest at index 62), indexed after.
     */
    byte[] requestBlock(int call) {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      b.write(0x83);
      b.write(0x86);
      if (!requestsIndexed) {
        literal(b, 0x40 | 4, PATH);
        literal(b, 0x40 | 1, AUTHORITY);
        literal(b, 0x40 | 31, CONTENT_TYPE);
        b.write(0x40);
        string(b, "te");
        string(b, "trailers");
        literal(b, 0x40 | 58, USER_AGENT);
        requestsIndexed = true;
      } else {
        for (int entry = 66; entry >= 62; entry--) {
          b.write(0x80 | entry);
        }
      }
      b.write(0x00); // traceparent: new every call, never indexed
      string(b, "traceparent");
      string(b, "00-%032x-%016x-01".formatted(id * 1_000_003L + call, call + 1L));
      return b.toByteArray();
    }

    byte[] responseBlock() {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      b.write(0x88); // :status 200
      if (!responsesIndexed) {
        literal(b, 0x40 | 31, CONTENT_TYPE);
      } else {
        b.write(0x80 | 63);
      }
      return b.toByteArray();
    }

    byte[] trailersBlock() {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      if (!responsesIndexed) {
        b.write(0x40);
        string(b, "grpc-status");
        string(b, "0");
        responsesIndexed = true;
      } else {
        b.write(0x80 | 62);
      }
      return b.toByteArray();
    }
  }

  private static void literal(ByteArrayOutputStream b, int prefix, String value) {
    b.write(prefix);
    string(b, value);
  }

  /** A string literal without Huffman coding (lengths here stay below 127). */
  private static void string(ByteArrayOutputStream b, String s) {
    byte[] bytes = s.getBytes(StandardCharsets.US_ASCII);
    b.write(bytes.length);
    b.writeBytes(bytes);
  }

  /** A gRPC message's length on the wire: its DATA payload, which the kernel skips. */
  private static final int MESSAGE = 48;

  /** A DATA frame's header alone: the kernel copies no DATA payload. */
  private static byte[] dataHeader(int stream, int flags) {
    byte[] header = frame(0, flags, stream, new byte[0]);
    header[2] = (byte) MESSAGE;
    return header;
  }

  private static byte[] settings() {
    return new byte[] {0, 3, 0, 0, 0, 100, 0, 4, 0, 0x40, 0, 0};
  }

  private static byte[] frame(int type, int flags, int stream, byte[] payload) {
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

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
