package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * python grpcio (gRPC C-core) client -> python grpcio server, both traced from the kernel: every call
 * kind and outcome is one CLIENT and one SERVER span, named and attributed by the gRPC conventions
 * and linked into one trace. Each test runs its own client process, so each call is the first on its
 * connection.
 */
@Tag("kernel")
class GrpcPythonTest {
  private static final int PORT = 19_010;
  private static final String SERVICE = "demo.Echo";
  private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String PARENT_ID = "00f067aa0ba902b7";
  /** The server's message for Lookup, which gRPC percent-encodes on the wire (UTF-8 outside ASCII). */
  private static final String NOT_FOUND_MESSAGE = "no widget named \u00ab42\u00bb";

  @TempDir
  static Path tmp;
  private static Path script;
  private static TracingAgent tracing;
  private static PeerProcess server;

  @BeforeAll
  static void start() throws Exception {
    script = Path.of(GrpcPythonTest.class.getResource("grpc_echo.py").toURI());
    tracing = TracingAgent.tracingPorts(PORT);
    server = PeerProcess.server(tmp, PORT, PeerProcess.PYTHON, script.toString(), "server", Integer.toString(PORT));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(server, tracing);
  }

  @Test
  void unaryCall() throws Exception {
    long before = System.currentTimeMillis() * 1_000_000L;
    SpanPair call = call("unary", "OK ipv4:127.0.0.1:");
    long after = System.currentTimeMillis() * 1_000_000L;
    assertGrpc(call, "Unary", 0, null);
    for (ReceivedSpan span : call.both()) {
      assertThat(span.startEpochNanos()).isGreaterThanOrEqualTo(before - 1_000_000L);
      assertThat(span.endEpochNanos()).isGreaterThan(span.startEpochNanos()).isLessThanOrEqualTo(after + 1_000_000L);
    }
    // The client saw the whole call, so its span contains the server's.
    assertThat(call.client().startEpochNanos()).isLessThanOrEqualTo(call.server().startEpochNanos());
    assertThat(call.client().endEpochNanos())
        .isGreaterThanOrEqualTo(call.server().endEpochNanos() - WriteExitRace.NANOS);
    assertThat(call.server().resourceAttributes()).containsEntry("process.pid", server.pid());
  }

  @Test
  void serverStreamingCall() throws Exception {
    assertGrpc(call("server_stream", "OK 5"), "ServerStream", 0, null);
  }

  @Test
  void clientStreamingCall() throws Exception {
    assertGrpc(call("client_stream", "OK 4"), "ClientStream", 0, null);
  }

  @Test
  void bidirectionalStreamingCall() throws Exception {
    assertGrpc(call("bidi", "OK one,two,three"), "Bidi", 0, null);
  }

  @Test
  void notFoundIsAnErrorForTheClientOnly() throws Exception {
    SpanPair call = call("not_found", "NOT_FOUND " + NOT_FOUND_MESSAGE);
    assertGrpc(call, "Lookup", 5, "NOT_FOUND");
    assertThat(call.client().statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(call.client().statusMessage()).isEqualTo(NOT_FOUND_MESSAGE);
    assertThat(call.server().statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
    assertThat(call.server().attributes()).doesNotContainKey("error.type");
    assertThat(call.server().statusMessage()).isEmpty();
  }

  @Test
  void unimplementedMethodIsAnErrorForBothEnds() throws Exception {
    // grpcio answers an unknown method itself, with a Trailers-Only response (one HEADERS frame).
    SpanPair call = call("unimplemented", "UNIMPLEMENTED Method not found!");
    assertGrpc(call, "Missing", 12, "UNIMPLEMENTED");
    for (ReceivedSpan span : call.both()) {
      assertThat(span.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
      assertThat(span.statusMessage()).isEqualTo("Method not found!");
    }
  }

  @Test
  void internalErrorIsAnErrorForBothEnds() throws Exception {
    SpanPair call = call("internal", "INTERNAL storage is on fire");
    assertGrpc(call, "Crash", 13, "INTERNAL");
    for (ReceivedSpan span : call.both()) {
      assertThat(span.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
      assertThat(span.statusMessage()).isEqualTo("storage is on fire");
    }
  }

  @Test
  void mebibyteResponseFollowedByTrailersIsOneSpanPerEnd() throws Exception {
    // 1 MiB of DATA (16 KiB frames, flow-controlled) precedes the trailers that carry grpc-status:
    // the kernel skips DATA payloads but must keep the HEADERS frame behind them.
    assertGrpc(call("big", "OK " + (1 << 20)), "Big", 0, null);
  }

  @Test
  void callCancelledByTheClientIsCancelledForBothEnds() throws Exception {
    // The client reads the first message, then cancels: C-core sends RST_STREAM(CANCEL), and no
    // trailers ever come. Both ends report CANCELLED, as grpcio itself does (gRPC's mapping of
    // HTTP/2 error codes): the client's error, not the server's.
    SpanPair call = call("cancel", "CANCELLED after first");
    assertGrpc(call, "Hang", 1, "CANCELLED");
    assertThat(call.client().statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(call.server().statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
  }

  @Test
  void twentyConcurrentCallsOnOneConnectionKeepTheirOwnNamesAndStatuses() throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script.toString(), "client",
        Integer.toString(PORT), "concurrent");
    assertThat(client.output().strip()).isEqualTo("OK 10 NOT_FOUND 10");
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 40);
    List<SpanPair> calls = SpanPair.all(spans, client.pid(), List.of(server.pid()), 20);
    List<SpanPair> unary = calls.stream().filter(c -> c.client().name().endsWith("/Unary")).toList();
    List<SpanPair> lookup = calls.stream().filter(c -> c.client().name().endsWith("/Lookup")).toList();
    assertThat(unary).as(TracingAgent.describe(spans)).hasSize(10);
    assertThat(lookup).as(TracingAgent.describe(spans)).hasSize(10);
    unary.forEach(call -> assertGrpc(call, "Unary", 0, null));
    lookup.forEach(call -> assertGrpc(call, "Lookup", 5, "NOT_FOUND"));
    assertThat(calls).extracting(c -> c.server().attributes().get("client.port"))
        .as("one connection").containsOnly(calls.getFirst().server().attributes().get("client.port"));
    tracing.assertNoParseFailuresOrDrops();
  }

  @Test
  void traceparentInMetadataJoinsTheCallersTrace() throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script.toString(), "client",
        Integer.toString(PORT), "traceparent=00-" + TRACE_ID + "-" + PARENT_ID + "-01");
    assertThat(client.output().strip()).startsWith("OK ipv4:127.0.0.1:");
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 1);
    List<ReceivedSpan> servers = SpanPair.ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    List<ReceivedSpan> clients = SpanPair.ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(servers).as(TracingAgent.describe(spans)).hasSize(1);
    // The client wrote a traceparent of its own, as an SDK does: its CLIENT span is the SDK's to make.
    assertThat(clients).as(TracingAgent.describe(spans)).isEmpty();
    // The header wins over same-node linking: the server joins the trace it names.
    assertThat(servers.getFirst().traceId()).isEqualTo(TRACE_ID);
    assertThat(servers.getFirst().parentSpanId()).isEqualTo(PARENT_ID);
    assertThat(servers.getFirst().name()).isEqualTo(SERVICE + "/Unary");
    assertThat(TracingAgent.pid(servers.getFirst())).isEqualTo(server.pid());
    tracing.assertNoParseFailuresOrDrops();
  }

  /** Runs one call in a new client process; returns its two spans, checked to be one linked pair. */
  private static SpanPair call(String name, String expectedOutput) throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, script.toString(), "client",
        Integer.toString(PORT), name);
    assertThat(client.output().strip()).as("what the client printed").startsWith(expectedOutput);
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 2);
    SpanPair pair = SpanPair.only(spans, client.pid(), List.of(server.pid()));
    tracing.assertNoParseFailuresOrDrops();
    return pair;
  }

  private static void assertGrpc(SpanPair call, String method, @Nullable Integer code, @Nullable String clientError) {
    GrpcSpanAssert.assertCall(call, SERVICE, method, PORT, code, clientError);
  }
}
