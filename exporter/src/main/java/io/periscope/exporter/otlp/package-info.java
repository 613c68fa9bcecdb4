/**
 * OTLP http/protobuf written by Periscope itself: {@link
 * io.periscope.exporter.otlp.TraceRequestEncoder} encodes a batch of spans in one backward pass,
 * {@link io.periscope.exporter.otlp.OtlpHttpExporter} posts it. The gRPC protocol stays with
 * OpenTelemetry's exporter.
 */
@NullMarked
package io.periscope.exporter.otlp;

import org.jspecify.annotations.NullMarked;
