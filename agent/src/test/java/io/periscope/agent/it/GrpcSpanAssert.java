package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/** What both spans of a gRPC call traced on this node must be, by the gRPC semantic conventions. */
final class GrpcSpanAssert {
  /** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the codes that fail a server span. */
  private static final Set<Integer> SERVER_FAULTS = Set.of(2, 4, 12, 13, 14, 15);

  private GrpcSpanAssert() {}

  /**
   * Both spans are the call {@code service/method} to 127.0.0.1:{@code port}, with exactly the
   * attributes the conventions give it and nothing else: {@code code} is the grpc-status (null:
   * none came), {@code clientError} the client's error.type (null: not an error). A server span has
   * error.type only for the codes that say the server failed, and for a reset stream (no code).
   */
  static void assertCall(SpanPair call, String service, String method, int port, @Nullable Integer code,
      @Nullable String clientError) {
    assertCall(call, service, method, "127.0.0.1", port, code, clientError);
  }

  /** The same, for a call whose :authority names the server {@code serverAddress} (a TLS client's target name). */
  static void assertCall(SpanPair call, String service, String method, String serverAddress, int port,
      @Nullable Integer code, @Nullable String clientError) {
    for (ReceivedSpan span : call.both()) {
      boolean isServer = span == call.server();
      String serverError = clientError == null ? null
          : code == null || SERVER_FAULTS.contains(code) ? clientError : null;
      String error = isServer ? serverError : clientError;
      assertThat(span.name()).as(span.toString()).isEqualTo(service + "/" + method);
      assertThat(span.statusCode()).as(span.toString())
          .isEqualTo(error == null ? StatusCode.STATUS_CODE_UNSET : StatusCode.STATUS_CODE_ERROR);
      List<String> keys = new ArrayList<>(List.of("network.peer.address", "network.peer.port", "thread.id",
          "server.address", "server.port", "rpc.system", "rpc.service", "rpc.method"));
      if (isServer) {
        keys.addAll(List.of("client.address", "client.port"));
      }
      if (code != null) {
        keys.add("rpc.grpc.status_code");
        assertThat(span.attributes()).as(span.toString()).containsEntry("rpc.grpc.status_code", (long) code);
      }
      if (error != null) {
        keys.add("error.type");
        assertThat(span.attributes()).as(span.toString()).containsEntry("error.type", error);
      }
      assertThat(span.attributes().keySet()).as(span.toString()).containsExactlyInAnyOrderElementsOf(keys);
      assertThat(span.attributes()).as(span.toString())
          .containsEntry("rpc.system", "grpc")
          .containsEntry("rpc.service", service)
          .containsEntry("rpc.method", method)
          .containsEntry("server.address", serverAddress)
          .containsEntry("server.port", (long) port)
          .containsEntry("network.peer.address", "127.0.0.1");
    }
    assertThat(call.client().attributes()).containsEntry("network.peer.port", (long) port);
    Object clientPort = call.server().attributes().get("network.peer.port");
    assertThat(clientPort).isNotEqualTo((long) port);
    assertThat(call.server().attributes())
        .containsEntry("client.port", clientPort)
        .containsEntry("client.address", "127.0.0.1");
  }
}
