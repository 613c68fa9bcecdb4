package io.periscope.agent.health;

import io.periscope.agent.Agent;
import io.periscope.agent.link.LinkStats;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.bpf.CaptureCounters;
import io.periscope.exporter.ExportLatency;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.FailureReason;
import org.jspecify.annotations.Nullable;

/**
 * What {@code /metrics} says: every counter of every stage, from the kernel to the export. Adding a
 * counter is one line here; a new label value of an existing family (parse failures of another
 * protocol) joins that family.
 */
final class AgentMetrics {
  private AgentMetrics() {}

  static String render(@Nullable Agent agent, String version) {
    PrometheusText m = new PrometheusText();
    m.gauge("periscope_build_info", "The agent's version, as a label; always 1", "version", version, 1);
    m.gauge("periscope_ready", "1 when the eBPF programs are attached and the pipeline runs", agent != null
        && agent.notReady() == null ? 1 : 0);
    if (agent == null) {
      return m.render();
    }
    CaptureCounters k = agent.captureCounters();
    PipelineStats.Snapshot p = agent.pipelineStats();
    LinkStats l = agent.linkStats();
    ExportStats e = agent.exportStats();
    ExportLatency.Snapshot latency = agent.exportLatency();

    m.gauge("periscope_ebpf_programs_attached", "eBPF programs attached", agent.programs().size());
    m.counter("periscope_kernel_events_total", "Records the kernel programs submitted to the ring buffer", k.events());
    m.counter("periscope_kernel_events_dropped_total", "Events lost in the kernel", "reason", "ring_buffer_full",
        k.ringBufferDrops());
    m.counter("periscope_kernel_events_dropped_total", "Events lost in the kernel", "reason", "inflight_table_full",
        k.inflightDrops());
    m.counter("periscope_kernel_records_shed_total",
        "Data records not made under overload: their connection lost a record, or began while the ring buffer was"
            + " over half full, and is followed again from a later request", k.shedRecords());
    m.counter("periscope_kernel_connections_shed_total",
        "Connections not followed from their start: the ring buffer was over half full", k.shedConnections());
    m.counter("periscope_kernel_payloads_truncated_total", "Payloads cut at the capture limit (--capture-bytes)",
        k.truncated());

    m.counter("periscope_events_read_total", "Records read from the ring buffer", p.events());
    m.counter("periscope_events_dropped_total", "Events dropped in user space", "reason", "malformed",
        p.malformedEvents());
    m.counter("periscope_connections_tracked_total", "Connections the pipeline started tracking",
        p.connectionsTracked());
    m.gauge("periscope_connections_open", "Connections tracked now", agent.connectionsOpen());
    m.counter("periscope_connections_evicted_total", "Connections evicted (table full or idle)",
        p.connectionsEvicted());
    m.counter("periscope_connections_not_http_total", "Connections whose bytes were not HTTP",
        p.connectionsNotHttp());
    m.counter("periscope_connections_http2_total", "Connections found to carry HTTP/2", p.connectionsHttp2());
    m.counter("periscope_parse_failures_total", "Connections whose parser failed", "protocol", "http1",
        p.http1ParseFailures());
    m.counter("periscope_parse_failures_total", "Connections whose parser failed", "protocol", "http2",
        p.http2ParseFailures());
    m.counter("periscope_http2_streams_evicted_total", "HTTP/2 streams pushed out: too many open on a connection",
        p.http2StreamsEvicted());
    m.counter("periscope_http2_resyncs_total", "Times HTTP/2 bytes were lost and the frames found again",
        p.http2Resyncs());
    m.counter("periscope_kernel_http2_sync_lost_total", "HTTP/2 syscalls whose frame boundaries the kernel lost",
        k.h2SyncLost());
    m.counter("periscope_kernel_head_pieces_total",
        "Records that carried a later piece of an HTTP head longer than the capture", k.headPieces());
    m.counter("periscope_kernel_tls_ciphertext_total",
        "Syscalls on TLS connections not copied: their plaintext comes from the TLS library", k.tlsCiphertext());
    m.counter("periscope_kernel_tls_unknown_connection_total",
        "TLS library calls whose connection was not known: their plaintext was lost", k.tlsNoSocket());
    m.gauge("periscope_tls_files_probed", "Files whose TLS plaintext is captured (libraries, programs with their own"
        + " OpenSSL, Go programs)", agent.tlsLibraries().size());
    m.counter("periscope_tls_files_skipped_total", "Files with TLS code not probed: past the limit of files, or Go"
        + " programs whose release or code cannot be read", agent.tlsSkipped());
    m.counter("periscope_internal_errors_total", "Connections dropped after an error in the agent's own code",
        p.internalErrors());
    m.counter("periscope_responses_unmatched_total", "Responses whose request was never seen",
        p.unmatchedResponses());
    m.counter("periscope_exchanges_incomplete_total", "Exchanges cut off by a close or eviction",
        p.incompleteExchanges());
    m.counter("periscope_pipeline_overflows_total", "Connections that pipelined too many requests",
        p.pipelineOverflows());
    m.counter("periscope_exchanges_total", "Request/response exchanges completed", p.exchanges());

    m.counter("periscope_spans_linked_total", "Server spans joined to their client's span on this node",
        l.linked());
    m.counter("periscope_spans_link_expired_total", "Server spans that waited for their client's span in vain",
        l.unlinkedAfterWait());
    m.counter("periscope_spans_unfinished_parent_total",
        "Spans of requests never seen to end, made because another span names them as parent", l.unfinishedParents());
    m.counter("periscope_spans_linked_in_process_total", "Client spans made children of the request their thread served",
        l.linkedInProcess());
    m.counter("periscope_spans_link_ambiguous_total", "Client spans left unlinked: their thread served several requests",
        l.ambiguous());
    m.counter("periscope_traceparents_injected_total", "Requests the kernel inserted a traceparent into",
        k.traceparentsInjected());
    m.counter("periscope_traceparent_injections_failed_total",
        "Requests armed for a traceparent that left without one", k.injectionsFailed());
    m.counter("periscope_spans_injected_elsewhere_total",
        "Injected client spans left as roots: the kernel chose another trace than their thread's request",
        l.injectedElsewhere());
    m.counter("periscope_kernel_trace_contexts_dropped_total",
        "Injected contexts or kernel-made traces whose request start never came", l.kernelContextsDropped());
    m.counter("periscope_sdk_processes_total", "Processes found to have their own OpenTelemetry SDK", l.sdkProcesses());
    m.counter("periscope_spans_left_to_sdk_total", "Spans not made: the process's SDK makes them", "kind", "client",
        l.sdkClientSpans());
    m.counter("periscope_spans_left_to_sdk_total", "Spans not made: the process's SDK makes them", "kind", "server",
        l.sdkServerSpans());
    m.counter("periscope_spans_not_sampled_total", "Spans not exported because their trace was not sampled",
        agent.spansNotSampled());
    m.counter("periscope_spans_produced_total", "Spans handed to the export queue", e.spansAccepted()
        + e.spansDropped());
    m.counter("periscope_spans_exported_total", "Spans the collector accepted", e.spansExported());
    m.counter("periscope_spans_dropped_total", "Spans lost", "reason", "export_queue_full", e.spansDropped());
    m.counter("periscope_spans_parent_dropped_total",
        "Of those, spans that exported spans name as parent (the queue's last eighth is kept for them)",
        agent.parentSpansDropped());
    m.counter("periscope_spans_dropped_total", "Spans lost", "reason", "export_failed", e.spansFailed());
    spansExportFailed(m, e);
    m.counter("periscope_spans_link_released_early_total", "Server spans exported unlinked: too many were waiting",
        l.heldOverflow());
    m.gauge("periscope_export_queue_spans", "Spans waiting for export", agent.exportQueueSpans());
    m.counter("periscope_export_failures_total", "Export requests that failed or timed out", e.exportFailures());
    m.histogram("periscope_export_duration_seconds", "How long export requests took", latency.boundsMillis(),
        latency.counts(), latency.sumNanos() / 1e9);
    return m.render();
  }

  /**
   * {@code periscope_spans_export_failed_total}: the spans of {@code
   * periscope_spans_dropped_total{reason="export_failed"}} by why, the OpenTelemetry Collector's
   * {@code otelcol_exporter_send_failed_spans} with its {@code error.type} as a closed set. Every
   * reason is written, 0 or not, so that each series exists from the first scrape and a rate or an
   * alert on one need not wait for its first loss.
   */
  static void spansExportFailed(PrometheusText m, ExportStats e) {
    for (FailureReason reason : FailureReason.values()) {
      m.counter("periscope_spans_export_failed_total", "Spans that did not reach the collector, by why",
          "reason", reason.label(), e.spansFailed(reason));
    }
  }
}
