/**
 * The last stage of the agent pipeline: finished {@link io.opentelemetry.sdk.trace.data.SpanData}
 * goes into a {@link io.periscope.exporter.SpanSink} and leaves the node as OTLP, or is printed to
 * the terminal when no collector is configured.
 *
 * <pre>
 *   agent pipeline --offer()--> SpanBatcher --export(batch)--> SpanExporter
 *                              (bounded queue,                 otlp.OtlpHttpExporter (own encoder)
 *                               drops when full,               otlp.OtlpGrpcExporter (the SDK's
 *                               "periscope-export" thread,       OtlpGrpcSpanExporter)
 *                               counts lost spans by           ConsoleTraceExporter
 *                               FailureReason)
 * </pre>
 *
 * <p>{@link io.periscope.exporter.ExporterConfig} says which exporter to use (usually read from the
 * standard {@code OTEL_EXPORTER_OTLP_*} environment variables) and {@link
 * io.periscope.exporter.Exporters} builds it.
 */
@NullMarked
package io.periscope.exporter;

import org.jspecify.annotations.NullMarked;
