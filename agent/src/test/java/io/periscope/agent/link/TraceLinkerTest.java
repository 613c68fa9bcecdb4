package io.periscope.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.semconv.UrlAttributes;
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

class TraceLinkerTest {
  private static final long WINDOW = 1_000_000;
  private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String CALLER = "00f067aa0ba902b7";
  private static final String HEADER = "00-" + TRACE + "-" + CALLER + "-01";
  private static final AttributeKey<String> UNLINKED = AttributeKey.stringKey("periscope.link.unlinked");

  private final List<SpanData> exported = new ArrayList<>();
  /** Those of them offered as parents: the export queue keeps room for them. */
  private final List<SpanData> offeredAsParents = new ArrayList<>();
  private TraceLinker linker = linker(4, false);

  /** The client (curl, port 40000) and the server (python, port 8000) of one loopback connection. */
  private final Peer client = peer(Peer.Role.CLIENT, 101, 40_000, 8_000);
  private final Peer server = peer(Peer.Role.SERVER, 202, 8_000, 40_000);

  private TraceLinker linker(int maxHeld, boolean sdkServerSpans) {
    SpanSink sink = new CollectingSpanSink(exported, offeredAsParents);
    SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), sink, false);
    return new TraceLinker(spans, WINDOW, maxHeld, sdkServerSpans);
  }

  // ---- between processes on this node ----

  @Test
  void aServerStartingBeforeItsClientWaitsForItAndBecomesItsChild() {
    linker.onConnection(client);
    start(server, 1_000, 100, null);
    end(server, 1_000, 100, 200, null);
    assertThat(exported).as("held until its client's start").isEmpty();

    start(client, 1_000, 50, null);
    end(client, 1_000, 50, 250, null);

    SpanData clientSpan = only(SpanKind.CLIENT);
    SpanData serverSpan = only(SpanKind.SERVER);
    assertThat(serverSpan.getTraceId()).isEqualTo(clientSpan.getTraceId());
    assertThat(serverSpan.getParentSpanId()).isEqualTo(clientSpan.getSpanId());
    assertThat(clientSpan.getParentSpanContext().isValid()).isFalse();
    assertThat(linker.stats().linked()).isEqualTo(1);
  }

  @Test
  void aClientStartingFirstIsFoundByItsServer() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    start(server, 7_777, 100, null);
    end(server, 7_777, 100, 240, null);
    assertThat(exported).as("known at its start: nothing to wait for").hasSize(1);
    end(client, 7_777, 50, 250, null);

    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(only(SpanKind.CLIENT).getSpanId());
  }

  /** The server's span is exported first: its parent, the client's, must not then be the one a full queue drops. */
  @Test
  void aSpanOthersNameAsParentIsOfferedAsAParent() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    start(server, 7_777, 100, null);
    end(server, 7_777, 100, 240, null);
    end(client, 7_777, 50, 250, null);

    assertThat(offeredAsParents).containsExactly(only(SpanKind.CLIENT));
  }

  @Test
  void aClientsStitchKeyOutlivesItsExchangeByAWindow() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    end(client, 7_777, 50, 250, null);
    start(server, 7_777, 260, null); // a server reading late, after the client already had its answer
    end(server, 7_777, 260, 270, null);
    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(only(SpanKind.CLIENT).getSpanId());

    linker.expire(250 + WINDOW + 1);
    start(server, 7_777, 300 + WINDOW, null);
    end(server, 7_777, 300 + WINDOW, 310 + WINDOW, null);
    assertThat(exported).hasSize(2); // waiting: the stitch key was forgotten
    linker.flush();
    assertThat(exported.getLast().getParentSpanContext().isValid()).isFalse();
  }

  @Test
  void anotherRequestOnTheSameConnectionIsNotLinkedToTheWrongClientSpan() {
    linker.onConnection(client);
    start(server, 1_000, 100, null);
    end(server, 1_000, 100, 200, null);
    start(client, 2_000, 50, null); // a different request's first byte
    end(client, 2_000, 50, 250, null);

    assertThat(exported).extracting(SpanData::getKind).containsExactly(SpanKind.CLIENT);
    linker.expire(100 + WINDOW + 1);
    assertThat(only(SpanKind.SERVER).getParentSpanContext().isValid()).isFalse();
    assertThat(linker.stats().unlinkedAfterWait()).isEqualTo(1);
    assertThat(linker.stats().linked()).isZero();
  }

  @Test
  void traceparentTheClientDidNotSendWinsOverTheSocket() {
    // The header arrived although the traced client here wrote none (added on the way): it names
    // the caller, and wins; the server waits only to learn what its client sent.
    linker.onConnection(client);
    start(server, 1_000, 100, HEADER);
    end(server, 1_000, 100, 200, HEADER);
    start(client, 1_000, 50, null);
    end(client, 1_000, 50, 250, null);

    SpanData serverSpan = only(SpanKind.SERVER);
    assertThat(serverSpan.getTraceId()).isEqualTo(TRACE);
    assertThat(serverSpan.getParentSpanId()).isEqualTo(CALLER);
    assertThat(linker.stats().linked()).isZero();
  }

  @Test
  void aTraceparentFromAnUntracedClientWinsAtOnce() {
    start(server, 1_000, 100, HEADER);
    end(server, 1_000, 100, 200, HEADER);
    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(CALLER);
  }

  @Test
  void aProxyPassingItsCallersTraceparentOnIsTheParentOfItsUpstream() {
    // An SDK client calls nginx with a header; nginx passes it on to python: python's SERVER span
    // is the child of nginx's CLIENT span, which is the child of the request that brought the
    // header, even with another request in flight on nginx's thread.
    Peer nginxServer = peer(Peer.Role.SERVER, 303, 80, 40_000);
    Peer otherRequest = peer(Peer.Role.SERVER, 303, 80, 40_001);
    Peer nginxClient = peer(Peer.Role.CLIENT, 303, 50_000, 8_000);
    Peer python = peer(Peer.Role.SERVER, 202, 8_000, 50_000);
    linker.onConnection(nginxClient);
    start(otherRequest, 10, 90, null, 9);
    start(nginxServer, 1_000, 100, HEADER, 9);
    start(python, 2_000, 120, HEADER, 4); // python reads before nginx's write is seen
    start(nginxClient, 2_000, 110, HEADER, 9);
    end(nginxClient, 2_000, 110, 150, HEADER, 9);
    end(python, 2_000, 120, 140, HEADER, 4);
    end(nginxServer, 1_000, 100, 160, HEADER, 9);

    SpanData proxied = exported.stream().filter(s -> s.getKind() == SpanKind.SERVER && s.getTraceId().equals(TRACE)
        && s.getParentSpanId().equals(CALLER)).findFirst().orElseThrow();
    SpanData upstreamCall = only(SpanKind.CLIENT);
    SpanData upstream = exported.stream().filter(s -> s.getKind() == SpanKind.SERVER && s != proxied)
        .findFirst().orElseThrow();
    assertThat(upstreamCall.getParentSpanId()).isEqualTo(proxied.getSpanId());
    assertThat(upstream.getParentSpanId()).isEqualTo(upstreamCall.getSpanId());
    assertThat(upstream.getTraceId()).isEqualTo(TRACE);
    assertThat(linker.stats().sdkProcesses()).as("a proxy is not an SDK").isZero();
  }

  /**
   * The client's exchange is never seen to end (its connection lost to the parser, evicted): its
   * server span already names it as parent, so it gets a span too, marked as not followed, with no
   * error, ended when it was given up. No exported span names a parent that is not exported.
   */
  @Test
  void aClientNeverSeenToEndStillHasTheSpanItsServerNamesAsParent() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    start(server, 7_777, 100, null);
    end(server, 7_777, 100, 240, null);
    linker.onConnectionEnd(client);

    SpanData clientSpan = only(SpanKind.CLIENT);
    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(clientSpan.getSpanId());
    assertThat(clientSpan.getAttributes().get(AttributeKey.booleanKey("periscope.exchange.unfollowed"))).isTrue();
    assertThat(clientSpan.getStatus().getStatusCode()).isEqualTo(io.opentelemetry.api.trace.StatusCode.UNSET);
    assertThat(clientSpan.getAttributes().get(AttributeKey.stringKey("error.type"))).isNull();
    assertThat(clientSpan.getStartEpochNanos()).isEqualTo(50);
    assertThat(clientSpan.getEndEpochNanos()).as("the latest time the linker knew").isEqualTo(240);
    assertThat(linker.stats().unfinishedParents()).isEqualTo(1);
  }

  /** A server whose start comes after its client was given up still finds a parent that is exported. */
  @Test
  void aServerStartingAfterItsClientWasGivenUpMakesTheClientSpan() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    linker.onConnectionEnd(client);
    assertThat(exported).as("no span names it yet: none is made").isEmpty();

    start(server, 7_777, 100, null);
    end(server, 7_777, 100, 240, null);

    assertThat(only(SpanKind.SERVER).getParentSpanId()).isEqualTo(only(SpanKind.CLIENT).getSpanId());
  }

  @Test
  void anUnfinishedRequestThatNoSpanNamesMakesNoSpan() {
    linker.onConnection(client);
    start(client, 7_777, 50, null);
    linker.onConnectionEnd(client);
    linker.expire(50 + 2 * WINDOW);
    linker.flush();

    assertThat(exported).isEmpty();
    assertThat(linker.stats().unfinishedParents()).isZero();
  }

  /** In one process: a call made while serving a request the agent then lost names that request's span. */
  @Test
  void aServerNeverSeenToEndStillHasTheSpanItsCallsNameAsParent() {
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000);
    start(server, 1_000, 100, null, 7);
    start(upstream, 5_000, 110, null, 7);
    end(upstream, 5_000, 110, 150, null, 7);
    linker.onConnectionEnd(server);

    SpanData serverSpan = only(SpanKind.SERVER);
    assertThat(only(SpanKind.CLIENT).getParentSpanId()).isEqualTo(serverSpan.getSpanId());
    assertThat(serverSpan.getAttributes().get(AttributeKey.booleanKey("periscope.exchange.unfollowed"))).isTrue();
  }

  @Test
  void serversOfUntracedClientsAreNeverHeld() {
    start(server, 1_000, 100, null);
    end(server, 1_000, 100, 200, null);
    assertThat(only(SpanKind.SERVER).getParentSpanContext().isValid()).isFalse();
  }

  @Test
  void aClosedClientConnectionNoLongerHoldsServers() {
    linker.onConnection(client);
    linker.onConnectionEnd(client);
    start(server, 1_000, 100, null);
    end(server, 1_000, 100, 200, null);
    assertThat(exported).hasSize(1);
  }

  @Test
  void waitingServersAreBoundedAndReleasedOldestFirst() {
    linker.onConnection(client);
    for (int i = 0; i < 6; i++) {
      start(server, 1_000 + i, 100 + i, null);
    }
    for (int i = 0; i < 6; i++) {
      end(server, 1_000 + i, 100 + i, 200 + i, "/" + i, null);
    }
    assertThat(linker.stats().heldOverflow()).isEqualTo(2);
    assertThat(exported).extracting(s -> s.getAttributes().get(UrlAttributes.URL_PATH)).containsExactly("/0", "/1");
    assertThat(linker.heldCount()).isEqualTo(4 + 4); // four exchanges ended, waiting for four servers' clients

    linker.flush();
    assertThat(exported).hasSize(6);
    assertThat(linker.heldCount()).isZero();
  }

  // ---- inside one process ----

  @Test
  void aClientCallOnTheThreadServingARequestIsItsChild() {
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000); // the python server calling another
    start(server, 1_000, 100, null, 7);
    start(upstream, 5_000, 120, null, 7);
    end(upstream, 5_000, 120, 180, null, 7);
    end(server, 1_000, 100, 200, null, 7);

    SpanData call = only(SpanKind.CLIENT);
    SpanData served = only(SpanKind.SERVER);
    assertThat(call.getTraceId()).isEqualTo(served.getTraceId());
    assertThat(call.getParentSpanId()).isEqualTo(served.getSpanId());
    assertThat(call.getAttributes().get(UNLINKED)).isNull();
    assertThat(linker.stats().linkedInProcess()).isEqualTo(1);
  }

  @Test
  void aCallOnAnotherThreadOrAfterTheResponseIsNotAChild() {
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000);
    start(server, 1_000, 100, null, 7);
    start(upstream, 5_000, 120, null, 8); // another thread: a pool the agent cannot see through
    end(server, 1_000, 100, 200, null, 7);
    start(upstream, 6_000, 220, null, 7); // after the response: the thread serves nothing
    end(upstream, 5_000, 120, 180, null, 8);
    end(upstream, 6_000, 220, 280, null, 7);

    assertThat(exported).filteredOn(s -> s.getKind() == SpanKind.CLIENT).hasSize(2)
        .allSatisfy(s -> assertThat(s.getParentSpanContext().isValid()).isFalse())
        .allSatisfy(s -> assertThat(s.getAttributes().get(UNLINKED)).isNull());
  }

  /** An event loop serving two requests at once: the call could belong to either, so it belongs to neither. */
  @Test
  void aThreadServingSeveralRequestsIsNeverGuessed() {
    Peer other = peer(Peer.Role.SERVER, 202, 8_000, 40_001);
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000);
    start(server, 1_000, 100, null, 7);
    start(other, 3_000, 105, null, 7);
    start(upstream, 5_000, 120, null, 7);
    end(upstream, 5_000, 120, 180, null, 7);

    SpanData call = only(SpanKind.CLIENT);
    assertThat(call.getParentSpanContext().isValid()).isFalse();
    assertThat(call.getAttributes().get(UNLINKED)).isEqualTo(TraceLinker.CONCURRENT_REQUESTS);
    assertThat(linker.stats().ambiguous()).isEqualTo(1);
  }

  /** curl -> nginx -> python, no header anywhere: one trace, each span the child of the one before. */
  @Test
  void aProxyChainIsOneTrace() {
    Peer curl = peer(Peer.Role.CLIENT, 10, 40_000, 80);
    Peer nginxServer = peer(Peer.Role.SERVER, 20, 80, 40_000);
    Peer nginxClient = peer(Peer.Role.CLIENT, 20, 41_000, 8_000);
    Peer python = peer(Peer.Role.SERVER, 30, 8_000, 41_000);
    for (Peer p : List.of(curl, nginxServer, nginxClient, python)) {
      linker.onConnection(p);
    }
    start(curl, 100, 10, null, 10);
    start(nginxServer, 100, 12, null, 21);
    start(nginxClient, 900, 14, null, 21);
    start(python, 900, 16, null, 31);
    end(python, 900, 16, 20, null, 31);
    end(nginxClient, 900, 14, 22, null, 21);
    end(nginxServer, 100, 12, 24, null, 21);
    end(curl, 100, 10, 26, null, 10);

    assertChain(curl, nginxServer, nginxClient, python);
  }

  /** The same chain when each server's record comes before its client's: held, then all resolved at once. */
  @Test
  void aProxyChainIsOneTraceWhateverOrderTheRecordsCome() {
    Peer curl = peer(Peer.Role.CLIENT, 10, 40_000, 80);
    Peer nginxServer = peer(Peer.Role.SERVER, 20, 80, 40_000);
    Peer nginxClient = peer(Peer.Role.CLIENT, 20, 41_000, 8_000);
    Peer python = peer(Peer.Role.SERVER, 30, 8_000, 41_000);
    for (Peer p : List.of(curl, nginxServer, nginxClient, python)) {
      linker.onConnection(p);
    }
    start(nginxServer, 100, 12, null, 21);
    start(python, 900, 16, null, 31);
    start(nginxClient, 900, 14, null, 21);
    end(python, 900, 16, 20, null, 31);
    end(nginxClient, 900, 14, 22, null, 21);
    end(nginxServer, 100, 12, 24, null, 21);
    assertThat(exported).as("all wait for curl's span").isEmpty();
    start(curl, 100, 10, null, 10);
    end(curl, 100, 10, 26, null, 10);

    assertChain(curl, nginxServer, nginxClient, python);
  }

  private void assertChain(Peer... chain) {
    assertThat(exported).hasSize(chain.length);
    SpanData parent = null;
    for (Peer p : chain) {
      SpanData span = exported.stream().filter(s -> s.getKind() == kind(p)
          && s.getAttributes().get(AttributeKey.longKey("network.peer.port")) == p.remotePort()).findFirst().orElseThrow();
      if (parent == null) {
        assertThat(span.getParentSpanContext().isValid()).isFalse();
      } else {
        assertThat(span.getTraceId()).isEqualTo(parent.getTraceId());
        assertThat(span.getParentSpanId()).as("parent of %s", p).isEqualTo(parent.getSpanId());
      }
      parent = span;
    }
  }

  // ---- processes with their own SDK ----

  @Test
  void anSdksCallsAreLeftToTheSdkAndItsServerFollowsTheHeader() {
    Peer java = peer(Peer.Role.CLIENT, 300, 42_000, 8_000);
    Peer python = peer(Peer.Role.SERVER, 30, 8_000, 42_000);
    linker.onConnection(java);
    start(java, 500, 10, HEADER, 301);
    start(python, 500, 12, HEADER, 31);
    end(python, 500, 12, 20, HEADER, 31);
    end(java, 500, 10, 22, HEADER, 301);

    assertThat(exported).singleElement().satisfies(s -> {
      assertThat(s.getKind()).isEqualTo(SpanKind.SERVER);
      assertThat(s.getTraceId()).isEqualTo(TRACE);
      assertThat(s.getParentSpanId()).as("the SDK's CLIENT span").isEqualTo(CALLER);
    });
    assertThat(linker.stats().sdkProcesses()).isEqualTo(1);
    assertThat(linker.stats().sdkClientSpans()).isEqualTo(1);
  }

  @Test
  void anInstrumentedProcessGetsNoServerSpansUnlessAsked() {
    for (boolean asked : List.of(false, true)) {
      exported.clear();
      linker = linker(4, asked);
      Peer javaServer = peer(Peer.Role.SERVER, 300, 8_080, 43_000);
      Peer javaClient = peer(Peer.Role.CLIENT, 300, 42_000, 8_000);
      start(javaServer, 100, 10, null, 301);
      start(javaClient, 500, 12, HEADER, 301);
      end(javaClient, 500, 12, 20, HEADER, 301);
      end(javaServer, 100, 10, 22, null, 301);
      assertThat(exported).as("asked: %s", asked).hasSize(asked ? 1 : 0);
      assertThat(linker.stats().sdkServerSpans()).isEqualTo(asked ? 0 : 1);
    }
  }

  /** A proxy passing on the header it received is not instrumented: its spans are made, in the caller's trace. */
  @Test
  void aForwardedHeaderIsNoSdk() {
    Peer nginxServer = peer(Peer.Role.SERVER, 20, 80, 40_000);
    Peer nginxClient = peer(Peer.Role.CLIENT, 20, 41_000, 8_000);
    start(nginxServer, 100, 10, HEADER, 21);
    start(nginxClient, 900, 12, HEADER, 21);
    end(nginxClient, 900, 12, 20, HEADER, 21);
    end(nginxServer, 100, 10, 22, HEADER, 21);

    assertThat(exported).hasSize(2).allSatisfy(s -> assertThat(s.getTraceId()).isEqualTo(TRACE));
    assertThat(only(SpanKind.CLIENT).getParentSpanId()).isEqualTo(only(SpanKind.SERVER).getSpanId());
    assertThat(linker.stats().sdkProcesses()).isZero();
  }

  // ---- bounds and ends ----

  /** A request whose connection ended before its response serves no more: its thread's next call is no child of it. */
  @Test
  void anAbandonedRequestServesNoMore() {
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000);
    start(server, 1_000, 100, null, 7);
    linker.onConnectionEnd(server);
    start(upstream, 5_000, 120, null, 7);
    end(upstream, 5_000, 120, 180, null, 7);

    assertThat(only(SpanKind.CLIENT).getParentSpanContext().isValid()).isFalse();
    assertThat(linker.servingRequests()).isZero();
    assertThat(linker.inFlightCount()).isZero();
    assertThat(linker.consistent()).isTrue();
  }

  @Test
  void aRequestStartReportedTwiceKeepsItsFirstNode() {
    Peer upstream = peer(Peer.Role.CLIENT, 202, 41_000, 9_000);
    start(server, 1_000, 100, null, 7);
    start(server, 1_000, 100, null, 7);
    assertThat(linker.inFlightCount()).isEqualTo(1);
    assertThat(linker.consistent()).isTrue();
    start(upstream, 5_000, 120, null, 7); // the thread serves one request, not two
    end(upstream, 5_000, 120, 180, null, 7);
    end(server, 1_000, 100, 200, null, 7);
    assertThat(only(SpanKind.CLIENT).getParentSpanId()).isEqualTo(only(SpanKind.SERVER).getSpanId());
  }

  @Test
  void requestsInFlightAreBounded() {
    for (int i = 0; i < TraceLinker.MAX_IN_FLIGHT + 100; i++) {
      start(server, i, i, null, i % 50);
    }
    assertThat(linker.inFlightCount()).isEqualTo(TraceLinker.MAX_IN_FLIGHT);
    assertThat(linker.consistent()).isTrue();
    end(server, 5, 5, 10, null, 5); // forgotten: decided alone, as a root
    assertThat(only(SpanKind.SERVER).getParentSpanContext().isValid()).isFalse();
  }

  private void start(Peer peer, long sequence, long startNanos, @Nullable String traceparent) {
    start(peer, sequence, startNanos, traceparent, peer.tgid());
  }

  private void start(Peer peer, long sequence, long startNanos, @Nullable String traceparent, int tid) {
    linker.onRequest(peer, tid, sequence, startNanos, request("/", traceparent));
  }

  private void end(Peer peer, long sequence, long start, long end, @Nullable String traceparent) {
    end(peer, sequence, start, end, "/", traceparent, peer.tgid());
  }

  private void end(Peer peer, long sequence, long start, long end, String path, @Nullable String traceparent) {
    end(peer, sequence, start, end, path, traceparent, peer.tgid());
  }

  private void end(Peer peer, long sequence, long start, long end, @Nullable String traceparent, int tid) {
    end(peer, sequence, start, end, "/", traceparent, tid);
  }

  private void end(Peer peer, long sequence, long start, long end, String path, @Nullable String traceparent,
      int tid) {
    linker.onExchange(new HttpExchange(peer, tid, "1.1", request(path, traceparent), ResponseHead.http(200), null,
        false, start, end, sequence));
  }

  private static RequestHead request(String path, @Nullable String traceparent) {
    return new RequestHead("GET", path, "localhost", null, "curl/8", null, traceparent, null);
  }

  private SpanData only(SpanKind kind) {
    List<SpanData> spans = exported.stream().filter(s -> s.getKind() == kind).toList();
    assertThat(spans).hasSize(1);
    return spans.getFirst();
  }

  private static SpanKind kind(Peer peer) {
    return peer.role() == Peer.Role.SERVER ? SpanKind.SERVER : SpanKind.CLIENT;
  }

  private static Peer peer(Peer.Role role, int tgid, int localPort, int remotePort) {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    return new Peer(tgid, "p" + tgid, role, loopback, localPort, loopback, remotePort, "127.0.0.1", "127.0.0.1");
  }
}
