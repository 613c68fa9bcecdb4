package io.periscope.agent.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The checker finds each broken rule, and passes the spans Periscope means to make. */
class SemanticConventionsTest {
  private static final String TRACE = "0af7651916cd43dd8448eb211c80319c";

  // ---- conforming spans pass ----

  @Test
  void conformingHttpAndGrpcSpansPass() {
    List<ReceivedSpan> spans = List.of(
        httpServer().build(),
        httpClient().build(),
        grpcServer().build(),
        grpcClient().build(),
        // A 4xx fails the client only; a 5xx both, error.type the code.
        httpServer().with("http.response.status_code", 404L).build(),
        httpClient().with("http.response.status_code", 404L).error("404").build(),
        httpServer().with("http.response.status_code", 503L).error("503").build(),
        httpClient().with("http.response.status_code", 503L).error("503").build(),
        // No response: error.type names what happened.
        httpClient().without("http.response.status_code").error("connection_closed").build(),
        httpServer().without("http.response.status_code").error("connection_closed").build(),
        // A response cut short after its 200: an error that is not the status code's.
        httpServer().error("response_incomplete").build(),
        // An unknown method, and a route.
        httpServer().name("HTTP").with("http.request.method", "_OTHER")
            .with("http.request.method_original", "PURGE").build(),
        httpServer().name("GET /users/{id}").with("http.route", "/users/{id}").build(),
        httpClient().with("url.full", "https://example.com/a").with("url.scheme", "https")
            .with("server.address", "example.com").with("server.port", 443L).build(),
        httpClient().with("url.full", "http://[::1]:8080/").build(),
        // Headers the agent could not decode: what it does not know is left out.
        httpServer().name("HTTP").with("periscope.http2.headers_incomplete", true).with("http.request.method", "_OTHER")
            .without("url.path").without("url.query").build(),
        httpClient().name("POST").with("periscope.http2.headers_incomplete", true).with("http.request.method", "POST")
            .without("url.full").build(),
        // gRPC errors by whose fault they are, and a reset stream.
        grpcClient().with("rpc.grpc.status_code", 5L).error("NOT_FOUND").message("no such thing").build(),
        grpcServer().with("rpc.grpc.status_code", 5L).build(),
        grpcServer().with("rpc.grpc.status_code", 13L).error("INTERNAL").message("boom").build(),
        grpcClient().without("rpc.grpc.status_code").error("CANCEL").build(),
        grpcServer().without("rpc.grpc.status_code").error("CANCEL").build(),
        // An exchange the agent lost before its end: no status, and no error known.
        grpcClient().without("rpc.grpc.status_code").with("periscope.exchange.unfollowed", true).build(),
        grpcServer().without("rpc.grpc.status_code").with("periscope.http2.headers_incomplete", true).build(),
        httpServer().without("http.response.status_code").with("periscope.exchange.unfollowed", true).build(),
        // A span without its optional attributes.
        httpServer().without("thread.id").without("network.peer.address").without("network.peer.port")
            .without("client.address").without("client.port").without("server.address").without("server.port")
            .without("url.query").without("user_agent.original").without("network.protocol.version").build());
    for (ReceivedSpan span : spans) {
      assertThat(SemanticConventions.violations(span)).as(span.toString()).isEmpty();
    }
    assertThatCode(() -> SemanticConventions.assertConform(spans)).doesNotThrowAnyException();
  }

  @Test
  void spansOfOtherScopesAreNotChecked() {
    ReceivedSpan sdk = httpClient().scope("io.opentelemetry.java-http-client").kind(SpanKind.SPAN_KIND_INTERNAL)
        .with("url.path", "/x").without("url.full").build();
    assertThat(SemanticConventions.violations(sdk)).isEmpty();
    ReceivedSpan unnamed = httpClient().scope("").without("url.full").build();
    assertThat(SemanticConventions.violations(unnamed)).isEmpty();
  }

  // ---- every span ----

  @Test
  void kindMustBeServerOrClient() {
    assertOnly(httpServer().kind(SpanKind.SPAN_KIND_INTERNAL), "kind must be SERVER or CLIENT");
    assertOnly(grpcClient().kind(SpanKind.SPAN_KIND_PRODUCER), "kind must be SERVER or CLIENT");
  }

  @Test
  void threadIdIsAnInt() {
    assertOnly(httpServer().with("thread.id", "7"), "thread.id must be an int");
  }

  @Test
  void peerAddressAndPortComeTogetherAndAreTyped() {
    assertOnly(httpServer().without("network.peer.address"), "network.peer.port must be present if and only if");
    assertOnly(httpServer().without("network.peer.port"), "network.peer.port must be present if and only if");
    assertOnly(httpServer().with("network.peer.port", "40000"), "network.peer.port must be an int");
    assertOnly(httpServer().with("network.peer.address", 2130706433L), "network.peer.address must be a string");
  }

  @Test
  void resourceNamesTheServiceTheProcessAndTheSdk() {
    assertOnly(httpServer().resource("service.name", null), "service.name must be a non-empty string");
    assertOnly(httpServer().resource("service.name", ""), "service.name must be a non-empty string");
    assertOnly(httpServer().resource("process.pid", "4242"), "process.pid must be an int");
    assertOnly(httpServer().resource("process.pid", null), "process.pid must be an int");
    for (String key : List.of("telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version")) {
      assertOnly(httpServer().resource(key, null), "resource attribute " + key + " is required");
    }
  }

  @Test
  void errorTypeIfAndOnlyIfStatusError() {
    assertOnly(httpServer().without("http.response.status_code").with("error.type", "connection_closed"),
        "error.type (connection_closed) is set but the status is STATUS_CODE_UNSET");
    assertOnly(httpServer().without("http.response.status_code").status(StatusCode.STATUS_CODE_ERROR),
        "the status is ERROR but error.type is not set");
    assertOnly(grpcServer().with("rpc.grpc.status_code", 5L).with("error.type", "NOT_FOUND"),
        "error.type (NOT_FOUND) is set but the status is STATUS_CODE_UNSET");
  }

  @Test
  void aStatusMessageOnlyWithError() {
    assertOnly(httpServer().message("fine"), "a status message (\"fine\") is only for status ERROR");
    assertOnly(grpcServer().with("rpc.grpc.status_code", 5L).message("no such thing"), "is only for status ERROR");
  }

  @Test
  void aSpanIsHttpOrRpc() {
    assertOnly(httpServer().without("http.request.method"), "neither an HTTP span");
  }

  // ---- HTTP ----

  @Test
  void httpMethodIsKnownOrOther() {
    assertOnly(httpServer().name("get").with("http.request.method", "get"), "must be a known method or _OTHER");
    assertOnly(httpServer().name("HTTP").with("http.request.method", "_OTHER"),
        "_OTHER requires http.request.method_original");
    assertOnly(httpServer().with("http.request.method_original", "GET"),
        "http.request.method_original is only for a method other than");
  }

  @Test
  void httpSpanNameIsTheMethodAndTheRoute() {
    assertOnly(httpServer().name("GET /hello.txt"), "the name must be \"GET\"");
    assertOnly(httpServer().name("PURGE").with("http.request.method", "_OTHER")
        .with("http.request.method_original", "PURGE"), "the name must be \"HTTP\"");
    assertOnly(httpServer().with("http.route", "/users/{id}"), "the name must be \"GET /users/{id}\"");
    assertOnly(httpServer().name("HTTP").with("http.request.method", "_OTHER")
            .with("http.request.method_original", "PURGE").with("http.route", "/cache"),
        "the name must be \"HTTP /cache\"");
  }

  @Test
  void httpAttributesAreTyped() {
    assertOnly(httpServer().with("http.response.status_code", 99L), "must be in 100..599, is 99");
    assertOnly(httpServer().with("http.response.status_code", 600L).error("600"), "must be in 100..599, is 600");
    assertOnly(httpServer().with("http.response.status_code", "200"), "http.response.status_code must be an int");
    assertOnly(httpServer().with("network.protocol.version", 1L), "network.protocol.version must be a string");
    assertOnly(httpServer().with("server.address", 1L), "server.address must be a string");
    assertOnly(httpServer().with("server.port", "18080"), "server.port must be an int");
  }

  @Test
  void aServerSpanNamesPathQueryAndScheme() {
    assertOnly(httpServer().without("url.path"), "url.path is required on a SERVER span");
    assertOnly(httpServer().with("url.path", "hello.txt"), "url.path must start with \"/\"");
    assertOnly(httpServer().with("url.path", 1L), "url.path must be a string");
    assertOnly(httpServer().without("url.scheme"), "url.scheme is required on a SERVER span");
    assertOnly(httpServer().with("url.scheme", "ftp"), "url.scheme must be http or https");
    assertOnly(httpServer().with("url.query", 1L), "url.query must be a string");
    assertOnly(httpServer().with("url.full", "http://127.0.0.1:18080/hello.txt"),
        "a SERVER span names url.path and url.query, not url.full");
    assertOnly(httpServer().with("client.address", 1L), "client.address must be a string");
    assertOnly(httpServer().with("client.port", "40000"), "client.port must be an int");
  }

  @Test
  void aServerSpanFailsOn5xxOnly() {
    assertOnly(httpServer().with("http.response.status_code", 500L),
        "status code 500 makes a SERVER span an error, the status is STATUS_CODE_UNSET", 2);
    assertOnly(httpServer().with("http.response.status_code", 404L).error("404"),
        "error.type names the status code 404, which is not an error for a SERVER span");
    assertOnly(httpServer().with("http.response.status_code", 502L).error("500"),
        "error.type must be the status code \"502\"");
  }

  @Test
  void aClientSpanNamesTheWholeUrl() {
    assertOnly(httpClient().without("url.full"), "url.full is required on a CLIENT span");
    assertOnly(httpClient().with("url.full", "/hello.txt"), "url.full must be an absolute http or https URL");
    assertOnly(httpClient().with("url.full", "http://127.0.0.1:18080/a b"), "url.full must be an absolute URL");
    assertOnly(httpClient().with("url.full", "ftp://127.0.0.1/hello.txt").with("url.scheme", "http"),
        "url.full must be an absolute http or https URL");
    assertOnly(httpClient().with("url.full", "http:///hello.txt"), "url.full must name a host");
    assertOnly(httpClient().with("url.full", "http://alice:secret@127.0.0.1:18080/"), "must not carry credentials");
    assertOnly(httpClient().with("url.full", "https://127.0.0.1:18080/"), "url.scheme (http) must be the scheme of");
    assertOnly(httpClient().with("url.full", 1L), "url.full must be a string");
  }

  @Test
  void aClientSpanNamesItsServerAndNotItsUrlsParts() {
    assertOnly(httpClient().without("server.address"), "server.address is required on a CLIENT span");
    assertOnly(httpClient().without("server.port"), "server.port is required on a CLIENT span");
    assertOnly(httpClient().with("url.path", "/hello.txt"), "a CLIENT span does not carry url.path");
    assertOnly(httpClient().with("url.query", "user=REDACTED"), "a CLIENT span does not carry url.query");
    assertOnly(httpClient().with("client.address", "127.0.0.1"), "a CLIENT span does not carry client.address");
    assertOnly(httpClient().with("client.port", 40_000L), "a CLIENT span does not carry client.port");
    assertOnly(httpClient().name("GET /users/{id}").with("http.route", "/users/{id}"),
        "http.route is for SERVER spans only");
  }

  @Test
  void aClientSpanFailsOn4xxAndNamesTheCode() {
    assertOnly(httpClient().with("http.response.status_code", 404L),
        "status code 404 makes a CLIENT span an error, the status is STATUS_CODE_UNSET", 2);
    assertOnly(httpClient().with("http.response.status_code", 404L).error("not_found"),
        "error.type must be the status code \"404\" that made the span an error, is \"not_found\"");
    assertOnly(httpClient().error("200"), "error.type names the status code 200, which is not an error");
  }

  // ---- gRPC ----

  @Test
  void aGrpcSpanHasNoHttpOrUrlAttributes() {
    assertOnly(grpcClient().with("http.request.method", "POST"), "has http.request.method");
    assertOnly(grpcServer().with("url.path", "/demo.Echo/Unary"), "has url.path");
    assertOnly(grpcClient().with("url.full", "http://127.0.0.1:50051/demo.Echo/Unary"), "has url.full");
    assertOnly(grpcClient().with("rpc.system", "dubbo"), "rpc.system must be grpc");
  }

  @Test
  void aGrpcSpanIsNamedByServiceAndMethod() {
    assertOnly(grpcClient().name("Unary"), "the name must be \"demo.Echo/Unary\"");
    assertOnly(grpcClient().with("rpc.service", 1L), "rpc.service must be a string");
    assertOnly(grpcClient().with("rpc.method", 1L), "rpc.method must be a string");
  }

  @Test
  void aGrpcSpanHasAStatusCodeUnlessTheStreamEndedWithout() {
    assertOnly(grpcClient().without("rpc.grpc.status_code"), "rpc.grpc.status_code is required");
    assertOnly(grpcServer().without("rpc.grpc.status_code").with("periscope.exchange.unfollowed", false),
        "rpc.grpc.status_code is required");
    assertOnly(grpcClient().with("rpc.grpc.status_code", 17L), "must be in 0..16, is 17");
    assertOnly(grpcClient().with("rpc.grpc.status_code", "0"), "rpc.grpc.status_code must be an int");
  }

  @Test
  void aGrpcClientSpanNamesItsServer() {
    assertOnly(grpcClient().without("server.address"), "server.address is required on a CLIENT span");
    assertOnly(grpcClient().without("server.port"), "server.port is required on a CLIENT span");
    assertOnly(grpcClient().with("server.port", "50051"), "server.port must be an int");
  }

  @Test
  void aGrpcClientFailsOnEveryCodeButOk() {
    assertOnly(grpcClient().with("rpc.grpc.status_code", 5L),
        "the status must be ERROR for rpc.grpc.status_code 5 on a CLIENT span", 2);
    assertOnly(grpcClient().error("OK"), "the status must be UNSET for rpc.grpc.status_code 0 on a CLIENT span");
    assertOnly(grpcClient().with("rpc.grpc.status_code", 5L).error("5"),
        "error.type must be the name of the status code that made the span an error, NOT_FOUND");
  }

  @Test
  void aGrpcServerFailsOnlyOnTheServersFaults() {
    assertOnly(grpcServer().with("rpc.grpc.status_code", 5L).error("NOT_FOUND"),
        "the status must be UNSET for rpc.grpc.status_code 5 on a SERVER span");
    assertOnly(grpcServer().with("rpc.grpc.status_code", 14L),
        "the status must be ERROR for rpc.grpc.status_code 14 on a SERVER span", 2);
    assertOnly(grpcServer().with("rpc.grpc.status_code", 13L).error("UNAVAILABLE"),
        "error.type must be the name of the status code that made the span an error, INTERNAL");
  }

  // ---- every span at once ----

  @Test
  void assertConformListsEveryViolationOfEverySpan() {
    ReceivedSpan noUrl = httpClient().spanId("1111111111111111").without("url.full").build();
    ReceivedSpan badName = grpcServer().spanId("2222222222222222").name("Unary").build();
    ReceivedSpan fine = httpServer().build();
    assertThatThrownBy(() -> SemanticConventions.assertConform(List.of(noUrl, fine, badName)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("2 violations of the OpenTelemetry semantic conventions 1.37.0 in 3 spans")
        .hasMessageContaining("CLIENT span \"GET\" 1111111111111111")
        .hasMessageContaining("url.full is required")
        .hasMessageContaining("SERVER span \"Unary\" 2222222222222222")
        .hasMessageContaining("the name must be \"demo.Echo/Unary\"");
  }

  @Test
  void everyParentIsAReceivedSpanOrAnExternalOne() {
    ReceivedSpan client = httpClient().spanId("1111111111111111").build();
    ReceivedSpan server = httpServer().spanId("2222222222222222").parent("1111111111111111").build();
    ReceivedSpan ofTheTest = httpServer().spanId("3333333333333333").parent("b7ad6b7169203331").build();
    ReceivedSpan sdkServer = httpServer().scope("io.opentelemetry.tomcat").spanId("4444444444444444")
        .parent("5555555555555555").build();
    ReceivedSpan underSdk = httpServer().spanId("6666666666666666").parent("4444444444444444").build();
    assertThatCode(() -> SemanticConventions.assertNoDanglingParents(
        List.of(client, server, ofTheTest, sdkServer, underSdk), Set.of("b7ad6b7169203331")))
        .as("parents received, the test's own, and an SDK span's parent left to the SDK").doesNotThrowAnyException();

    ReceivedSpan orphan = httpServer().spanId("7777777777777777").parent("8888888888888888").build();
    assertThatThrownBy(() -> SemanticConventions.assertNoDanglingParents(List.of(client, server, orphan), Set.of()))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("1 spans with a parent that does not exist")
        .hasMessageContaining("SERVER span \"GET\" 7777777777777777")
        .hasMessageContaining("its parent 8888888888888888");
    assertThatThrownBy(() -> SemanticConventions.assertNoDanglingParents(List.of(server), Set.of()))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("its parent 1111111111111111");
  }

  // ---- helpers ----

  /** The span breaks exactly one rule, the one whose message contains {@code rule}. */
  private static void assertOnly(SpanBuilder span, String rule) {
    assertOnly(span, rule, 1);
  }

  /** The span breaks {@code count} rules, one of them the one whose message contains {@code rule}. */
  private static void assertOnly(SpanBuilder builder, String rule, int count) {
    ReceivedSpan span = builder.build();
    List<String> violations = SemanticConventions.violations(span);
    assertThat(violations).as(span.toString()).hasSize(count)
        .anySatisfy(v -> assertThat(v).contains(rule).contains(span.spanId()));
  }

  private static SpanBuilder httpServer() {
    return new SpanBuilder("GET", SpanKind.SPAN_KIND_SERVER)
        .with("network.peer.address", "127.0.0.1")
        .with("network.peer.port", 40_000L)
        .with("thread.id", 7L)
        .with("client.address", "127.0.0.1")
        .with("client.port", 40_000L)
        .with("server.address", "127.0.0.1")
        .with("server.port", 18_080L)
        .with("http.request.method", "GET")
        .with("network.protocol.version", "1.1")
        .with("url.scheme", "http")
        .with("url.path", "/hello.txt")
        .with("url.query", "user=REDACTED")
        .with("user_agent.original", "curl/8.5.0")
        .with("http.response.status_code", 200L);
  }

  private static SpanBuilder httpClient() {
    return new SpanBuilder("GET", SpanKind.SPAN_KIND_CLIENT)
        .with("network.peer.address", "127.0.0.1")
        .with("network.peer.port", 18_080L)
        .with("thread.id", 9L)
        .with("server.address", "127.0.0.1")
        .with("server.port", 18_080L)
        .with("http.request.method", "GET")
        .with("network.protocol.version", "1.1")
        .with("url.scheme", "http")
        .with("url.full", "http://127.0.0.1:18080/hello.txt?user=REDACTED")
        .with("user_agent.original", "curl/8.5.0")
        .with("http.response.status_code", 200L);
  }

  private static SpanBuilder grpcClient() {
    return new SpanBuilder("demo.Echo/Unary", SpanKind.SPAN_KIND_CLIENT)
        .with("network.peer.address", "127.0.0.1")
        .with("network.peer.port", 50_051L)
        .with("thread.id", 9L)
        .with("server.address", "127.0.0.1")
        .with("server.port", 50_051L)
        .with("rpc.system", "grpc")
        .with("rpc.service", "demo.Echo")
        .with("rpc.method", "Unary")
        .with("rpc.grpc.status_code", 0L);
  }

  private static SpanBuilder grpcServer() {
    return new SpanBuilder("demo.Echo/Unary", SpanKind.SPAN_KIND_SERVER)
        .with("network.peer.address", "127.0.0.1")
        .with("network.peer.port", 40_000L)
        .with("thread.id", 7L)
        .with("client.address", "127.0.0.1")
        .with("client.port", 40_000L)
        .with("server.address", "127.0.0.1")
        .with("server.port", 50_051L)
        .with("rpc.system", "grpc")
        .with("rpc.service", "demo.Echo")
        .with("rpc.method", "Unary")
        .with("rpc.grpc.status_code", 0L);
  }

  /** A span as the receiver would hand it over, Periscope's unless told otherwise. */
  private static final class SpanBuilder {
    private String name;
    private SpanKind kind;
    private String spanId = "00f067aa0ba902b7";
    private String parentSpanId = "";
    private StatusCode status = StatusCode.STATUS_CODE_UNSET;
    private String message = "";
    private String scope = SemanticConventions.SCOPE;
    private final Map<String, Object> attributes = new LinkedHashMap<>();
    private final Map<String, Object> resource = new LinkedHashMap<>(Map.of(
        "service.name", "curl",
        "process.pid", 4242L,
        "telemetry.sdk.name", "periscope",
        "telemetry.sdk.language", "java",
        "telemetry.sdk.version", "1.0.0"));

    SpanBuilder(String name, SpanKind kind) {
      this.name = name;
      this.kind = kind;
    }

    SpanBuilder name(String value) {
      name = value;
      return this;
    }

    SpanBuilder kind(SpanKind value) {
      kind = value;
      return this;
    }

    SpanBuilder spanId(String value) {
      spanId = value;
      return this;
    }

    SpanBuilder parent(String value) {
      parentSpanId = value;
      return this;
    }

    SpanBuilder status(StatusCode value) {
      status = value;
      return this;
    }

    SpanBuilder message(String value) {
      message = value;
      return this;
    }

    /** Status ERROR with this error.type. */
    SpanBuilder error(String type) {
      return status(StatusCode.STATUS_CODE_ERROR).with("error.type", type);
    }

    SpanBuilder scope(String value) {
      scope = value;
      return this;
    }

    SpanBuilder with(String key, Object value) {
      attributes.put(key, value);
      return this;
    }

    SpanBuilder without(String key) {
      attributes.remove(key);
      return this;
    }

    /** Sets a resource attribute, or removes it when {@code value} is null. */
    SpanBuilder resource(String key, Object value) {
      if (value == null) {
        resource.remove(key);
      } else {
        resource.put(key, value);
      }
      return this;
    }

    ReceivedSpan build() {
      return new ReceivedSpan(TRACE, spanId, parentSpanId, name, kind, 1_000, 2_000, status, message, attributes,
          resource, scope);
    }
  }
}
