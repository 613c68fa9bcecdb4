package io.periscope.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.agent.testing.CollectingSpanSink;
import io.periscope.exporter.SpanSink;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * Linking under traceparent injection: the kernel wrote a CLIENT span's ids into its request
 * before the agent saw it, and may have made the trace of the request its thread serves. The span
 * must carry exactly the written ids; it is a child only where the kernel's trace agrees with the
 * linking, otherwise a root, never under a wrong parent.
 */
class TraceLinkerInjectionTest {
  private static final long WINDOW = 1_000_000;
  private static final String KERNEL_TRACE = "0af7651916cd43dd8448eb211c80319c";
  private static final String OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final AttributeKey<String> UNLINKED = AttributeKey.stringKey("periscope.link.unlinked");

  private final List<SpanData> exported = new ArrayList<>();
  private final TraceLinker linker = linker();

  /** A python server (port 8000) serving on thread 7, calling a service on another node from port 50000. */
  private final Peer served = peer(Peer.Role.SERVER, 202, 8_000, 40_000);
  private final Peer call = peer(Peer.Role.CLIENT, 202, 50_000, 9_000);

  private TraceLinker linker() {
    SpanSink sink = new CollectingSpanSink(exported);
    SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), sink, false);
    return new TraceLinker(spans, WINDOW, 16, false);
  }

  @Test
  void aStandaloneClientsSpanHasTheIdsTheKernelWrote() {
    Peer curl = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
    linker.onTraceInjected(curl, 1_000, written(OTHER_TRACE, "b7ad6b7169203331", "01"));
    start(curl, 1_000, 7);
    end(curl, 1_000, 7);

    SpanData span = only(SpanKind.CLIENT);
    assertThat(span.getTraceId()).isEqualTo(OTHER_TRACE);
    assertThat(span.getSpanId()).isEqualTo("b7ad6b7169203331");
    assertThat(span.getParentSpanContext().isValid()).isFalse();
    assertThat(span.getAttributes().get(UNLINKED)).isNull();
    assertThat(linker.stats().injected()).isEqualTo(1);
  }

  @Test
  void aCallInTheKernelsTraceOfTheServedRequestIsItsChild() {
    linker.onTraceRoot(served, 500, KERNEL_TRACE);
    start(served, 500, 7);
    linker.onTraceInjected(call, 9_000, written(KERNEL_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);
    end(served, 500, 7);

    SpanData server = only(SpanKind.SERVER);
    SpanData client = only(SpanKind.CLIENT);
    assertThat(server.getTraceId()).as("the root takes the trace the kernel made for it").isEqualTo(KERNEL_TRACE);
    assertThat(client.getSpanId()).isEqualTo("00f067aa0ba902b7");
    assertThat(client.getParentSpanId()).isEqualTo(server.getSpanId());
    assertThat(linker.stats().linkedInProcess()).isEqualTo(1);
  }

  @Test
  void aCallTheKernelPutInAnotherTraceIsARootOfThatTraceNeverAChild() {
    linker.onTraceRoot(served, 500, KERNEL_TRACE);
    start(served, 500, 7);
    linker.onTraceInjected(call, 9_000, written(OTHER_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);
    end(served, 500, 7);

    SpanData client = only(SpanKind.CLIENT);
    assertThat(client.getTraceId()).as("what the next hop continues").isEqualTo(OTHER_TRACE);
    assertThat(client.getParentSpanContext().isValid()).isFalse();
    assertThat(client.getAttributes().get(UNLINKED)).isEqualTo(TraceLinker.INJECTED_ELSEWHERE);
    assertThat(linker.stats().injectedElsewhere()).isEqualTo(1);
    assertThat(linker.stats().linkedInProcess()).isZero();
  }

  @Test
  void aCallOnAThreadServingSeveralKeepsTheKernelsIdsUnlinked() {
    Peer second = peer(Peer.Role.SERVER, 202, 8_000, 40_001);
    start(served, 500, 7);
    start(second, 600, 7);
    linker.onTraceInjected(call, 9_000, written(OTHER_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);

    SpanData client = only(SpanKind.CLIENT);
    assertThat(client.getSpanId()).isEqualTo("00f067aa0ba902b7");
    assertThat(client.getParentSpanContext().isValid()).isFalse();
    assertThat(client.getAttributes().get(UNLINKED)).isEqualTo(TraceLinker.CONCURRENT_REQUESTS);
  }

  @Test
  void aServerWithATraceparentKeepsItsTraceAndItsCallsInThatTraceAreChildren() {
    String caller = "00-" + OTHER_TRACE + "-b7ad6b7169203331-01";
    start(served, 500, 7, caller);
    linker.onTraceInjected(call, 9_000, written(OTHER_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);
    end(served, 500, 7, caller);

    SpanData server = only(SpanKind.SERVER);
    assertThat(server.getTraceId()).isEqualTo(OTHER_TRACE);
    assertThat(server.getParentSpanId()).isEqualTo("b7ad6b7169203331");
    assertThat(only(SpanKind.CLIENT).getParentSpanId()).isEqualTo(server.getSpanId());
  }

  @Test
  void aServerLinkedToAClientOnThisNodeLeavesACallInTheKernelsTraceARoot() {
    // The server's client on this node was not injected (its connection predates the agent), so
    // the server joins that client's trace, not the one the kernel made for the server's calls.
    Peer localClient = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
    linker.onConnection(localClient);
    linker.onTraceRoot(served, 500, KERNEL_TRACE);
    start(served, 500, 7);
    linker.onTraceInjected(call, 9_000, written(KERNEL_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);
    start(localClient, 500, 3);
    end(localClient, 500, 3);
    end(served, 500, 7);

    SpanData server = only(SpanKind.SERVER);
    assertThat(server.getParentSpanId()).isEqualTo(only(SpanKind.CLIENT, 8_000).getSpanId());
    SpanData injectedCall = only(SpanKind.CLIENT, 9_000);
    assertThat(injectedCall.getTraceId()).isEqualTo(KERNEL_TRACE);
    assertThat(injectedCall.getParentSpanContext().isValid()).isFalse();
    assertThat(injectedCall.getAttributes().get(UNLINKED)).isEqualTo(TraceLinker.INJECTED_ELSEWHERE);
  }

  @Test
  void aServerWhoseLocalClientNeverCameTakesTheKernelsTraceWithItsCalls() {
    Peer localClient = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
    linker.onConnection(localClient);
    linker.onTraceRoot(served, 500, KERNEL_TRACE);
    start(served, 500, 7);
    linker.onTraceInjected(call, 9_000, written(KERNEL_TRACE, "00f067aa0ba902b7", "01"));
    start(call, 9_000, 7);
    end(call, 9_000, 7);
    end(served, 500, 7);
    linker.expire(WINDOW + 1_000);

    SpanData server = only(SpanKind.SERVER);
    assertThat(server.getTraceId()).isEqualTo(KERNEL_TRACE);
    assertThat(only(SpanKind.CLIENT).getParentSpanId()).isEqualTo(server.getSpanId());
  }

  @Test
  void anUnsampledWrittenContextIsNotExported() {
    Peer curl = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
    linker.onTraceInjected(curl, 1_000, written(OTHER_TRACE, "b7ad6b7169203331", "00"));
    start(curl, 1_000, 7);
    end(curl, 1_000, 7);
    assertThat(exported).isEmpty();
  }

  @Test
  void kernelContextsWhoseRequestNeverCameAreBounded() {
    for (int i = 0; i < TraceLinker.MAX_KERNEL_CONTEXTS + 10; i++) {
      linker.onTraceInjected(call, i, written(OTHER_TRACE, "b7ad6b7169203331", "01"));
      linker.onTraceRoot(served, i, KERNEL_TRACE);
    }
    assertThat(linker.stats().kernelContextsDropped()).isEqualTo(20);
  }

  private static String written(String traceId, String spanId, String flags) {
    return "00-" + traceId + "-" + spanId + "-" + flags;
  }

  private void start(Peer peer, long sequence, int tid) {
    start(peer, sequence, tid, null);
  }

  private void start(Peer peer, long sequence, int tid, @Nullable String traceparent) {
    linker.onRequest(peer, tid, sequence, 100, request(traceparent));
  }

  private void end(Peer peer, long sequence, int tid) {
    end(peer, sequence, tid, null);
  }

  private void end(Peer peer, long sequence, int tid, @Nullable String traceparent) {
    linker.onExchange(new HttpExchange(peer, tid, "1.1", request(traceparent), ResponseHead.http(200), null,
        false, 100, 200, sequence));
  }

  private static RequestHead request(@Nullable String traceparent) {
    return new RequestHead("GET", "/", "localhost", null, "python-urllib/3", null, traceparent, null);
  }

  private SpanData only(SpanKind kind) {
    List<SpanData> spans = exported.stream().filter(s -> s.getKind() == kind).toList();
    assertThat(spans).hasSize(1);
    return spans.getFirst();
  }

  /** The one span of this kind that went to this server port. */
  private SpanData only(SpanKind kind, long serverPort) {
    List<SpanData> spans = exported.stream().filter(s -> s.getKind() == kind
        && Long.valueOf(serverPort).equals(s.getAttributes().get(AttributeKey.longKey("server.port")))).toList();
    assertThat(spans).as("%s spans to port %d in %s", kind, serverPort, exported).hasSize(1);
    return spans.getFirst();
  }

  private static Peer peer(Peer.Role role, int tgid, int localPort, int remotePort) {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    return new Peer(tgid, "p" + tgid, role, loopback, localPort, loopback, remotePort, "127.0.0.1", "127.0.0.1");
  }
}
