package io.periscope.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.common.KeyValue;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.exporter.internal.otlp.traces.TraceRequestMarshaler;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.testing.trace.TestSpanData;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The encoder against OpenTelemetry's own marshaler, the reference for what collectors accept:
 * byte for byte where the SDK's output order is defined (one resource and scope), and as decoded
 * messages where it is not (the SDK groups in hash maps, so its order of resources is arbitrary).
 */
class TraceRequestEncoderTest {
  private static final Resource RESOURCE =
      Resource.create(
          Attributes.builder()
              .put("service.name", "checkout")
              .put("k8s.pod.name", "checkout-7d9f-x2")
              .put("process.pid", 4242L)
              .build(),
          "https://opentelemetry.io/schemas/1.37.0");
  private static final InstrumentationScopeInfo SCOPE =
      InstrumentationScopeInfo.builder("io.periscope").setVersion("0.1.0").build();

  private final TraceRequestEncoder encoder = new TraceRequestEncoder();

  @Test
  void aServerSpanWithARemoteParentIsEncodedAsTheSdkEncodesIt() throws IOException {
    SpanData span =
        span(1, RESOURCE, SCOPE)
            .setParentSpanContext(
                SpanContext.createFromRemoteParent(
                    traceId(1), "b7ad6b7169203331", TraceFlags.getSampled(), TraceState.getDefault()))
            .setKind(SpanKind.SERVER)
            .setName("GET /cart")
            .setAttributes(
                Attributes.builder()
                    .put("http.request.method", "GET")
                    .put("url.path", "/cart")
                    .put("http.response.status_code", 200L)
                    .put("network.peer.address", "10.1.2.3")
                    .build())
            .setTotalAttributeCount(4)
            .build();

    assertSameBytes(List.of(span));
  }

  @Test
  void everyAttributeTypeEventLinkStatusAndCountIsEncodedAsTheSdkEncodesIt() throws IOException {
    Attributes all =
        Attributes.builder()
            .put("s", "text")
            .put("empty", "")
            .put("unicode", "grüße ✓ 𝄞")
            .put("t", true)
            .put("f", false)
            .put("zero", 0L)
            .put("negative", -5L)
            .put("big", Long.MAX_VALUE)
            .put("pi", 3.14159)
            .put("nought", 0.0)
            .put("minus nought", -0.0)
            .put("strings", "a", "", "c")
            .put("bools", true, false)
            .put("longs", 1L, 0L, -1L)
            .put("doubles", 1.5, 0.0)
            .put(AttributeKey.stringArrayKey("no strings"), List.of())
            .build();
    AttributesBuilder withValues = all.toBuilder();
    withValues.put(
        AttributeKey.valueKey("value"),
        Value.of(
            KeyValue.of("nested", Value.of(Value.of("x"), Value.of(7L), Value.of(2.5), Value.of(true))),
            KeyValue.of("bytes", Value.of(new byte[] {0, 1, (byte) 0xff})),
            KeyValue.of("nothing", Value.empty())));
    SpanData span =
        span(2, RESOURCE, SCOPE)
            .setKind(SpanKind.CLIENT)
            .setAttributes(withValues.build())
            .setTotalAttributeCount(withValues.build().size() + 3)
            .setStatus(StatusData.create(StatusCode.ERROR, "connection reset"))
            .setEvents(
                List.of(
                    EventData.create(1_700_000_000_100_000_000L, "exception", Attributes.of(AttributeKey.stringKey("exception.type"), "IOException")),
                    EventData.create(1_700_000_000_200_000_000L, "retry", Attributes.empty(), 4)))
            .setTotalRecordedEvents(5)
            .setLinks(
                List.of(
                    LinkData.create(
                        SpanContext.createFromRemoteParent(
                            traceId(9), "00f067aa0ba902b7", TraceFlags.getDefault(),
                            TraceState.builder().put("vendor", "v1").put("other", "x=y").build())),
                    LinkData.create(
                        SpanContext.create(traceId(10), "00f067aa0ba902b8", TraceFlags.getSampled(), TraceState.getDefault()),
                        Attributes.of(AttributeKey.longKey("n"), 3L),
                        7)))
            .setTotalRecordedLinks(4)
            .build();
    SpanData ok =
        span(3, RESOURCE, SCOPE)
            .setKind(SpanKind.PRODUCER)
            .setStatus(StatusData.ok())
            .setSpanContext(
                SpanContext.create(
                    traceId(3), spanId(3), TraceFlags.getDefault(),
                    TraceState.builder().put("congo", "t61rcWkgMzE").build()))
            .build();
    SpanData consumer = span(4, RESOURCE, SCOPE).setKind(SpanKind.CONSUMER).setName("").build();

    assertSameBytes(List.of(span, ok, consumer));
  }

  @Test
  void aBatchLargerThanTheBufferIsEncodedAsTheSdkEncodesIt() throws IOException {
    Random random = new Random(7);
    List<SpanData> spans = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      spans.add(randomSpan(random, i, RESOURCE, SCOPE));
    }

    assertSameBytes(spans);
  }

  @Test
  void stringsCopiedRatherThanReadInPlaceMakeTheSameBytes() throws IOException {
    Random random = new Random(5);
    List<SpanData> spans = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      spans.add(randomSpan(random, i, RESOURCE, SCOPE));
    }
    TraceRequestEncoder copying = new TraceRequestEncoder(new ReverseProtoWriter(1024, false));

    assertThat(copying.encode(spans).toByteArray()).isEqualTo(sdkBytes(spans));
  }

  @Test
  void theEncoderIsReusedAcrossRequests() throws IOException {
    Random random = new Random(11);
    List<SpanData> large = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      large.add(randomSpan(random, i, RESOURCE, SCOPE));
    }
    List<SpanData> small = List.of(randomSpan(random, 5000, RESOURCE, SCOPE));

    assertSameBytes(large);
    assertSameBytes(small);
    assertSameBytes(large);
  }

  @Test
  void spansOfSeveralResourcesAndScopesAreGroupedAsTheSdkGroupsThem() throws IOException {
    Resource other = Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), "cart"));
    // Equal to RESOURCE but another object: its spans belong to RESOURCE's group.
    Resource sameAsFirst = Resource.create(RESOURCE.getAttributes(), RESOURCE.getSchemaUrl());
    InstrumentationScopeInfo otherScope =
        InstrumentationScopeInfo.builder("io.periscope.http2")
            .setSchemaUrl("https://opentelemetry.io/schemas/1.37.0")
            .setAttributes(Attributes.of(AttributeKey.stringKey("scope.kind"), "kernel"))
            .build();
    Random random = new Random(3);
    List<SpanData> spans = new ArrayList<>();
    Resource[] resources = {RESOURCE, other, sameAsFirst, Resource.empty()};
    InstrumentationScopeInfo[] scopes = {SCOPE, otherScope};
    for (int i = 0; i < 200; i++) {
      spans.add(randomSpan(random, i, resources[random.nextInt(resources.length)], scopes[random.nextInt(2)]));
    }

    ExportTraceServiceRequest ours = ExportTraceServiceRequest.parseFrom(encoder.encode(spans).toByteArray());
    ExportTraceServiceRequest sdk = ExportTraceServiceRequest.parseFrom(sdkBytes(spans));

    assertThat(ours.getResourceSpansCount()).isEqualTo(3);
    assertThat(normalized(ours)).isEqualTo(normalized(sdk));
  }

  @Test
  void noSpansIsAnEmptyRequest() {
    assertThat(encoder.encode(List.of()).length()).isZero();
  }

  private void assertSameBytes(List<SpanData> spans) throws IOException {
    byte[] expected = sdkBytes(spans);
    byte[] actual = encoder.encode(spans).toByteArray();
    // On a mismatch the decoded messages say where; the bytes say that they differ at all.
    if (!java.util.Arrays.equals(actual, expected)) {
      assertThat(ExportTraceServiceRequest.parseFrom(actual).toString())
          .isEqualTo(ExportTraceServiceRequest.parseFrom(expected).toString());
    }
    assertThat(HexFormat.of().formatHex(actual)).isEqualTo(HexFormat.of().formatHex(expected));
  }

  private static byte[] sdkBytes(List<SpanData> spans) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    TraceRequestMarshaler.create(spans).writeBinaryTo(bytes);
    return bytes.toByteArray();
  }

  /**
   * What a request says, whatever its grouping: resource -> scope -> spans, sorted. The SDK keeps
   * equal resources that are distinct objects apart; the encoder merges them, and either is valid.
   */
  private static Map<String, Map<String, List<String>>> normalized(ExportTraceServiceRequest request) {
    Map<String, Map<String, List<String>>> result = new TreeMap<>();
    for (ResourceSpans resourceSpans : request.getResourceSpansList()) {
      Map<String, List<String>> scopes =
          result.computeIfAbsent(
              resourceSpans.getResource() + resourceSpans.getSchemaUrl(), k -> new TreeMap<>());
      for (ScopeSpans scopeSpans : resourceSpans.getScopeSpansList()) {
        List<String> spans =
            scopes.computeIfAbsent(scopeSpans.getScope() + scopeSpans.getSchemaUrl(), k -> new ArrayList<>());
        scopeSpans.getSpansList().forEach(span -> spans.add(span.toString()));
        spans.sort(null);
      }
    }
    return result;
  }

  private static SpanData randomSpan(
      Random random, int n, Resource resource, InstrumentationScopeInfo scope) {
    AttributesBuilder attributes = Attributes.builder();
    String[] methods = {"GET", "POST", "PUT", "DELETE"};
    attributes.put("http.request.method", methods[random.nextInt(methods.length)]);
    attributes.put("url.path", "/item/" + random.nextInt(1_000_000) + (random.nextInt(20) == 0 ? "/ü" : ""));
    attributes.put("http.response.status_code", (long) (100 + random.nextInt(500)));
    attributes.put("network.peer.port", (long) random.nextInt(65536));
    if (random.nextBoolean()) {
      attributes.put("user_agent.original", "curl/8." + random.nextInt(20));
    }
    if (random.nextInt(5) == 0) {
      attributes.put("periscope.http2.headers_incomplete", true);
    }
    TestSpanData.Builder span =
        span(n, resource, scope)
            .setName(methods[random.nextInt(methods.length)] + " /item")
            .setKind(SpanKind.values()[random.nextInt(SpanKind.values().length)])
            .setStartEpochNanos(1_700_000_000_000_000_000L + random.nextLong(1L << 40))
            .setAttributes(attributes.build())
            .setTotalAttributeCount(attributes.build().size());
    span.setEndEpochNanos(span.build().getStartEpochNanos() + random.nextInt(1 << 30));
    if (random.nextBoolean()) {
      span.setParentSpanContext(
          random.nextBoolean()
              ? SpanContext.createFromRemoteParent(traceId(n), spanId(n + 1), TraceFlags.getSampled(), TraceState.getDefault())
              : SpanContext.create(traceId(n), spanId(n + 2), TraceFlags.getSampled(), TraceState.getDefault()));
    }
    if (random.nextInt(10) == 0) {
      span.setStatus(StatusData.error());
    }
    return span.build();
  }

  private static TestSpanData.Builder span(int n, Resource resource, InstrumentationScopeInfo scope) {
    return TestSpanData.builder()
        .setSpanContext(SpanContext.create(traceId(n), spanId(n), TraceFlags.getSampled(), TraceState.getDefault()))
        .setResource(resource)
        .setInstrumentationScopeInfo(scope)
        .setName("span " + n)
        .setKind(SpanKind.INTERNAL)
        .setStatus(StatusData.unset())
        .setStartEpochNanos(1_700_000_000_000_000_000L)
        .setEndEpochNanos(1_700_000_000_001_000_000L)
        .setHasEnded(true);
  }

  private static String traceId(int n) {
    return String.format("%016x%016x", 0x4bf92f3577b34da6L, n + 1);
  }

  private static String spanId(int n) {
    return String.format("%016x", 0x00f067aa00000000L + n + 1);
  }
}
