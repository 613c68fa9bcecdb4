package io.periscope.agent.span;

import static io.opentelemetry.sdk.testing.assertj.OpenTelemetryAssertions.assertThat;
import static io.opentelemetry.sdk.testing.assertj.OpenTelemetryAssertions.equalTo;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import java.net.InetAddress;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** Spans of HTTP/2 exchanges and gRPC calls: names, attributes and status by the OpenTelemetry conventions. */
class SpanFactoryTest {
  private static final AttributeKey<String> RPC_SYSTEM = AttributeKey.stringKey("rpc.system");
  private static final AttributeKey<String> RPC_SERVICE = AttributeKey.stringKey("rpc.service");
  private static final AttributeKey<String> RPC_METHOD = AttributeKey.stringKey("rpc.method");
  private static final AttributeKey<Long> GRPC_STATUS = AttributeKey.longKey("rpc.grpc.status_code");
  private static final AttributeKey<Boolean> INCOMPLETE = AttributeKey.booleanKey("periscope.http2.headers_incomplete");

  private final SpanFactory factory = new SpanFactory(ClockAnchor.ofOffset(1_000), (pid, comm) -> Resource.empty(),
      new SpanSink() {
        @Override
        public boolean offer(SpanData span) {
          return true;
        }

        @Override
        public ExportStats stats() {
          return new ExportStats(0, 0, 0, 0, 0);
        }

        @Override
        public void close() {}
      }, false);

  @Test
  void aGrpcCallIsNamedByItsMethod() {
    SpanData span = span(Peer.Role.CLIENT, grpc("/demo.Echo/Unary"), new ResponseHead(200, 0, null), null);
    assertThat(span).hasName("demo.Echo/Unary").hasKind(SpanKind.CLIENT).hasStatus(StatusData.unset())
        .hasAttributesSatisfying(
            equalTo(RPC_SYSTEM, "grpc"), equalTo(RPC_SERVICE, "demo.Echo"), equalTo(RPC_METHOD, "Unary"),
            equalTo(GRPC_STATUS, 0L), equalTo(ServerAttributes.SERVER_ADDRESS, "localhost"),
            equalTo(ServerAttributes.SERVER_PORT, 50_051L), equalTo(NetworkAttributes.NETWORK_PEER_PORT, 50_051L));
    assertThat(span.getAttributes().get(HttpAttributes.HTTP_REQUEST_METHOD)).isNull();
    assertThat(span.getStartEpochNanos()).isEqualTo(1_100);
    assertThat(span.getEndEpochNanos()).isEqualTo(1_900);
  }

  /** A client fails on any status but OK; a server only on the codes that say the server failed. */
  @Test
  void grpcErrorsByWhoseFaultItIs() {
    ResponseHead notFound = new ResponseHead(200, 5, "no such thing");
    assertThat(span(Peer.Role.CLIENT, grpc("/demo.Echo/Get"), notFound, null))
        .hasStatus(StatusData.create(StatusCode.ERROR, "no such thing"))
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "NOT_FOUND"), equalTo(GRPC_STATUS, 5L));
    assertThat(span(Peer.Role.SERVER, grpc("/demo.Echo/Get"), notFound, null)).hasStatus(StatusData.unset());
    ResponseHead internal = new ResponseHead(200, 13, "boom");
    assertThat(span(Peer.Role.SERVER, grpc("/demo.Echo/Get"), internal, null))
        .hasStatus(StatusData.create(StatusCode.ERROR, "boom"))
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "INTERNAL"));
  }

  @Test
  void aResetStreamIsAnErrorOnBothSides() {
    for (Peer.Role role : Peer.Role.values()) {
      assertThat(span(role, grpc("/demo.Echo/Slow"), new ResponseHead(0, ResponseHead.NO_GRPC_STATUS, null), "CANCEL"))
          .hasStatus(StatusData.error())
          .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "CANCEL"));
    }
  }

  @Test
  void plainHttp2RequestsGetTheHttpConventions() {
    RequestHead get = new RequestHead("GET", "/files/a.txt?v=3", "example.com:8443", "https", "curl/7.88.1", null,
        null, null);
    assertThat(span(Peer.Role.SERVER, get, ResponseHead.http(404), null)).hasName("GET").hasStatus(StatusData.unset())
        .hasAttributesSatisfying(
            equalTo(HttpAttributes.HTTP_REQUEST_METHOD, "GET"), equalTo(UrlAttributes.URL_PATH, "/files/a.txt"),
            equalTo(UrlAttributes.URL_QUERY, "v=REDACTED"), equalTo(UrlAttributes.URL_SCHEME, "https"),
            equalTo(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, 404L),
            equalTo(NetworkAttributes.NETWORK_PROTOCOL_VERSION, "2"),
            equalTo(ServerAttributes.SERVER_ADDRESS, "example.com"), equalTo(ServerAttributes.SERVER_PORT, 8443L));
    assertThat(span(Peer.Role.CLIENT, get, ResponseHead.http(404), null)).hasStatus(StatusData.error());
  }

  /** Headers the agent could not decode: the span is still made, says so, and names nothing it does not know. */
  @Test
  void incompleteHeadersAreSaidNotGuessed() {
    RequestHead unknown = new RequestHead(null, null, null, null, null, null, null, null);
    SpanData span = span(Peer.Role.SERVER, unknown, ResponseHead.http(0), null, true);
    assertThat(span).hasName("HTTP").hasAttributesSatisfying(equalTo(INCOMPLETE, true),
        equalTo(HttpAttributes.HTTP_REQUEST_METHOD, "_OTHER"));
    assertThat(span.getAttributes().get(HttpAttributes.HTTP_RESPONSE_STATUS_CODE)).isNull();
    assertThat(span.getAttributes().get(UrlAttributes.URL_PATH)).isNull();
    assertThat(span(Peer.Role.SERVER, grpc("/a.B/C"), ResponseHead.http(200), null).getAttributes().get(INCOMPLETE))
        .isNull();
  }

  @Test
  void grpcPathsThatAreNotMethodsAreNotNamedAsOne() {
    assertThat(span(Peer.Role.CLIENT, grpc("/justone"), new ResponseHead(200, 0, null), null)).hasName("POST");
    assertThat(span(Peer.Role.CLIENT, grpc("/a/b/c"), new ResponseHead(200, 0, null), null)).hasName("POST");
  }

  private static RequestHead grpc(String path) {
    return new RequestHead("POST", path, "localhost:50051", "http", "grpc-java/1.85", "application/grpc", null, null);
  }

  private SpanData span(Peer.Role role, RequestHead request, ResponseHead response, @Nullable String error) {
    return span(role, request, response, error, false);
  }

  private SpanData span(Peer.Role role, RequestHead request, ResponseHead response, @Nullable String error,
      boolean incomplete) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    Peer peer = role == Peer.Role.CLIENT
        ? new Peer(10, "c", role, lo, 40_000, lo, 50_051, "127.0.0.1", "127.0.0.1")
        : new Peer(20, "s", role, lo, 50_051, lo, 40_000, "127.0.0.1", "127.0.0.1");
    HttpExchange exchange = new HttpExchange(peer, 11, "2", request, response, error, incomplete, 100, 900, 77);
    return factory.toSpan(exchange, factory.childOf(SpanContext.getInvalid()), SpanContext.getInvalid());
  }
}
