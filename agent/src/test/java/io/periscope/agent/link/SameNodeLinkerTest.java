package io.periscope.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SameNodeLinkerTest {
  private static final long WINDOW = 1_000_000;
  private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String CALLER = "00f067aa0ba902b7";

  private final List<SpanData> exported = new ArrayList<>();
  private SameNodeLinker linker;

  /** The client (curl, port 40000) and the server (python, port 8000) of one loopback connection. */
  private final Peer client = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
  private final Peer server = peer(Peer.Role.SERVER, 202, 8_000, 40_000);

  @BeforeEach
  void linker() {
    SpanSink sink = new SpanSink() {
      @Override
      public boolean offer(SpanData span) {
        return exported.add(span);
      }

      @Override
      public ExportStats stats() {
        return new ExportStats(0, 0, 0, 0, 0);
      }

      @Override
      public void close() {}
    };
    SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), sink, false);
    linker = new SameNodeLinker(spans, WINDOW, 4);
  }

  @Test
  void serverCompletingFirstWaitsForItsClientAndBecomesItsChild() {
    linker.onConnection(client);
    linker.onConnection(server);
    linker.onExchange(exchange(server, 1_000, 100, 200, null));
    assertThat(exported).as("held until the client's exchange").isEmpty();

    linker.onExchange(exchange(client, 1_000, 50, 250, null));

    SpanData clientSpan = only(SpanKind.CLIENT);
    SpanData serverSpan = only(SpanKind.SERVER);
    assertThat(serverSpan.getTraceId()).isEqualTo(clientSpan.getTraceId());
    assertThat(serverSpan.getParentSpanId()).isEqualTo(clientSpan.getSpanId());
    assertThat(clientSpan.getParentSpanContext().isValid()).isFalse();
    assertThat(linker.stats().linked()).isEqualTo(1);
  }

  @Test
  void clientCompletingFirstIsRememberedForItsServer() {
    linker.onConnection(client);
    linker.onExchange(exchange(client, 7_777, 50, 250, null));
    linker.onExchange(exchange(server, 7_777, 100, 260, null));

    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(only(SpanKind.CLIENT).getSpanId());
  }

  @Test
  void anotherRequestOnTheSameConnectionIsNotLinkedToTheWrongClientSpan() {
    linker.onConnection(client);
    linker.onExchange(exchange(server, 1_000, 100, 200, null));
    linker.onExchange(exchange(client, 2_000, 50, 250, null)); // a different request's first byte

    assertThat(exported).extracting(SpanData::getKind).containsExactly(SpanKind.CLIENT);
    linker.expire(200 + WINDOW + 1);
    assertThat(only(SpanKind.SERVER).getParentSpanContext().isValid()).isFalse();
    assertThat(linker.stats().unlinkedAfterWait()).isEqualTo(1);
    assertThat(linker.stats().linked()).isZero();
  }

  @Test
  void traceparentWinsOverTheSocket() {
    linker.onConnection(client);
    linker.onExchange(exchange(server, 1_000, 100, 200, "00-" + TRACE + "-" + CALLER + "-01"));

    SpanData serverSpan = only(SpanKind.SERVER);
    assertThat(serverSpan.getTraceId()).isEqualTo(TRACE);
    assertThat(serverSpan.getParentSpanId()).isEqualTo(CALLER);
    linker.onExchange(exchange(client, 1_000, 50, 250, null));
    assertThat(linker.stats().linked()).isZero();
  }

  @Test
  void serversOfUntracedClientsAreNeverHeld() {
    linker.onExchange(exchange(server, 1_000, 100, 200, null));

    assertThat(only(SpanKind.SERVER).getParentSpanContext().isValid()).isFalse();
  }

  @Test
  void aClosedClientConnectionNoLongerHoldsServers() {
    linker.onConnection(client);
    linker.onConnectionEnd(client);
    linker.onExchange(exchange(server, 1_000, 100, 200, null));

    assertThat(exported).hasSize(1);
  }

  @Test
  void heldServersAreBoundedAndReleasedOldestFirst() {
    linker.onConnection(client);
    for (int i = 0; i < 6; i++) {
      linker.onExchange(exchange(server, 1_000 + i, 100, 200 + i, "/" + i, null));
    }
    assertThat(linker.heldCount()).isEqualTo(4);
    assertThat(linker.stats().heldOverflow()).isEqualTo(2);
    assertThat(exported).extracting(s -> s.getAttributes().get(io.opentelemetry.semconv.UrlAttributes.URL_PATH))
        .containsExactly("/0", "/1");

    linker.flush();
    assertThat(exported).hasSize(6);
    assertThat(linker.heldCount()).isZero();
  }

  private SpanData only(SpanKind kind) {
    List<SpanData> spans = exported.stream().filter(s -> s.getKind() == kind).toList();
    assertThat(spans).hasSize(1);
    return spans.getFirst();
  }

  private static HttpExchange exchange(Peer peer, long sequence, long start, long end, String traceparent) {
    return exchange(peer, sequence, start, end, "/", traceparent);
  }

  private static HttpExchange exchange(Peer peer, long sequence, long start, long end, String path,
      String traceparent) {
    RequestHead request = new RequestHead("GET", path, "localhost", null, "curl/8", null, traceparent, null);
    return new HttpExchange(peer, peer.tgid(), "1.1", request, ResponseHead.http(200), null, false, start, end,
        sequence);
  }

  private static Peer peer(Peer.Role role, int tgid, int localPort, int remotePort) {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    return new Peer(tgid, "p" + tgid, role, loopback, localPort, loopback, remotePort, "127.0.0.1", "127.0.0.1");
  }
}
