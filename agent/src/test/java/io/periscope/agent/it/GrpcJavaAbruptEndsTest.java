package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * gRPC calls between grpc-java (netty) JVMs that end the hard ways: cancelled by the client, cut
 * by the client's deadline, or refused by the server before any message (Trailers-Only). Each
 * call is still one linked pair of spans with the status the wire says.
 */
@Tag("kernel")
class GrpcJavaAbruptEndsTest {
  private static final int PORT = 18_620;
  private static final String SERVICE = GrpcJavaPeer.SERVICE;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess server;

  @BeforeAll
  static void start() throws Exception {
    tracing = TracingAgent.tracingPorts(PORT);
    server = PeerProcess.server(tmp, PORT, GrpcJavaPeer.command("server", PORT));
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
  void callCancelledByTheClientIsCancelledForBothEnds() throws Exception {
    // The client cancels once the first update came: RST_STREAM(CANCEL), no trailers. CANCELLED
    // by gRPC's mapping of HTTP/2 error codes, as grpc-java itself reports: the client's error only.
    SpanPair call = onlyCall("cancel", "CANCELLED after first");
    GrpcSpanAssert.assertCall(call, SERVICE, "Watch", PORT, 1, "CANCELLED");
    assertThat(call.client().statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(call.server().statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
  }

  /**
   * The client's application sees DEADLINE_EXCEEDED, but the wire does not say it: grpc-java's
   * client resets the stream with RST_STREAM(CANCEL) when its deadline passes, as for a cancel,
   * and so does its server when the deadline it read from grpc-timeout passes first (grpc-java
   * 1.85's server writes a status before its reset only when it could not read the request). No
   * status reaches the client, so both spans say what the reset says, CANCELLED, whichever end's
   * timer fired first; grpc-timeout is on the wire, but a reset after it is not proof of the deadline.
   */
  @Test
  void deadlineExceededIsTheCancelOnTheWire() throws Exception {
    // A unary call first: the deadline's clock would otherwise also run while a new JVM connects.
    List<SpanPair> calls = calls(List.of("unary", "deadline"), List.of("OK desserts", "DEADLINE_EXCEEDED"));
    GrpcSpanAssert.assertCall(calls.getFirst(), SERVICE, "Reverse", PORT, 0, null);
    SpanPair call = calls.getLast();
    GrpcSpanAssert.assertCall(call, SERVICE, "Bake", PORT, 1, "CANCELLED");
    assertThat(call.server().statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
    // Both spans end at the reset, when the deadline passed, long before the server would have answered.
    for (ReceivedSpan span : call.both()) {
      assertThat(Duration.ofNanos(span.endEpochNanos() - span.startEpochNanos())).as(span.toString())
          .isBetween(GrpcJavaPeer.DEADLINE.dividedBy(2), GrpcJavaPeer.BAKING.dividedBy(2));
    }
  }

  /**
   * The server fails before sending a message: grpc-java answers with Trailers-Only, one HEADERS
   * frame carrying :status 200 and grpc-status 14 with a percent-encoded grpc-message; the second
   * call's block refers to the first's through the HPACK dynamic table. UNAVAILABLE is the
   * server's failure: an error on both ends, with the message decoded.
   */
  @Test
  void trailersOnlyResponsesCarryTheirStatusToBothEnds() throws Exception {
    long failures = tracing.agent.pipelineStats().http2ParseFailures();
    String refused = "UNAVAILABLE " + GrpcJavaPeer.CLOSED_MESSAGE;
    List<SpanPair> calls = calls(List.of("closed", "closed"), List.of(refused, refused));
    for (SpanPair call : calls) {
      GrpcSpanAssert.assertCall(call, SERVICE, "Menu", PORT, 14, "UNAVAILABLE");
      assertThat(call.both()).allSatisfy(s -> assertThat(s.statusMessage()).as(s.toString())
          .isEqualTo(GrpcJavaPeer.CLOSED_MESSAGE));
    }
    assertThat(tracing.agent.pipelineStats().http2ParseFailures()).as("HTTP/2 parse failures").isEqualTo(failures);
  }

  private static SpanPair onlyCall(String name, String expectedOutput) throws Exception {
    return calls(List.of(name), List.of(expectedOutput)).getFirst();
  }

  /**
   * Makes these calls on one channel of a new client JVM; returns their span pairs, each linked,
   * in the order the calls began.
   */
  private static List<SpanPair> calls(List<String> names, List<String> expectedOutput) throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp,
        GrpcJavaPeer.command("client", PORT, names.toArray(String[]::new)));
    assertThat(client.output().strip().lines().toList()).as("what the client printed")
        .isEqualTo(expectedOutput);
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 2 * names.size());
    List<SpanPair> pairs = SpanPair.all(spans, client.pid(), List.of(server.pid()), names.size());
    SemanticConventions.assertNoDanglingParents(spans, Set.of());
    tracing.assertNoKernelDrops();
    return pairs.stream()
        .sorted((a, b) -> Long.compare(a.client().startEpochNanos(), b.client().startEpochNanos()))
        .toList();
  }
}
