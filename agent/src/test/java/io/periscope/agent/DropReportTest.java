package io.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class DropReportTest {

  @Test
  void saysWhatGrewAndNothingElse() {
    DropReport before = new DropReport(0, 0, 0, 2, 0, 0, 0, 0, 0, 10, 0);
    DropReport after = new DropReport(5, 0, 0, 2, 0, 0, 0, 0, 0, 17, 0);

    assertThat(after.since(before))
        .isEqualTo("5 events lost in the kernel (ring buffer full), 7 spans dropped (export queue full)");
  }

  @Test
  void nothingGrewIsNothingToSay() {
    DropReport same = new DropReport(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assertThat(same.since(same)).isNull();
  }
}
