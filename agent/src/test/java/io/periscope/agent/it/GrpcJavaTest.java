package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A grpc-java (netty) client JVM -> a grpc-java server JVM, both traced from the kernel. netty's
 * HPACK encoder and frame writer differ from C-core's (and it writes through NIO channels): the calls
 * must still be one linked pair of gRPC spans each.
 */
@Tag("kernel")
class GrpcJavaTest {
  private static final int PORT = 19_020;
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
  void unaryCall() throws Exception {
    SpanPair call = call("unary", "OK desserts");
    GrpcSpanAssert.assertCall(call, SERVICE, "Reverse", PORT, 0, null);
    assertThat(call.server().resourceAttributes()).containsEntry("process.pid", server.pid());
  }

  @Test
  void notFoundIsAnErrorForTheClientOnly() throws Exception {
    SpanPair call = call("not_found", "NOT_FOUND " + GrpcJavaPeer.NOT_FOUND_MESSAGE);
    GrpcSpanAssert.assertCall(call, SERVICE, "Find", PORT, 5, "NOT_FOUND");
    assertThat(call.client().statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(call.client().statusMessage()).isEqualTo(GrpcJavaPeer.NOT_FOUND_MESSAGE);
    assertThat(call.server().statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
    assertThat(call.server().statusMessage()).isEmpty();
  }

  @Test
  void mebibyteResponseFollowedByTrailersIsOneSpanPerEnd() throws Exception {
    GrpcSpanAssert.assertCall(call("big", "OK " + (1 << 20) + " bytes"), SERVICE, "Download", PORT, 0, null);
  }

  @Test
  void callsOnOneChannelAreOneSpanPairEach() throws Exception {
    // After the first call netty's HPACK encoder sends :path, :authority and content-type as
    // dynamic-table indices: the agent saw the table being built, so every call still decodes.
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp,
        GrpcJavaPeer.command("client", PORT, "unary", "not_found", "unary"));
    assertThat(client.output().strip().lines().toList())
        .containsExactly("OK desserts", "NOT_FOUND " + GrpcJavaPeer.NOT_FOUND_MESSAGE, "OK desserts");
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 6);
    List<SpanPair> calls = SpanPair.all(spans, client.pid(), List.of(server.pid()), 3);
    List<SpanPair> inOrder = calls.stream()
        .sorted(Comparator.comparingLong(p -> p.client().startEpochNanos()))
        .toList();
    GrpcSpanAssert.assertCall(inOrder.get(0), SERVICE, "Reverse", PORT, 0, null);
    GrpcSpanAssert.assertCall(inOrder.get(1), SERVICE, "Find", PORT, 5, "NOT_FOUND");
    GrpcSpanAssert.assertCall(inOrder.get(2), SERVICE, "Reverse", PORT, 0, null);
    // One connection: the server saw every call come from the same client port.
    assertThat(calls).extracting(p -> p.server().attributes().get("client.port"))
        .containsOnly(calls.getFirst().server().attributes().get("client.port"));
    tracing.assertNoParseFailuresOrDrops();
  }

  /** Runs one call in a new client JVM; returns its two spans, checked to be one linked pair. */
  private static SpanPair call(String name, String expectedOutput) throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, GrpcJavaPeer.command("client", PORT, name));
    assertThat(client.output().strip()).as("what the client printed").isEqualTo(expectedOutput);
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), server.pid()), 2);
    SpanPair pair = SpanPair.only(spans, client.pid(), List.of(server.pid()));
    tracing.assertNoParseFailuresOrDrops();
    return pair;
  }
}
