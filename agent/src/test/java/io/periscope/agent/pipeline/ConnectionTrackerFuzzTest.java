package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.periscope.agent.http1.Http1Parser;
import io.periscope.agent.http2.Http2FrameReader;
import io.periscope.agent.testing.FuzzInput;
import io.periscope.agent.testing.Http2Traffic;
import io.periscope.agent.testing.RetainedMemory;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Coverage-guided fuzzing of the pipeline's first stage, from capture records to exchanges: the
 * connection tracker with its protocol detection, HTTP/1 and HTTP/2 parsers and the record
 * decoder. Inputs are {@link FuzzInput}s whose data is what one end sends, {@value #SEPARATOR},
 * what the other answers. Properties: records cut anywhere (past the first bytes, which decide
 * the protocol) give the same exchanges as whole ones; every exchange begins at a request line in
 * the bytes; a connection holds no more than its documented limits and nothing once closed; no
 * record, however corrupt, costs more than its own connection.
 */
class ConnectionTrackerFuzzTest {
  /** Between the requests and the responses in a seed: {@code \n|||\n}. */
  static final String SEPARATOR = "\n|||\n";
  /**
   * Protocol detection reads the first record of a connection alone: a method or the HTTP/2
   * preface cut inside its first 16 bytes is not recognised (a known limit: peers write and the
   * kernel reads more than that in one syscall). Cuts are kept past it.
   */
  private static final int DETECTION_BYTES = 16;
  private static final long SOCK = 0xffff_8881_0000_1000L;
  /** TCP sequence numbers of the first byte read, and written. */
  private static final long INGRESS_SEQUENCE = 1_000;
  private static final long EGRESS_SEQUENCE = 500_000;
  /** What a connection may hold, by the limits README's table documents, and some room for its objects. */
  private static final long HTTP1_BOUND = 2L * Http1Parser.MAX_HEAD_BYTES
      + Http1Exchanges.MAX_PIPELINED * (Http1Parser.MAX_HEAD_BYTES + 1024L) + 64 * 1024;
  private static final long HTTP2_BOUND = 2L * 4 * Http2FrameReader.MAX_HEADER_BLOCK
      + Http2Exchanges.MAX_STREAMS * (Http2FrameReader.MAX_HEADER_BLOCK + 1024L) + 256 * 1024;

  /**
   * An HTTP/1 connection. Flags: bit 0, this process is the client (it writes the requests); bit 1,
   * the agent saw it open; bit 2, it closes at the end.
   */
  @FuzzTest
  void http1(byte[] raw) {
    conversation(FuzzInput.of(raw), false);
  }

  /** An HTTP/2 connection: the client's bytes after the preface, then the server's. Flags as {@link #http1}. */
  @FuzzTest
  void http2(byte[] raw) {
    conversation(FuzzInput.of(raw), true);
  }

  private static void conversation(FuzzInput input, boolean http2) {
    byte[][] parts = FuzzInput.splitAt(input.data(), SEPARATOR);
    byte[] requests = input.repeated(parts[0]);
    byte[] responses = input.repeated(parts[1]);
    if (http2) {
      requests = Http2Traffic.concat(Http2Traffic.PREFACE, requests);
    }
    boolean client = input.flag(0);

    Pipeline whole = new Pipeline();
    whole.connection(input, client, List.of(requests), List.of(responses));
    Pipeline split = new Pipeline();
    int[] cuts = input.cutsIn(requests.length + responses.length);
    split.connection(input, client, pieces(requests, cuts, 0), pieces(responses, cuts, requests.length));

    for (Pipeline p : List.of(whole, split)) {
      assertThat(p.stats.snapshot().internalErrors()).as("a parser threw").isZero();
      if (!p.exchanges.isEmpty()) {
        assertThat(p.connected).as("the sink heard of the connection whose exchanges it got").isTrue();
      }
    }
    // A stream that does not begin as HTTP is looked at again at each record's start (up to
    // MAX_DETECTION_ATTEMPTS): where the records begin matters then, by design.
    if (ProtocolDetector.detect(MemorySegment.ofArray(requests), 0, requests.length)
        != ProtocolDetector.Guess.UNKNOWN) {
      assertThat(split.exchanges).isEqualTo(whole.exchanges);
      assertThat(split.requests).isEqualTo(whole.requests);
      assertThat(counts(split.stats)).isEqualTo(counts(whole.stats));
    }

    // Every exchange is anchored on a request in the bytes: nothing is made of bytes that were not one.
    for (Pipeline p : List.of(whole, split)) {
      for (Exchange e : p.exchanges) {
        if (http2) {
          assertThat(e.request().method() != null || e.request().target() != null || e.headersIncomplete())
              .as("a request with neither :method nor :path, its header block whole: %s", e).isTrue();
          continue;
        }
        // The bytes say who the process is: a request it writes makes it a client, whichever end the seed meant.
        boolean written = e.peer().role() == Peer.Role.CLIENT;
        byte[] stream = written == client ? requests : responses;
        int at = (int) ((e.requestSequence() - (written ? EGRESS_SEQUENCE : INGRESS_SEQUENCE)) & 0xffffffffL);
        String line = e.request().method() + " " + e.request().target() + " HTTP/1.";
        assertThat(at).isBetween(0, stream.length);
        assertThat(new String(stream, at, Math.min(line.length(), stream.length - at), StandardCharsets.ISO_8859_1))
            .isEqualTo(line);
      }
    }
    for (Pipeline p : List.of(whole, split)) {
      assertThat(p.memory.bytes()).as("a connection's memory").isLessThanOrEqualTo(http2 ? HTTP2_BOUND : HTTP1_BOUND);
      assertThat(p.memory.longestArray()).isLessThanOrEqualTo(http2
          ? 2 * Http2FrameReader.MAX_HEADER_BLOCK : Http1Parser.MAX_HEAD_BYTES);
      assertThat(p.memory.largestCollection()).isLessThanOrEqualTo(
          http2 ? Http2Exchanges.MAX_STREAMS : Http1Exchanges.MAX_PIPELINED);
    }
    if (input.flag(2)) {
      assertThat(whole.tracker.size()).as("a closed connection is forgotten").isZero();
      assertThat(whole.afterClose.bytes()).as("nothing held once the connection closed")
          .isLessThanOrEqualTo(new Pipeline().retained().bytes());
    }
  }

  /** Pieces of one direction's bytes, cut where the cut points fall in it; the first piece keeps the bytes that decide the protocol. */
  private static List<byte[]> pieces(byte[] bytes, int[] cuts, int offset) {
    List<byte[]> pieces = new ArrayList<>();
    int from = 0;
    for (int cut : cuts) {
      int at = cut - offset;
      if (at > from && at < bytes.length && (offset > 0 || at >= DETECTION_BYTES)) {
        pieces.add(Arrays.copyOfRange(bytes, from, at));
        from = at;
      }
    }
    pieces.add(Arrays.copyOfRange(bytes, from, bytes.length));
    return pieces;
  }

  /**
   * Records of a connection that come between the records of a good exchange on another, side by
   * side in one buffer as in the ring: whatever the fuzzer put in them (a record's header
   * included), the good exchange comes out whole, and the corrupt records cost their own
   * connection only. The data is the records' bytes; the cut points cut it into records.
   */
  @FuzzTest
  void corruptRecords(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    Pipeline p = new Pipeline();
    byte[] request = p.record(SocketEvent.DIRECTION_INGRESS, INGRESS_SEQUENCE,
        "GET /good HTTP/1.1\r\nHost: good\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
    byte[] response = p.record(SocketEvent.DIRECTION_EGRESS, EGRESS_SEQUENCE,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.ISO_8859_1));
    List<byte[]> corrupt = input.pieces(input.whole());
    List<byte[]> records = new ArrayList<>();
    records.add(request);
    for (byte[] record : corrupt) {
      if (record.length >= SocketEvent.SIZE && bytesOf(record, 16, 8) == bytesOf(request, 16, 8)) {
        record[16] ^= 1; // another connection's record: one that is the good connection's may end it
      }
      records.add(record);
    }
    records.add(input.flag(0) ? 1 : records.size(), response);
    // Side by side in one segment, each handed over as its window, as the ring buffer does.
    int total = records.stream().mapToInt(r -> r.length + 8).sum();
    MemorySegment ring = MemorySegment.ofArray(new byte[total]);
    long offset = 0;
    for (byte[] record : records) {
      MemorySegment.copy(MemorySegment.ofArray(record), 0, ring, offset, record.length);
      offset += record.length + 8;
    }
    offset = 0;
    SocketEvent view = new SocketEvent();
    for (byte[] record : records) {
      if (view.wrap(ring, offset, record.length)) {
        assertThat(SocketEvent.SIZE + (long) view.capturedLength() + view.tailLength())
            .as("a record's payload is inside its window").isLessThanOrEqualTo(record.length);
      }
      p.tracker.onRecord(ring, offset, record.length);
      offset += record.length + 8;
    }
    assertThat(p.stats.snapshot().internalErrors()).isZero();
    List<Exchange> good = p.exchanges.stream().filter(e -> "/good".equals(e.request().target())
        && e.peer().localPort() == 8080).toList();
    assertThat(good).as("the good exchange, %d records of another connection beside it", corrupt.size()).hasSize(1);
    assertThat(good.getFirst().response().status()).isEqualTo(200);
  }

  private static long bytesOf(byte[] record, int at, int n) {
    long value = 0;
    for (int i = 0; i < n; i++) {
      value = value << 8 | (record[at + i] & 0xff);
    }
    return value;
  }

  /** Everything counted but the records themselves, which the cuts multiply. */
  private static List<Long> counts(PipelineStats stats) {
    PipelineStats.Snapshot s = stats.snapshot();
    return List.of(s.malformedEvents(), s.connectionsTracked(), s.connectionsEvicted(), s.connectionsNotHttp(),
        s.connectionsHttp2(), s.http1ParseFailures(), s.http2ParseFailures(), s.http2StreamsEvicted(),
        s.http2Resyncs(), s.unmatchedResponses(), s.incompleteExchanges(), s.pipelineOverflows(), s.exchanges(),
        s.internalErrors());
  }

  /** An exchange without its times, which depend on the records it came in. */
  record Exchange(Peer peer, int tid, String protocolVersion, RequestHead request, ResponseHead response,
      String streamError, boolean headersIncomplete, long requestSequence) {
    static Exchange of(HttpExchange e) {
      return new Exchange(e.peer(), e.tid(), e.protocolVersion(), e.request(), e.response(), e.streamError(),
          e.headersIncomplete(), e.requestSequence());
    }
  }

  /** A tracker, a sink that keeps what it is told, and one connection's records. */
  private static final class Pipeline implements ExchangeSink {
    final PipelineStats stats = new PipelineStats();
    final ConnectionTracker tracker = new ConnectionTracker(this, stats);
    final List<Exchange> exchanges = new ArrayList<>();
    final List<String> requests = new ArrayList<>();
    boolean connected;
    RetainedMemory memory;
    RetainedMemory afterClose;
    private long clock = 1_000_000;

    void connection(FuzzInput input, boolean client, List<byte[]> requestPieces, List<byte[]> responsePieces) {
      byte requestDirection = client ? SocketEvent.DIRECTION_EGRESS : SocketEvent.DIRECTION_INGRESS;
      byte responseDirection = (byte) (requestDirection ^ 1);
      long requestSequence = client ? EGRESS_SEQUENCE : INGRESS_SEQUENCE;
      long responseSequence = client ? INGRESS_SEQUENCE : EGRESS_SEQUENCE;
      if (input.flag(1)) {
        feed(encoder(SocketEventEncoder.open(client ? SocketEvent.ORIGIN_CONNECT : SocketEvent.ORIGIN_ACCEPT)));
      }
      for (byte[] piece : requestPieces) {
        if (piece.length > 0) {
          feed(record(requestDirection, requestSequence, piece));
          requestSequence += piece.length;
        }
      }
      for (byte[] piece : responsePieces) {
        if (piece.length > 0) {
          feed(record(responseDirection, responseSequence, piece));
          responseSequence += piece.length;
        }
      }
      memory = retained();
      if (input.flag(2)) {
        feed(encoder(SocketEventEncoder.close()));
        afterClose = retained();
      }
    }

    RetainedMemory retained() {
      return RetainedMemory.of(tracker, this, stats);
    }

    byte[] record(byte direction, long sequence, byte[] payload) {
      return encoder(SocketEventEncoder.data(direction, payload)).sequence(sequence).totalLength(payload.length)
          .encode();
    }

    private SocketEventEncoder encoder(SocketEventEncoder e) {
      long enter = clock += 10;
      long exit = clock += 7;
      return e.process(100, 101, "srv").socket(SOCK, 7)
          .endpoints(SocketEventEncoder.v4(10, 0, 0, 5), 8080, SocketEventEncoder.v4(10, 0, 0, 9), 50_000)
          .time(enter, exit);
    }

    private void feed(SocketEventEncoder e) {
      feed(e.encode());
    }

    private void feed(byte[] record) {
      tracker.onRecord(MemorySegment.ofArray(record), 0, record.length);
    }

    @Override
    public void onRequest(Peer peer, int tid, long sequence, long startNanos, RequestHead request) {
      requests.add(peer.role() + " " + tid + " " + sequence + " " + request);
    }

    @Override
    public void onExchange(HttpExchange exchange) {
      exchanges.add(Exchange.of(exchange));
    }

    @Override
    public void onConnection(Peer peer) {
      connected = true;
    }
  }
}
