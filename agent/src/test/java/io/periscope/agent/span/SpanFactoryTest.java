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

  private final SpanFactory factory = factory(false);

  private static SpanFactory factory(boolean queryValues) {
    return new SpanFactory(ClockAnchor.ofOffset(1_000), (pid, comm) -> Resource.empty(),
        new SpanSink() {
          @Override
          public boolean offer(SpanData span) {
            return true;
          }

          @Override
          public ExportStats stats() {
            return ExportStats.NONE;
          }

          @Override
          public void close() {}
        }, queryValues);
  }

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

  /**
   * A stream reset without a gRPC status gets the status its gRPC library reports (the HTTP/2 error
   * code mapping of gRPC's protocol document): a cancel is CANCELLED, the client's error, not the server's.
   */
  @Test
  void aResetStreamHasTheStatusGrpcGivesIt() {
    ResponseHead none = new ResponseHead(0, ResponseHead.NO_GRPC_STATUS, null);
    assertThat(span(Peer.Role.CLIENT, grpc("/demo.Echo/Slow"), none, "CANCEL"))
        .hasStatus(StatusData.error())
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "CANCELLED"), equalTo(GRPC_STATUS, 1L));
    assertThat(span(Peer.Role.SERVER, grpc("/demo.Echo/Slow"), none, "CANCEL"))
        .hasStatus(StatusData.unset())
        .hasAttributesSatisfying(equalTo(GRPC_STATUS, 1L));
    for (Peer.Role role : Peer.Role.values()) {
      assertThat(span(role, grpc("/demo.Echo/Slow"), none, "INTERNAL_ERROR")).hasStatus(StatusData.error())
          .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "INTERNAL"), equalTo(GRPC_STATUS, 13L));
      assertThat(span(role, grpc("/demo.Echo/Slow"), none, "GOAWAY")).hasStatus(StatusData.error())
          .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "UNAVAILABLE"), equalTo(GRPC_STATUS, 14L));
      assertThat(span(role, grpc("/demo.Echo/Slow"), none, HttpExchange.CONNECTION_CLOSED))
          .hasAttributesSatisfying(equalTo(GRPC_STATUS, 14L));
    }
  }

  /** HTTP: why the exchange ended short is its error.type, unless the status says more. */
  @Test
  void anExchangeCutShortSaysWhy() {
    RequestHead get = new RequestHead("GET", "/slow", "h", null, null, null, null, null);
    assertThat(span(Peer.Role.CLIENT, get, ResponseHead.http(0), HttpExchange.CONNECTION_CLOSED))
        .hasStatus(StatusData.error())
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "connection_closed"));
    assertThat(span(Peer.Role.CLIENT, get, ResponseHead.http(404), HttpExchange.RESPONSE_INCOMPLETE))
        .hasStatus(StatusData.error())
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "404"),
            equalTo(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, 404L));
    assertThat(span(Peer.Role.CLIENT, get, ResponseHead.http(200), HttpExchange.RESPONSE_INCOMPLETE))
        .hasStatus(StatusData.error())
        .hasAttributesSatisfying(equalTo(ErrorAttributes.ERROR_TYPE, "response_incomplete"));
    SpanData unfollowed = span(Peer.Role.CLIENT, get, ResponseHead.http(0), HttpExchange.UNFOLLOWED);
    assertThat(unfollowed).hasStatus(StatusData.unset())
        .hasAttributesSatisfying(equalTo(AttributeKey.booleanKey("periscope.exchange.unfollowed"), true));
    assertThat(unfollowed.getAttributes().get(ErrorAttributes.ERROR_TYPE)).isNull();
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
    assertThat(span(Peer.Role.SERVER, get, ResponseHead.http(404), null).getAttributes().get(UrlAttributes.URL_FULL))
        .isNull();
    assertThat(span(Peer.Role.CLIENT, get, ResponseHead.http(404), null)).hasStatus(StatusData.error());
  }

  // ---- url.full: a CLIENT span names the whole URL, a SERVER span its path and query ----

  @Test
  void aClientSpanNamesTheWholeUrlWithItsPortAndNotItsParts() {
    SpanData span = http1(factory, Peer.Role.CLIENT, "/files/a.txt?v=3&flag", "example.com:8443", "https",
        v4Peer(Peer.Role.CLIENT, 8443));
    assertThat(span).hasKind(SpanKind.CLIENT).hasAttributesSatisfying(
        equalTo(UrlAttributes.URL_FULL, "https://example.com:8443/files/a.txt?v=REDACTED&flag"),
        equalTo(UrlAttributes.URL_SCHEME, "https"),
        equalTo(ServerAttributes.SERVER_ADDRESS, "example.com"), equalTo(ServerAttributes.SERVER_PORT, 8443L));
    assertThat(span.getAttributes().get(UrlAttributes.URL_PATH)).isNull();
    assertThat(span.getAttributes().get(UrlAttributes.URL_QUERY)).isNull();
  }

  @Test
  void aClientSpansUrlLeavesOutTheSchemesDefaultPortOnly() {
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/a", "example.com:80", null, v4Peer(Peer.Role.CLIENT, 80))))
        .isEqualTo("http://example.com/a");
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/a", "example.com:443", "https",
        v4Peer(Peer.Role.CLIENT, 443)))).isEqualTo("https://example.com/a");
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/a", "example.com:443", null,
        v4Peer(Peer.Role.CLIENT, 443)))).as("443 is not http's default").isEqualTo("http://example.com:443/a");
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/a", "example.com:80", "https",
        v4Peer(Peer.Role.CLIENT, 80)))).as("80 is not https's default").isEqualTo("https://example.com:80/a");
  }

  @Test
  void aClientSpansUrlNamesTheHostTheRequestNamedNotThePeer() {
    SpanData span = http1(factory, Peer.Role.CLIENT, "/orders", "orders.shop:8080", null,
        v4Peer(Peer.Role.CLIENT, 8080));
    assertThat(urlFull(span)).isEqualTo("http://orders.shop:8080/orders");
    assertThat(span.getAttributes().get(NetworkAttributes.NETWORK_PEER_ADDRESS)).isEqualTo("127.0.0.1");
  }

  @Test
  void withoutAHostAClientSpansUrlNamesThePeerAndBracketsAnIpv6Address() throws Exception {
    InetAddress v6 = InetAddress.getByName("::1");
    Peer peer = new Peer(10, "c", Peer.Role.CLIENT, v6, 40_000, v6, 8080, "::1", "::1");
    SpanData span = http1(factory, Peer.Role.CLIENT, "/a.txt?x=1", null, null, peer);
    assertThat(urlFull(span)).isEqualTo("http://[::1]:8080/a.txt?x=REDACTED");
    assertThat(span.getAttributes().get(UrlAttributes.URL_PATH)).isNull();
    assertThat(span.getAttributes().get(UrlAttributes.URL_QUERY)).isNull();
    Peer onDefaultPort = new Peer(10, "c", Peer.Role.CLIENT, v6, 40_000, v6, 80, "::1", "::1");
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/", null, null, onDefaultPort))).isEqualTo("http://[::1]/");
  }

  @Test
  void aClientSpansUrlOfABracketedIpv6HostKeepsItsBrackets() throws Exception {
    InetAddress v6 = InetAddress.getByName("::1");
    Peer peer = new Peer(10, "c", Peer.Role.CLIENT, v6, 40_000, v6, 8443, "::1", "::1");
    assertThat(urlFull(http1(factory, Peer.Role.CLIENT, "/a", "[::1]:8443", "https", peer)))
        .isEqualTo("https://[::1]:8443/a");
  }

  @Test
  void aClientSpansUrlRedactsQueryValuesAsUrlQueryDid() {
    SpanData span = http1(factory, Peer.Role.CLIENT, "/hello.txt?user=alice&token=t0ps3cret", "127.0.0.1:18080", null,
        v4Peer(Peer.Role.CLIENT, 18_080));
    assertThat(urlFull(span)).isEqualTo("http://127.0.0.1:18080/hello.txt?user=REDACTED&token=REDACTED");
    assertThat(span.getAttributes().toString()).doesNotContain("alice", "t0ps3cret");
  }

  @Test
  void aFactoryThatKeepsQueryValuesKeepsThemInTheUrl() {
    SpanData client = http1(factory(true), Peer.Role.CLIENT, "/hello.txt?user=alice&token=t0ps3cret",
        "127.0.0.1:18080", null, v4Peer(Peer.Role.CLIENT, 18_080));
    assertThat(urlFull(client)).isEqualTo("http://127.0.0.1:18080/hello.txt?user=alice&token=t0ps3cret");
    SpanData server = http1(factory(true), Peer.Role.SERVER, "/hello.txt?user=alice&token=t0ps3cret",
        "127.0.0.1:18080", null, v4Peer(Peer.Role.SERVER, 18_080));
    assertThat(server.getAttributes().get(UrlAttributes.URL_QUERY)).isEqualTo("user=alice&token=t0ps3cret");
  }

  @Test
  void aClientSpanOfAProxyRequestNamesTheAbsoluteTargetsUrl() {
    SpanData span = http1(factory, Peer.Role.CLIENT, "http://origin.example:8081/p?q=1", "proxy.local:3128", null,
        v4Peer(Peer.Role.CLIENT, 3128));
    assertThat(urlFull(span)).isEqualTo("http://origin.example:8081/p?q=REDACTED");
  }

  @Test
  void aServerSpanNamesPathAndQueryAndNoUrlFull() {
    SpanData span = http1(factory, Peer.Role.SERVER, "/hello.txt?user=alice", "127.0.0.1:18080", null,
        v4Peer(Peer.Role.SERVER, 18_080));
    assertThat(span).hasKind(SpanKind.SERVER).hasAttributesSatisfying(
        equalTo(UrlAttributes.URL_PATH, "/hello.txt"), equalTo(UrlAttributes.URL_QUERY, "user=REDACTED"),
        equalTo(UrlAttributes.URL_SCHEME, "http"));
    assertThat(span.getAttributes().get(UrlAttributes.URL_FULL)).isNull();
  }

  @Test
  void grpcSpansHaveNoUrl() {
    for (Peer.Role role : Peer.Role.values()) {
      SpanData span = span(role, grpc("/demo.Echo/Unary"), new ResponseHead(200, 0, null), null);
      assertThat(span.getAttributes().asMap().keySet()).as(role.name())
          .noneMatch(key -> key.getKey().startsWith("url."));
    }
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

  private static @Nullable String urlFull(SpanData span) {
    return span.getAttributes().get(UrlAttributes.URL_FULL);
  }

  /** 127.0.0.1 to 127.0.0.1: a client connected to {@code serverPort}, or the server listening on it. */
  private static Peer v4Peer(Peer.Role role, int serverPort) {
    InetAddress lo = InetAddress.getLoopbackAddress();
    return role == Peer.Role.CLIENT
        ? new Peer(10, "c", role, lo, 40_000, lo, serverPort, "127.0.0.1", "127.0.0.1")
        : new Peer(20, "s", role, lo, serverPort, lo, 40_000, "127.0.0.1", "127.0.0.1");
  }

  /** An HTTP/1.1 GET answered 200: {@code host} is the Host header, {@code scheme} "https" for TLS. */
  private static SpanData http1(SpanFactory factory, Peer.Role role, String target, @Nullable String host,
      @Nullable String scheme, Peer peer) {
    assertThat(peer.role()).isEqualTo(role);
    RequestHead request = new RequestHead("GET", target, host, scheme, "curl/8.5.0", null, null, null);
    HttpExchange exchange =
        new HttpExchange(peer, 11, "1.1", request, ResponseHead.http(200), null, false, 100, 900, 77);
    return factory.toSpan(exchange, factory.childOf(SpanContext.getInvalid()), SpanContext.getInvalid());
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
