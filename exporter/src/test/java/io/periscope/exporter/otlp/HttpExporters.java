package io.periscope.exporter.otlp;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.net.URI;
import java.time.Duration;
import java.util.Map;

/**
 * OTLP/HTTP exporters through a chosen transport and with a chosen first back-off, for tests
 * outside this package that scale the exporter's times down (CollectorFaultsTest).
 */
public final class HttpExporters {
  private HttpExporters() {}

  /** Through {@link PlainHttpTransport}, what plain http uses. */
  public static SpanExporter plain(URI url, Duration timeout, Duration initialBackoff) {
    return new OtlpHttpExporter(new PlainHttpTransport(url, Map.of()), timeout, initialBackoff);
  }

  /** Through {@link JdkHttpTransport}, what https and proxies use. */
  public static SpanExporter jdk(URI url, Duration timeout, Duration initialBackoff) {
    return new OtlpHttpExporter(new JdkHttpTransport(url, Map.of(), timeout), timeout, initialBackoff);
  }
}
