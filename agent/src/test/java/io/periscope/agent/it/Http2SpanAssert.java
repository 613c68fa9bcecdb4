package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** What the spans of a plain (not gRPC) HTTP/2 request traced on this node must be. */
final class Http2SpanAssert {
  private Http2SpanAssert() {}

  /** {@link #assertRequest} for a GET. */
  static void assertGet(SpanPair request, String path, long status, int port, String userAgent) {
    assertRequest(request, "GET", path, status, port, userAgent);
  }

  /** Both spans are as {@link #assertSpan} says, and name the same client endpoint. */
  static void assertRequest(SpanPair request, String method, String path, long status, int port, String userAgent) {
    for (ReceivedSpan span : request.both()) {
      assertSpan(span, method, path, status, port, userAgent);
    }
    Object clientPort = request.server().attributes().get("network.peer.port");
    assertThat(clientPort).isNotEqualTo((long) port);
  }

  /**
   * Both spans are a GET of {@code path} whose stream ended before its response did, for the
   * reason {@code error} (RST_STREAM's error code, GOAWAY, connection_closed): an error on both
   * ends, with {@code error} as error.type, after the response head {@code status} (null: none came).
   */
  static void assertCutShort(SpanPair request, String path, @Nullable Long status, String error, int port,
      String userAgent) {
    for (ReceivedSpan span : request.both()) {
      assertSpan(span, "GET", path, status, error, port, userAgent);
    }
    Object clientPort = request.server().attributes().get("network.peer.port");
    assertThat(clientPort).isNotEqualTo((long) port);
  }

  /**
   * The span is {@code method path} to 127.0.0.1:{@code port} over HTTP/2, answered with
   * {@code status}, with exactly the stable HTTP conventions' attributes and nothing else (a SERVER
   * span says where the request went by url.path, a CLIENT span by url.full); a 4xx is an error for
   * the client only. The user agent must start with {@code userAgent}.
   */
  static void assertSpan(ReceivedSpan span, String method, String path, long status, int port, String userAgent) {
    assertSpan(span, method, path, status, null, port, userAgent);
  }

  /** The same, for a stream that ended by {@code streamError} after the response head {@code status}, if any. */
  private static void assertSpan(ReceivedSpan span, String method, String path, @Nullable Long status,
      @Nullable String streamError, int port, String userAgent) {
    boolean isServer = span.kind() == SpanKind.SPAN_KIND_SERVER;
    boolean failedStatus = status != null && (status >= 500 || (!isServer && status >= 400));
    String error = failedStatus ? Long.toString(status) : streamError;
    assertThat(span.name()).as(span.toString()).isEqualTo(method);
    assertThat(span.statusCode()).as(span.toString())
        .isEqualTo(error != null ? StatusCode.STATUS_CODE_ERROR : StatusCode.STATUS_CODE_UNSET);
    List<String> keys = new ArrayList<>(List.of("network.peer.address", "network.peer.port", "thread.id",
        "server.address", "server.port", "http.request.method", "network.protocol.version",
        isServer ? "url.path" : "url.full", "url.scheme", "user_agent.original"));
    if (status != null) {
      keys.add("http.response.status_code");
      assertThat(span.attributes()).as(span.toString()).containsEntry("http.response.status_code", status);
    }
    if (isServer) {
      keys.addAll(List.of("client.address", "client.port"));
    }
    if (error != null) {
      keys.add("error.type");
      assertThat(span.attributes()).as(span.toString()).containsEntry("error.type", error);
    }
    assertThat(span.attributes().keySet()).as(span.toString()).containsExactlyInAnyOrderElementsOf(keys);
    assertThat(span.attributes()).as(span.toString())
        .containsEntry("http.request.method", method)
        .containsEntry("url.scheme", "http")
        .containsEntry("network.protocol.version", "2")
        .containsEntry("server.address", "127.0.0.1")
        .containsEntry("server.port", (long) port)
        .containsEntry("network.peer.address", "127.0.0.1");
    assertThat((String) span.attributes().get("user_agent.original")).as(span.toString()).startsWith(userAgent);
    if (isServer) {
      assertThat(span.attributes()).as(span.toString())
          .containsEntry("url.path", path)
          .containsEntry("client.port", span.attributes().get("network.peer.port"))
          .containsEntry("client.address", "127.0.0.1");
    } else {
      assertThat(span.attributes()).as(span.toString())
          .containsEntry("url.full", "http://127.0.0.1:" + port + path)
          .containsEntry("network.peer.port", (long) port);
    }
  }
}
