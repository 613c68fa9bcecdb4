/**
 * OTLP http/protobuf written by Periscope itself: {@link
 * io.periscope.exporter.otlp.TraceRequestEncoder} encodes a batch of spans in one backward pass,
 * {@link io.periscope.exporter.otlp.OtlpHttpExporter} posts it, with retries, through a {@link
 * io.periscope.exporter.otlp.Transport}: {@link io.periscope.exporter.otlp.PlainHttpTransport}
 * for http, {@link io.periscope.exporter.otlp.JdkHttpTransport} for https and proxies. The gRPC
 * protocol stays with OpenTelemetry's exporter, which {@link
 * io.periscope.exporter.otlp.OtlpGrpcExporter} builds so that it sees the collector's answers.
 * Both are {@link io.periscope.exporter.otlp.OtlpSpanExporter}s: they report the spans a collector
 * rejected from a request it took, and fail with exceptions that say why.
 */
@NullMarked
package io.periscope.exporter.otlp;

import org.jspecify.annotations.NullMarked;
