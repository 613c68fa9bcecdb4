package io.periscope.exporter;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporterBuilder;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.common.export.MemoryMode;
import io.periscope.exporter.otlp.OtlpGrpcExporter;
import io.periscope.exporter.otlp.OtlpHttpExporter;
import java.net.URI;

/** Builds the {@link SpanExporter} an {@link ExporterConfig} describes. */
public final class Exporters {
  private Exporters() {}

  /**
   * Creates the exporter for {@code config}:
   *
   * <ul>
   *   <li>no endpoint: a {@link ConsoleTraceExporter} printing to {@link System#out};
   *   <li>{@code http/protobuf}: an {@link OtlpHttpExporter}, Periscope's own (its encoder runs at
   *       1.8 times the SDK marshaler's rate, and plain http skips the JDK client's per-request
   *       cost: docs/design-notes.md, "Export"); a base URL (no path, or {@code /}) gets {@code /v1/traces} appended, the {@code OTEL_EXPORTER_OTLP_ENDPOINT} rule, so
   *       both {@code http://collector:4318} and {@code http://collector:4318/v1/traces} work;
   *   <li>{@code grpc}: an {@link OtlpGrpcSpanExporter} with the endpoint as given, in an {@link
   *       OtlpGrpcExporter} that sees the collector's answers (partial success, error statuses).
   * </ul>
   *
   * <p>The caller owns the exporter and must shut it down, usually by handing it to a {@link
   * SpanBatcher}.
   */
  public static SpanExporter create(ExporterConfig config) {
    requireNonNull(config, "config");
    URI endpoint = config.endpoint();
    if (endpoint == null) {
      return ConsoleTraceExporter.builder().build();
    }
    return switch (config.protocol()) {
      case HTTP_PROTOBUF -> new OtlpHttpExporter(httpTracesUrl(endpoint), config.headers(), config.timeout());
      case GRPC -> OtlpGrpcExporter.build(grpc(endpoint, config));
    };
  }

  /**
   * The gRPC exporter as configured, with the SDK's retry policy (RetryPolicy.getDefault(): five
   * attempts, back-off from 1 s), which tests scale down.
   */
  // REUSABLE_DATA: the gRPC exporter serializes with reused marshalers instead of building a tree
  // of objects per span. Safe here because the batcher waits for each export before the next.
  static OtlpGrpcSpanExporterBuilder grpc(URI endpoint, ExporterConfig config) {
    OtlpGrpcSpanExporterBuilder builder =
        OtlpGrpcSpanExporter.builder()
            .setEndpoint(endpoint.toString())
            .setTimeout(config.timeout())
            .setMemoryMode(MemoryMode.REUSABLE_DATA);
    config.headers().forEach(builder::addHeader);
    return builder;
  }

  /** The URL an http/protobuf export posts to. */
  static URI httpTracesUrl(URI endpoint) {
    String path = endpoint.getRawPath();
    boolean baseUrl = path == null || path.isEmpty() || path.equals("/");
    return baseUrl ? ExporterConfig.withTracesPath(endpoint) : endpoint;
  }
}
