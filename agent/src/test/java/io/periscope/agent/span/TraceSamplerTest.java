package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.link.TraceLinker;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.testing.CollectingSpanSink;
import io.periscope.exporter.SpanSink;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TraceSamplerTest {
  private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String CALLER = "00f067aa0ba902b7";

  private final List<SpanData> exported = new ArrayList<>();
  private final Peer client = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
  private final Peer server = peer(Peer.Role.SERVER, 202, 8_000, 40_000);

  @Test
  void aRatioOfZeroDropsEveryNewTraceAndCountsIt() {
    TraceSampler sampler = new TraceSampler(0);
    TraceLinker linker = linker(sampler);
    for (int i = 0; i < 10; i++) {
      run(linker, exchange(server, i, null));
    }
    assertThat(exported).isEmpty();
    assertThat(sampler.notSampled()).isEqualTo(10);
  }

  @Test
  void aRatioKeepsAboutThatShareOfNewTraces() {
    TraceSampler sampler = new TraceSampler(0.25);
    TraceLinker linker = linker(sampler);
    int n = 4_000;
    for (int i = 0; i < n; i++) {
      run(linker, exchange(server, i, null));
    }
    // Random trace ids: 1000 expected, a binomial standard deviation of 27.
    assertThat(exported.size()).isBetween(850, 1150);
    assertThat(exported.size() + sampler.notSampled()).isEqualTo(n);
    assertThat(exported).allSatisfy(s -> assertThat(s.getSpanContext().isSampled()).isTrue());
  }

  @Test
  void aCallersSampledFlagDecidesWhateverTheRatio() {
    TraceSampler none = new TraceSampler(0);
    linker(none).onExchange(exchange(server, 1, "00-" + TRACE + "-" + CALLER + "-01"));
    assertThat(exported).singleElement().satisfies(s -> {
      assertThat(s.getTraceId()).isEqualTo(TRACE);
      assertThat(s.getParentSpanId()).isEqualTo(CALLER);
    });

    exported.clear();
    TraceSampler all = new TraceSampler(1);
    linker(all).onExchange(exchange(server, 2, "00-" + TRACE + "-" + CALLER + "-00"));
    assertThat(exported).as("the caller did not sample this trace").isEmpty();
    assertThat(all.notSampled()).isEqualTo(1);
  }

  @Test
  void aServerLinkedToAnUnsampledClientOnThisNodeIsDroppedWithIt() {
    TraceSampler none = new TraceSampler(0);
    TraceLinker linker = linker(none);
    linker.onConnection(client);
    run(linker, exchange(client, 7, null));
    run(linker, exchange(server, 7, null));
    assertThat(exported).isEmpty();
    assertThat(none.notSampled()).isEqualTo(2);
    assertThat(linker.stats().linked()).isEqualTo(1);
  }

  @Test
  void refusesARatioOutsideZeroToOne() {
    assertThatThrownBy(() -> new TraceSampler(1.5)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new TraceSampler(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
  }

  private TraceLinker linker(TraceSampler sampler) {
    SpanSink sink = new CollectingSpanSink(exported);
    SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), sink, false, sampler);
    return new TraceLinker(spans, 1_000_000, 16);
  }

  /** The exchange's request starts, then it ends, as the pipeline reports them. */
  private static void run(TraceLinker linker, HttpExchange e) {
    linker.onRequest(e.peer(), e.tid(), e.requestSequence(), e.startNanos(), e.request());
    linker.onExchange(e);
  }

  private static HttpExchange exchange(Peer peer, long sequence, String traceparent) {
    RequestHead request = new RequestHead("GET", "/", "localhost", null, "curl/8", null, traceparent, null);
    return new HttpExchange(peer, peer.tgid(), "1.1", request, ResponseHead.http(200), null, false, 100, 200,
        sequence);
  }

  private static Peer peer(Peer.Role role, int tgid, int localPort, int remotePort) {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    return new Peer(tgid, "p" + tgid, role, loopback, localPort, loopback, remotePort, "127.0.0.1", "127.0.0.1");
  }
}
