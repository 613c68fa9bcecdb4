package io.periscope.agent.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import com.google.protobuf.ByteString;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.ArrayValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class OtlpReceiverTest {
  private static final String TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
  private static final String PARENT_ID = "b7ad6b7169203331";
  private static final String SPAN_ID = "00f067aa0ba902b7";
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private static HttpClient client;
  private OtlpReceiver receiver;

  @BeforeAll
  static void createClient() {
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterAll
  static void closeClient() {
    client.close();
  }

  @BeforeEach
  void startReceiver() {
    receiver = OtlpReceiver.start();
  }

  @AfterEach
  void closeReceiver() {
    receiver.close();
  }

  @Test
  void decodesSpansWithTheirResource() throws Exception {
    HttpResponse<byte[]> response = post(request(), "application/x-protobuf", false);

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEmpty();
    assertThat(receiver.requestCount()).isEqualTo(1);
    List<ReceivedSpan> spans = receiver.spans();
    assertThat(spans).hasSize(2);

    ReceivedSpan child = spans.get(0);
    assertThat(child.traceId()).isEqualTo(TRACE_ID);
    assertThat(child.spanId()).isEqualTo(SPAN_ID);
    assertThat(child.parentSpanId()).isEqualTo(PARENT_ID);
    assertThat(child.isRoot()).isFalse();
    assertThat(child.name()).isEqualTo("GET /users/{id}");
    assertThat(child.kind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(child.startEpochNanos()).isEqualTo(1_700_000_000_000_000_000L);
    assertThat(child.endEpochNanos()).isEqualTo(1_700_000_000_250_000_000L);
    assertThat(child.statusCode()).isEqualTo(Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(child.attributes()).containsExactly(
        entry("http.request.method", "GET"),
        entry("http.response.status_code", 503L),
        entry("periscope.capture.ratio", 0.5),
        entry("periscope.truncated", true),
        entry("http.request.header.accept", List.of("text/html", "application/json")));
    assertThat(child.resourceAttributes()).containsExactly(
        entry("service.name", "legacy-billing"),
        entry("process.pid", 4242L));

    ReceivedSpan root = spans.get(1);
    assertThat(root.parentSpanId()).isEmpty();
    assertThat(root.isRoot()).isTrue();
    assertThat(root.kind()).isEqualTo(Span.SpanKind.SPAN_KIND_CLIENT);
    assertThat(root.statusCode()).isEqualTo(Status.StatusCode.STATUS_CODE_UNSET);
    assertThat(root.attributes()).isEmpty();
    assertThat(root.resourceAttributes()).isEqualTo(child.resourceAttributes());
    assertThat(spans).extracting(ReceivedSpan::scopeName).containsOnly("io.periscope");
  }

  /** A SERVER span names path and query, a CLIENT span the whole URL: urlPath and urlQuery read either. */
  @Test
  void urlPathAndQueryOfEitherKind() {
    ReceivedSpan server = span(Map.of("url.path", "/hello.txt", "url.query", "user=REDACTED"));
    assertThat(server.urlPath()).isEqualTo("/hello.txt");
    assertThat(server.urlQuery()).isEqualTo("user=REDACTED");
    ReceivedSpan client = span(Map.of("url.full", "http://127.0.0.1:18080/hello.txt?user=REDACTED&token=REDACTED"));
    assertThat(client.urlPath()).isEqualTo("/hello.txt");
    assertThat(client.urlQuery()).isEqualTo("user=REDACTED&token=REDACTED");
    ReceivedSpan encoded = span(Map.of("url.full", "https://[::1]/a%20b/c?q=a%26b#frag"));
    assertThat(encoded.urlPath()).as("raw, as url.path would be").isEqualTo("/a%20b/c");
    assertThat(encoded.urlQuery()).isEqualTo("q=a%26b");
    ReceivedSpan root = span(Map.of("url.full", "http://example.com"));
    assertThat(root.urlPath()).isEqualTo("/");
    assertThat(root.urlQuery()).isNull();
    ReceivedSpan emptyQuery = span(Map.of("url.full", "http://example.com/?"));
    assertThat(emptyQuery.urlQuery()).isEmpty();
    // A target sent with characters a URI must escape, exported as sent: split by hand.
    ReceivedSpan raw = span(Map.of("url.full", "http://127.0.0.1:8080/a b|c?x=<1>#f"));
    assertThat(raw.urlPath()).isEqualTo("/a b|c");
    assertThat(raw.urlQuery()).isEqualTo("x=<1>");
    ReceivedSpan rawRoot = span(Map.of("url.full", "http://bad host?x=1"));
    assertThat(rawRoot.urlPath()).isEqualTo("/");
    assertThat(rawRoot.urlQuery()).isEqualTo("x=1");
    ReceivedSpan grpc = span(Map.of("rpc.system", "grpc"));
    assertThat(grpc.urlPath()).isNull();
    assertThat(grpc.urlQuery()).isNull();
  }

  private static ReceivedSpan span(Map<String, Object> attributes) {
    return new ReceivedSpan(TRACE_ID, SPAN_ID, "", "GET", Span.SpanKind.SPAN_KIND_CLIENT, 1, 2,
        Status.StatusCode.STATUS_CODE_UNSET, "", attributes, Map.of(), "io.periscope");
  }

  @Test
  void eachSpanKeepsTheNameOfItsScope() throws Exception {
    Span.Builder span = Span.newBuilder().setTraceId(bytes(TRACE_ID)).setKind(Span.SpanKind.SPAN_KIND_SERVER);
    ExportTraceServiceRequest request = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .addScopeSpans(ScopeSpans.newBuilder()
                .setScope(InstrumentationScope.newBuilder().setName("io.periscope"))
                .addSpans(span.setSpanId(bytes("1111111111111111")).setName("periscope").build()))
            .addScopeSpans(ScopeSpans.newBuilder()
                .setScope(InstrumentationScope.newBuilder().setName("io.opentelemetry.tomcat-10.0"))
                .addSpans(span.setSpanId(bytes("2222222222222222")).setName("sdk").build()))
            // A scope without a name, as an exporter may send.
            .addScopeSpans(ScopeSpans.newBuilder()
                .addSpans(span.setSpanId(bytes("3333333333333333")).setName("unscoped").build())))
        .build();
    export(request);

    assertThat(receiver.allSpans()).isEqualTo(receiver.spans());
    receiver.clear();
    assertThat(receiver.spans()).isEmpty();
    assertThat(receiver.allSpans()).extracting(ReceivedSpan::name, ReceivedSpan::scopeName).containsExactly(
        org.assertj.core.groups.Tuple.tuple("periscope", "io.periscope"),
        org.assertj.core.groups.Tuple.tuple("sdk", "io.opentelemetry.tomcat-10.0"),
        org.assertj.core.groups.Tuple.tuple("unscoped", ""));
  }

  @Test
  void decodesGzipBodies() throws Exception {
    HttpResponse<byte[]> response = post(request(), "application/x-protobuf", true);

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(receiver.spans()).extracting(ReceivedSpan::name)
        .containsExactly("GET /users/{id}", "GET");
  }

  @Test
  void rejectsOtherContentTypesAndPaths() throws Exception {
    assertThat(post(request(), "application/json", false).statusCode()).isEqualTo(415);
    HttpResponse<byte[]> wrongPath = client.send(
        HttpRequest.newBuilder(URI.create(receiver.endpoint() + "/v1/metrics"))
            .header("Content-Type", "application/x-protobuf")
            .POST(HttpRequest.BodyPublishers.ofByteArray(request().toByteArray()))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(wrongPath.statusCode()).isEqualTo(404);

    assertThat(receiver.spans()).isEmpty();
    assertThat(receiver.requestCount()).isZero();
    assertThatThrownBy(() -> receiver.awaitSpans(span -> true, 1, Duration.ZERO))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("415 POST /v1/traces: content type application/json")
        .hasMessageContaining("404 POST /v1/metrics");
  }

  @Test
  void awaitSpansWakesWhenMatchingSpansArrive() throws Exception {
    export(request());
    CompletableFuture<List<ReceivedSpan>> result = new CompletableFuture<>();
    Thread waiter = Thread.ofPlatform().name("await-spans").start(() -> result.complete(
        receiver.awaitSpans(span -> span.kind() == Span.SpanKind.SPAN_KIND_CLIENT, 2, TIMEOUT)));
    // Only one client span has arrived: the waiter must be parked on the condition, not polling.
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (waiter.getState() != Thread.State.TIMED_WAITING && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertThat(waiter.getState()).isEqualTo(Thread.State.TIMED_WAITING);
    assertThat(result).isNotDone();

    export(request());

    assertThat(result.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
        .hasSize(2)
        .allMatch(ReceivedSpan::isRoot);
    assertThat(receiver.requestCount()).isEqualTo(2);
  }

  @Test
  void awaitSpansTimesOutWithWhatArrived() throws Exception {
    post(request(), "application/x-protobuf", false);

    assertThatThrownBy(() -> receiver.awaitSpans(span -> span.name().equals("POST"), 1, Duration.ofMillis(50)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("expected at least 1 matching spans")
        .hasMessageContaining("got 0; received 2 spans in 1 requests")
        .hasMessageContaining("GET /users/{id} [SPAN_KIND_SERVER] trace=" + TRACE_ID)
        .hasMessageContaining("legacy-billing");
  }

  private static ExportTraceServiceRequest request() {
    Span child = Span.newBuilder()
        .setTraceId(bytes(TRACE_ID))
        .setSpanId(bytes(SPAN_ID))
        .setParentSpanId(bytes(PARENT_ID))
        .setName("GET /users/{id}")
        .setKind(Span.SpanKind.SPAN_KIND_SERVER)
        .setStartTimeUnixNano(1_700_000_000_000_000_000L)
        .setEndTimeUnixNano(1_700_000_000_250_000_000L)
        .setStatus(Status.newBuilder().setCode(Status.StatusCode.STATUS_CODE_ERROR))
        .addAttributes(attribute("http.request.method", AnyValue.newBuilder().setStringValue("GET")))
        .addAttributes(attribute("http.response.status_code", AnyValue.newBuilder().setIntValue(503)))
        .addAttributes(attribute("periscope.capture.ratio", AnyValue.newBuilder().setDoubleValue(0.5)))
        .addAttributes(attribute("periscope.truncated", AnyValue.newBuilder().setBoolValue(true)))
        .addAttributes(attribute("http.request.header.accept", AnyValue.newBuilder().setArrayValue(
            ArrayValue.newBuilder()
                .addValues(AnyValue.newBuilder().setStringValue("text/html"))
                .addValues(AnyValue.newBuilder().setStringValue("application/json")))))
        .build();
    Span root = Span.newBuilder()
        .setTraceId(bytes(TRACE_ID))
        .setSpanId(bytes(PARENT_ID))
        .setName("GET")
        .setKind(Span.SpanKind.SPAN_KIND_CLIENT)
        .setStartTimeUnixNano(1_699_999_999_900_000_000L)
        .setEndTimeUnixNano(1_700_000_000_300_000_000L)
        .build();
    Resource resource = Resource.newBuilder()
        .addAttributes(attribute("service.name", AnyValue.newBuilder().setStringValue("legacy-billing")))
        .addAttributes(attribute("process.pid", AnyValue.newBuilder().setIntValue(4242)))
        .build();
    return ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(ResourceSpans.newBuilder()
            .setResource(resource)
            .addScopeSpans(ScopeSpans.newBuilder()
                .setScope(InstrumentationScope.newBuilder().setName("io.periscope").setVersion("dev"))
                .addSpans(child).addSpans(root)))
        .build();
  }

  private static KeyValue attribute(String key, AnyValue.Builder value) {
    return KeyValue.newBuilder().setKey(key).setValue(value).build();
  }

  private static ByteString bytes(String hex) {
    return ByteString.copyFrom(HexFormat.of().parseHex(hex));
  }

  private HttpResponse<byte[]> post(ExportTraceServiceRequest request, String contentType, boolean gzip)
      throws IOException, InterruptedException {
    byte[] body = request.toByteArray();
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(receiver.endpoint() + "/v1/traces"))
        .header("Content-Type", contentType);
    if (gzip) {
      ByteArrayOutputStream compressed = new ByteArrayOutputStream();
      try (GZIPOutputStream out = new GZIPOutputStream(compressed)) {
        out.write(body);
      }
      body = compressed.toByteArray();
      builder.header("Content-Encoding", "gzip");
    }
    return client.send(builder.POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  private void export(ExportTraceServiceRequest request) throws IOException, InterruptedException {
    assertThat(post(request, "application/x-protobuf", false).statusCode()).isEqualTo(200);
  }
}
