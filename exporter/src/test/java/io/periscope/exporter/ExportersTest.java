package io.periscope.exporter;

import static io.periscope.exporter.TestSpans.span;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.exporter.ExporterConfig.Protocol;
import io.periscope.exporter.otlp.OtlpGrpcExporter;
import io.periscope.exporter.otlp.OtlpHttpExporter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ExportersTest {
  private static final SpanData SPAN =
      span("00f067aa0ba902b7", null)
          .setResource(TestSpans.service("checkout"))
          .setName("GET /cart")
          .setKind(SpanKind.SERVER)
          .build();

  private record Request(
      String method, String path, String contentType, String apiKey, byte[] body) {}

  @Test
  void withoutAnEndpointPrintsToTheTerminal() {
    SpanExporter exporter =
        Exporters.create(
            new ExporterConfig(Protocol.HTTP_PROTOBUF, null, Map.of(), Duration.ofSeconds(1)));
    try {
      assertThat(exporter).isInstanceOf(ConsoleTraceExporter.class);
    } finally {
      exporter.shutdown();
    }
  }

  @Test
  void appendsTheTracesPathOnlyToABaseUrl() {
    assertThat(Exporters.httpTracesUrl(URI.create("http://c:4318")))
        .isEqualTo(URI.create("http://c:4318/v1/traces"));
    assertThat(Exporters.httpTracesUrl(URI.create("http://c:4318/")))
        .isEqualTo(URI.create("http://c:4318/v1/traces"));
    assertThat(Exporters.httpTracesUrl(URI.create("http://c:4318/v1/traces")))
        .isEqualTo(URI.create("http://c:4318/v1/traces"));
    assertThat(Exporters.httpTracesUrl(URI.create("http://c:4318/custom")))
        .isEqualTo(URI.create("http://c:4318/custom"));
  }

  @Test
  void httpProtobufPostsTheSpansToV1Traces() throws Exception {
    BlockingQueue<Request> requests = new LinkedBlockingQueue<>();
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/",
        exchange -> {
          requests.add(
              new Request(
                  exchange.getRequestMethod(),
                  exchange.getRequestURI().getPath(),
                  exchange.getRequestHeaders().getFirst("Content-Type"),
                  exchange.getRequestHeaders().getFirst("X-Api-Key"),
                  exchange.getRequestBody().readAllBytes()));
          // An empty ExportTraceServiceResponse encodes to zero bytes.
          exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
        });
    server.start();
    URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    SpanExporter exporter =
        Exporters.create(
            new ExporterConfig(
                Protocol.HTTP_PROTOBUF,
                base,
                Map.of("x-api-key", "s3cret"),
                Duration.ofSeconds(10)));
    try {
      assertThat(exporter).isInstanceOf(OtlpHttpExporter.class);

      CompletableResultCode result = exporter.export(List.of(SPAN)).join(10, TimeUnit.SECONDS);

      assertThat(result.isSuccess()).isTrue();
      Request request = requests.poll(10, TimeUnit.SECONDS);
      assertThat(request).isNotNull();
      assertThat(request.method()).isEqualTo("POST");
      assertThat(request.path()).isEqualTo("/v1/traces");
      assertThat(request.contentType()).isEqualTo("application/x-protobuf");
      assertThat(request.apiKey()).isEqualTo("s3cret");
      assertThat(request.body()).isNotEmpty();
      assertContainsSpan(ExportTraceServiceRequest.parseFrom(request.body()));
    } finally {
      exporter.shutdown().join(10, TimeUnit.SECONDS);
      server.stop(0);
    }
  }

  @Test
  void grpcSendsTheSpansOverCleartextHttp2() throws Exception {
    try (FakeGrpcReceiver receiver = new FakeGrpcReceiver()) {
      SpanExporter exporter =
          Exporters.create(
              new ExporterConfig(
                  Protocol.GRPC,
                  URI.create("http://127.0.0.1:" + receiver.port()),
                  Map.of("x-api-key", "s3cret"),
                  Duration.ofSeconds(10)));
      try {
        // The SDK's exporter, in the one that reads its answers (partial success, error statuses).
        assertThat(exporter)
            .isInstanceOfSatisfying(
                OtlpGrpcExporter.class, grpc -> assertThat(grpc.sdkExporter()).isInstanceOf(OtlpGrpcSpanExporter.class));

        CompletableResultCode result = exporter.export(List.of(SPAN)).join(10, TimeUnit.SECONDS);

        assertContainsSpan(ExportTraceServiceRequest.parseFrom(receiver.awaitMessage()));
        assertThat(result.isSuccess()).isTrue();
      } finally {
        exporter.shutdown().join(10, TimeUnit.SECONDS);
      }
    }
  }

  private static void assertContainsSpan(ExportTraceServiceRequest request) {
    assertThat(request.getResourceSpansList()).hasSize(1);
    assertThat(request.getResourceSpans(0).getResource().getAttributesList())
        .anySatisfy(
            attribute -> {
              assertThat(attribute.getKey()).isEqualTo("service.name");
              assertThat(attribute.getValue().getStringValue()).isEqualTo("checkout");
            });
    Span span = request.getResourceSpans(0).getScopeSpans(0).getSpans(0);
    assertThat(span.getName()).isEqualTo("GET /cart");
    assertThat(span.getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(HexFormat.of().formatHex(span.getTraceId().toByteArray()))
        .isEqualTo(TestSpans.TRACE_ID);
    assertThat(HexFormat.of().formatHex(span.getSpanId().toByteArray()))
        .isEqualTo("00f067aa0ba902b7");
  }
}
