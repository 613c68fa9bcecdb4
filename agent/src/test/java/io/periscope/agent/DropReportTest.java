package io.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.exporter.FailureReason;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DropReportTest {

  @Test
  void saysWhatGrewAndNothingElse() {
    DropReport before = new DropReport(0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 10, Map.of());
    DropReport after = new DropReport(5, 40, 0, 0, 2, 0, 0, 0, 0, 0, 17, Map.of());

    assertThat(after.since(before))
        .isEqualTo("5 events lost in the kernel (ring buffer full), 40 records shed with their connection (overload),"
            + " 7 spans dropped (export queue full)");
  }

  @Test
  void spansLostInFailedExportsSayWhy() {
    DropReport before = new DropReport(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, Map.of(FailureReason.TIMEOUT, 4L));
    DropReport after = new DropReport(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        Map.of(FailureReason.TIMEOUT, 4L, FailureReason.UNREACHABLE, 8L, FailureReason.PARTIALLY_REJECTED, 3L));

    assertThat(after.since(before))
        .isEqualTo("11 spans lost in failed exports (unreachable 8, partially_rejected 3)");
  }

  @Test
  void spansByReasonAreSaidInTheOrderOfTheReasonsWithoutTheEmptyOnes() {
    assertThat(DropReport.byReason(
            Map.of(FailureReason.SHUTDOWN, 3L, FailureReason.TIMEOUT, 0L, FailureReason.UNREACHABLE, 8L)))
        .isEqualTo("unreachable 8, shutdown 3");
  }

  @Test
  void nothingGrewIsNothingToSay() {
    DropReport same = new DropReport(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, Map.of(FailureReason.TIMEOUT, 12L));
    assertThat(same.since(same)).isNull();
  }
}
