package io.periscope.exporter;

import static io.opentelemetry.api.common.AttributeKey.longKey;
import static io.opentelemetry.api.common.AttributeKey.stringKey;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Renders the spans of one trace as a text waterfall for a terminal:
 *
 * <pre>
 * trace 0af7651916cd43dd8448eb211c80319c  4 spans  120.00 ms
 *   web GET /checkout   server    200        120.00 ms  |########################################|
 *     web GET /cart     client    200         50.00 ms  |   #################                    |
 *       cart GET /cart  server    200         40.00 ms  |     ##############                     |
 *     web POST /pay     client    500 ERROR   60.00 ms  |                    ####################|
 * </pre>
 *
 * <p>Children are indented under their parent and ordered by start time; a span whose parent is not
 * part of the trace (the agent saw only one side of a call, or the caller is not instrumented) is
 * shown as a root with a note. The bar places each span within the trace's time range at a fixed
 * width of {@value #BAR_WIDTH} columns, at least one column per span, so timing reads at a glance.
 */
final class TraceWaterfall {
  /** Columns of the timing bar. */
  static final int BAR_WIDTH = 40;

  /** Longer service-and-name cells are cut so one long URL does not push every bar off screen. */
  private static final int MAX_TREE_WIDTH = 60;

  private static final int KIND_WIDTH = "internal".length();

  private static final AttributeKey<String> SERVICE_NAME = stringKey("service.name");
  private static final AttributeKey<String> EXECUTABLE_NAME = stringKey("process.executable.name");
  private static final AttributeKey<Long> HTTP_STATUS = longKey("http.response.status_code");
  private static final AttributeKey<Long> GRPC_STATUS = longKey("rpc.grpc.status_code");

  private static final Comparator<SpanData> BY_START =
      Comparator.comparingLong(SpanData::getStartEpochNanos)
          .thenComparingLong(SpanData::getEndEpochNanos)
          .thenComparing(SpanData::getSpanId);

  private record Row(SpanData span, int depth, @Nullable String note) {}

  private TraceWaterfall() {}

  /**
   * Renders {@code spans}, which must be non-empty and share one trace id, ending with a newline.
   *
   * @param headerNote appended to the header line, e.g. why the trace was printed before it was
   *     finished; empty for none
   */
  static String render(List<SpanData> spans, String headerNote) {
    List<Row> rows = treeOrder(spans);
    long traceStart = Long.MAX_VALUE;
    long traceEnd = Long.MIN_VALUE;
    for (SpanData span : spans) {
      traceStart = Math.min(traceStart, span.getStartEpochNanos());
      traceEnd = Math.max(traceEnd, Math.max(span.getStartEpochNanos(), span.getEndEpochNanos()));
    }
    long total = traceEnd - traceStart;

    List<String> trees = new ArrayList<>(rows.size());
    List<String> statuses = new ArrayList<>(rows.size());
    List<String> durations = new ArrayList<>(rows.size());
    int treeWidth = 0;
    int statusWidth = 0;
    int durationWidth = 0;
    for (Row row : rows) {
      String tree =
          truncate(
              "  ".repeat(row.depth()) + serviceName(row.span()) + " " + row.span().getName(),
              MAX_TREE_WIDTH);
      String status = status(row.span());
      String duration = millis(row.span().getEndEpochNanos() - row.span().getStartEpochNanos());
      trees.add(tree);
      statuses.add(status);
      durations.add(duration);
      treeWidth = Math.max(treeWidth, tree.length());
      statusWidth = Math.max(statusWidth, status.length());
      durationWidth = Math.max(durationWidth, duration.length());
    }

    StringBuilder out = new StringBuilder();
    out.append("trace ")
        .append(spans.getFirst().getTraceId())
        .append("  ")
        .append(spans.size())
        .append(spans.size() == 1 ? " span  " : " spans  ")
        .append(millis(total));
    if (!headerNote.isEmpty()) {
      out.append("  ").append(headerNote);
    }
    out.append('\n');
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      SpanData span = row.span();
      out.append("  ")
          .append(padRight(trees.get(i), treeWidth))
          .append("  ")
          .append(padRight(span.getKind().name().toLowerCase(Locale.ROOT), KIND_WIDTH))
          .append("  ")
          .append(padRight(statuses.get(i), statusWidth))
          .append("  ")
          .append(padLeft(durations.get(i), durationWidth))
          .append("  |")
          .append(bar(span, traceStart, total))
          .append('|');
      if (row.note() != null) {
        out.append("  ").append(row.note());
      }
      out.append('\n');
    }
    return out.toString();
  }

  private static List<Row> treeOrder(List<SpanData> spans) {
    Set<String> spanIds = new HashSet<>();
    for (SpanData span : spans) {
      spanIds.add(span.getSpanId());
    }
    Map<String, List<SpanData>> children = new HashMap<>();
    List<SpanData> roots = new ArrayList<>();
    for (SpanData span : spans) {
      if (span.getParentSpanContext().isValid() && spanIds.contains(span.getParentSpanId())) {
        children.computeIfAbsent(span.getParentSpanId(), id -> new ArrayList<>()).add(span);
      } else {
        roots.add(span);
      }
    }
    children.values().forEach(list -> list.sort(BY_START));
    roots.sort(BY_START);

    List<Row> rows = new ArrayList<>(spans.size());
    Set<SpanData> visited = Collections.newSetFromMap(new IdentityHashMap<>());
    for (SpanData root : roots) {
      String note =
          root.getParentSpanContext().isValid()
              ? "(parent " + root.getParentSpanId() + " not seen)"
              : null;
      visit(root, 0, note, children, visited, rows);
    }
    // Spans whose parent chain loops back on itself are reachable from no root; malformed input,
    // but it must still be printed rather than vanish.
    if (visited.size() < spans.size()) {
      List<SpanData> unreached = new ArrayList<>();
      for (SpanData span : spans) {
        if (!visited.contains(span)) {
          unreached.add(span);
        }
      }
      unreached.sort(BY_START);
      for (SpanData span : unreached) {
        if (!visited.contains(span)) {
          visit(
              span,
              0,
              "(parent " + span.getParentSpanId() + " in a cycle)",
              children,
              visited,
              rows);
        }
      }
    }
    return rows;
  }

  private static void visit(
      SpanData span,
      int depth,
      @Nullable String note,
      Map<String, List<SpanData>> children,
      Set<SpanData> visited,
      List<Row> rows) {
    if (!visited.add(span)) {
      return;
    }
    rows.add(new Row(span, depth, note));
    for (SpanData child : children.getOrDefault(span.getSpanId(), List.of())) {
      visit(child, depth + 1, null, children, visited, rows);
    }
  }

  private static String serviceName(SpanData span) {
    Resource resource = span.getResource();
    String service = resource.getAttribute(SERVICE_NAME);
    // SDKs report "unknown_service:<process>" when nothing set service.name (resource semantic
    // conventions); the executable name says more than that placeholder.
    if (service != null && !service.isBlank() && !service.startsWith("unknown_service")) {
      return service;
    }
    String executable = resource.getAttribute(EXECUTABLE_NAME);
    if (executable != null && !executable.isBlank()) {
      return executable;
    }
    return service == null || service.isBlank() ? "?" : service;
  }

  /** The HTTP status code, or the gRPC status ({@code grpc 5}), with ERROR when the span failed. */
  private static String status(SpanData span) {
    Long httpStatus = span.getAttributes().get(HTTP_STATUS);
    Long grpcStatus = span.getAttributes().get(GRPC_STATUS);
    StatusCode code = span.getStatus().getStatusCode();
    String shown = httpStatus != null ? httpStatus.toString() : grpcStatus != null ? "grpc " + grpcStatus : null;
    if (shown != null) {
      return code == StatusCode.ERROR ? shown + " ERROR" : shown;
    }
    return switch (code) {
      case OK -> "OK";
      case ERROR -> "ERROR";
      case UNSET -> "-";
    };
  }

  private static String bar(SpanData span, long traceStart, long total) {
    int from = 0;
    int to = 1;
    if (total > 0) {
      from =
          (int) Math.floor((span.getStartEpochNanos() - traceStart) * (double) BAR_WIDTH / total);
      to = (int) Math.ceil((span.getEndEpochNanos() - traceStart) * (double) BAR_WIDTH / total);
    }
    from = Math.clamp(from, 0, BAR_WIDTH - 1);
    to = Math.clamp(to, from + 1, BAR_WIDTH);
    return " ".repeat(from) + "#".repeat(to - from) + " ".repeat(BAR_WIDTH - to);
  }

  private static String millis(long nanos) {
    return String.format(Locale.ROOT, "%.2f ms", Math.max(0, nanos) / 1_000_000.0);
  }

  private static String truncate(String text, int width) {
    return text.length() <= width ? text : text.substring(0, width - 3) + "...";
  }

  private static String padRight(String text, int width) {
    return text + " ".repeat(width - text.length());
  }

  private static String padLeft(String text, int width) {
    return " ".repeat(width - text.length()) + text;
  }
}
