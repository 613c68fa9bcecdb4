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
 * Who is on a connection is said as early as the kernel tells: a connecting end at connect(), before
 * its first bytes (a server on this node may read its request before the pipeline sees the write),
 * and every peer said is unsaid when the connection ends.
 */
class ConnectionAnnouncementsTest {
  private final List<String> said = new ArrayList<>();
  private final ExchangeSink sink = new ExchangeSink() {
    @Override
    public void onExchange(HttpExchange exchange) {}

    @Override
    public void onConnection(Peer peer) {
      said.add("+" + peer.role() + " " + peer.comm());
    }

    @Override
    public void onConnectionEnd(Peer peer) {
      said.add("-" + peer.role() + " " + peer.comm());
    }
  };
  private final ConnectionTracker tracker = new ConnectionTracker(sink, new PipelineStats());

  @Test
  void aConnectingEndIsSaidAtConnectThenByItsProtocol() {
    feed(SocketEventEncoder.open(SocketEvent.ORIGIN_CONNECT).process(10, 10, "curl").socket(0x100, 3)
        .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 41_000, SocketEventEncoder.v4(127, 0, 0, 1), 80));
    assertThat(said).containsExactly("+CLIENT curl");

    // The first bytes, written by another thread with another name: said again, as it is now.
    feed(SocketEventEncoder.data(SocketEvent.DIRECTION_EGRESS, ascii("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        .process(10, 11, "curl-worker").socket(0x100, 3)
        .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 41_000, SocketEventEncoder.v4(127, 0, 0, 1), 80));
    assertThat(said).containsExactly("+CLIENT curl", "+CLIENT curl-worker");

    feed(SocketEventEncoder.close().process(10, 10, "curl").socket(0x100, 3)
        .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 41_000, SocketEventEncoder.v4(127, 0, 0, 1), 80));
    assertThat(said).containsExactly("+CLIENT curl", "+CLIENT curl-worker", "-CLIENT curl-worker", "-CLIENT curl");
  }

  @Test
  void anAcceptingEndIsSaidOnlyOnceItsProtocolShowsWhoServes() {
    feed(SocketEventEncoder.open(SocketEvent.ORIGIN_ACCEPT).process(20, 20, "nginx").socket(0x200, 5)
        .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 80, SocketEventEncoder.v4(127, 0, 0, 1), 41_000));
    assertThat(said).isEmpty();
    feed(SocketEventEncoder.data(SocketEvent.DIRECTION_INGRESS, ascii("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        .process(20, 20, "nginx").socket(0x200, 5)
        .endpoints(SocketEventEncoder.v4(127, 0, 0, 1), 80, SocketEventEncoder.v4(127, 0, 0, 1), 41_000));
    assertThat(said).containsExactly("+SERVER nginx");
  }

  private void feed(SocketEventEncoder e) {
    byte[] r = e.time(1, 2).encode();
    tracker.onRecord(MemorySegment.ofArray(r), 0, r.length);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
