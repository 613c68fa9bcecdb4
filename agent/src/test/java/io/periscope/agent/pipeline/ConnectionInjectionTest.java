package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the kernel reports of traceparent injection reaches the linker, and the sequence numbers of
 * requests stay those the peer sees: a request written after the insertion point, in the same
 * record, starts the line's length later on the wire than in the bytes the process wrote.
 */
class ConnectionInjectionTest {
  private static final String VALUE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  private static final String LINE = "traceparent: " + VALUE + "\r\n";
  private static final String FIRST = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  private static final String SECOND = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";

  private final List<String> said = new ArrayList<>();
  private final ExchangeSink sink = new ExchangeSink() {
    @Override
    public void onExchange(HttpExchange exchange) {}

    @Override
    public void onRequest(Peer peer, int tid, long sequence, long startNanos, RequestHead request) {
      said.add("request " + request.target() + " at " + sequence);
    }

    @Override
    public void onTraceInjected(Peer client, long sequence, String traceparent) {
      said.add("injected " + traceparent + " at " + sequence + " by " + client.role() + " " + client.localPort());
    }

    @Override
    public void onTraceRoot(Peer server, long sequence, String traceId) {
      said.add("root " + traceId + " at " + sequence + " for " + server.role() + " " + server.localPort());
    }
  };
  private final PipelineStats stats = new PipelineStats();
  private final ConnectionTracker tracker = new ConnectionTracker(sink, stats);

  @Test
  void requestsAfterTheInsertedLineStartItsLengthLaterOnTheWire() {
    feed(fromClient(SocketEventEncoder.open(SocketEvent.ORIGIN_CONNECT)));
    feed(fromClient(SocketEventEncoder.injected(LINE, "GET /a HTTP/1.1\r\n".length()).sequence(1_000)));
    feed(fromClient(SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, ascii(FIRST + SECOND)).sequence(1_000)));
    // The next write: the kernel's sequence number already counts the line; nothing more to shift.
    long next = 1_000 + FIRST.length() + SECOND.length() + SocketEvent.TRACEPARENT_LINE;
    feed(fromClient(SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, ascii("GET /c HTTP/1.1\r\nHost: h\r\n\r\n"))
        .sequence(next)));

    assertThat(said).containsExactly(
        "injected " + VALUE + " at 1000 by CLIENT 41000",
        "request /a at 1000",
        "request /b at " + (1_000 + FIRST.length() + SocketEvent.TRACEPARENT_LINE),
        "request /c at " + next);
    assertThat(stats.snapshot().malformedEvents()).isZero();
  }

  @Test
  void aRootTraceIsSaidForTheServerEnd() {
    feed(SocketEventEncoder.root("4bf92f3577b34da6a3ce929d0e0e4736").sequence(500).endpoints(
        SocketEventEncoder.v4(127, 0, 0, 1), 80, SocketEventEncoder.v4(127, 0, 0, 1), 41_000));
    assertThat(said).containsExactly("root 4bf92f3577b34da6a3ce929d0e0e4736 at 500 for SERVER 80");
  }

  @Test
  void aRecordThatIsNotAWholeLineIsCountedAndSaysNothing() {
    feed(SocketEventEncoder.injected("traceparent: 00-short\r\n", 17).sequence(1_000));
    feed(SocketEventEncoder.injected(LINE, 0).sequence(1_000)); // before the request line: impossible
    feed(SocketEventEncoder.root("NOT-HEX-4bf92f3577b34da6a3ce929d0").sequence(500));
    assertThat(said).isEmpty();
    assertThat(stats.snapshot().malformedEvents()).isEqualTo(3);
  }

  /** curl's end of a connection from port 41000 to port 80. */
  private static SocketEventEncoder fromClient(SocketEventEncoder e) {
    return e.endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 41_000, SocketEventEncoder.v4(127, 0, 0, 1), 80);
  }

  private void feed(SocketEventEncoder e) {
    byte[] r = e.process(10, 10, "curl").socket(0x100, 3).time(1, 2).encode();
    tracker.onRecord(MemorySegment.ofArray(r), 0, r.length);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
