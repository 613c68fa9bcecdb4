package io.periscope.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.PrometheusScrape;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.FailureReason;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AgentMetricsTest {
  @Test
  void spansThatFailedToExportAreOneCounterWithEveryReasonAsALabel() {
    ExportStats stats =
        new ExportStats(20, 0, 9, 2, 11, Map.of(FailureReason.UNREACHABLE, 8L, FailureReason.PARTIALLY_REJECTED, 3L));
    PrometheusText m = new PrometheusText();

    AgentMetrics.spansExportFailed(m, stats);

    String text = m.render();
    assertThat(text).isEqualTo("""
        # HELP periscope_spans_export_failed_total Spans that did not reach the collector, by why
        # TYPE periscope_spans_export_failed_total counter
        periscope_spans_export_failed_total{reason="timeout"} 0
        periscope_spans_export_failed_total{reason="unreachable"} 8
        periscope_spans_export_failed_total{reason="malformed_response"} 0
        periscope_spans_export_failed_total{reason="rejected"} 0
        periscope_spans_export_failed_total{reason="retries_exhausted"} 0
        periscope_spans_export_failed_total{reason="partially_rejected"} 3
        periscope_spans_export_failed_total{reason="shutdown"} 0
        periscope_spans_export_failed_total{reason="other"} 0
        """);
    assertThat(PrometheusScrape.parse(text).value("periscope_spans_export_failed_total", "reason", "unreachable"))
        .isEqualTo(8);
  }
}
