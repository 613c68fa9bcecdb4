package io.periscope.agent;

import io.periscope.agent.link.LinkStats;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.bpf.CaptureCounters;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.FailureReason;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Every counter that means something was lost, at one moment. The agent logs the difference once
 * a minute when there is one, so drops are visible while it runs, not only when it stops.
 */
record DropReport(long ringBuffer, long shed, long inflight, long malformed, long parseFailures, long evicted,
    long pipelineOverflows, long streamsEvicted, long internalErrors, long linkOverflow, long exportQueue,
    Map<FailureReason, Long> exportFailed) {

  static DropReport of(CaptureCounters kernel, PipelineStats.Snapshot pipeline, LinkStats link,
      ExportStats export) {
    return new DropReport(kernel.ringBufferDrops(), kernel.shedRecords(), kernel.inflightDrops(), pipeline.malformedEvents(),
        pipeline.http1ParseFailures() + pipeline.http2ParseFailures(), pipeline.connectionsEvicted(),
        pipeline.pipelineOverflows(), pipeline.http2StreamsEvicted(), pipeline.internalErrors(), link.heldOverflow(),
        export.spansDropped(), export.spansFailedByReason());
  }

  /** What grew since {@code earlier}, as one line, or null when nothing did. */
  @Nullable String since(DropReport earlier) {
    List<String> grew = new ArrayList<>();
    add(grew, ringBuffer - earlier.ringBuffer, "events lost in the kernel (ring buffer full)");
    add(grew, shed - earlier.shed, "records shed with their connection (overload)");
    add(grew, inflight - earlier.inflight, "syscalls not traced (in-flight table full)");
    add(grew, malformed - earlier.malformed, "malformed events");
    add(grew, parseFailures - earlier.parseFailures, "connections that failed to parse");
    add(grew, evicted - earlier.evicted, "connections evicted (table full or idle)");
    add(grew, pipelineOverflows - earlier.pipelineOverflows, "connections with too many pipelined requests");
    add(grew, streamsEvicted - earlier.streamsEvicted, "HTTP/2 streams pushed out (too many open on a connection)");
    add(grew, internalErrors - earlier.internalErrors, "connections dropped after an internal error");
    add(grew, linkOverflow - earlier.linkOverflow, "server spans released unlinked (too many waiting)");
    add(grew, exportQueue - earlier.exportQueue, "spans dropped (export queue full)");
    addExportFailed(grew, earlier.exportFailed);
    return grew.isEmpty() ? null : String.join(", ", grew);
  }

  /** "11 spans lost in failed exports (unreachable 8, partially_rejected 3)". */
  private void addExportFailed(List<String> grew, Map<FailureReason, Long> earlier) {
    Map<FailureReason, Long> deltas = new EnumMap<>(FailureReason.class);
    exportFailed.forEach((reason, spans) -> deltas.put(reason, spans - earlier.getOrDefault(reason, 0L)));
    long total = deltas.values().stream().mapToLong(Long::longValue).sum();
    add(grew, total, "spans lost in failed exports (" + byReason(deltas) + ")");
  }

  /** Spans by reason, as the stop report and the warning say them: "unreachable 8, shutdown 3". */
  static String byReason(Map<FailureReason, Long> spans) {
    List<String> reasons = new ArrayList<>();
    for (FailureReason reason : FailureReason.values()) {
      long count = spans.getOrDefault(reason, 0L);
      if (count > 0) {
        reasons.add(reason.label() + " " + count);
      }
    }
    return String.join(", ", reasons);
  }

  private static void add(List<String> grew, long delta, String what) {
    if (delta > 0) {
      grew.add(delta + " " + what);
    }
  }
}
