package io.periscope.exporter;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ExportLatencyTest {
  @Test
  void aCallLandsInTheFirstBucketWhoseBoundItDoesNotExceed() {
    ExportLatency latency = new ExportLatency();
    latency.record(Duration.ofMillis(5).toNanos()); // on the bound: still the 5 ms bucket
    latency.record(Duration.ofMillis(5).toNanos() + 1);
    latency.record(Duration.ofSeconds(30).toNanos()); // beyond the last bound
    latency.record(-1); // a clock oddity counts as zero, not as a negative sum

    ExportLatency.Snapshot s = latency.snapshot();
    assertThat(s.counts()).hasSize(s.boundsMillis().length + 1);
    assertThat(s.counts()[0]).isEqualTo(2);
    assertThat(s.counts()[1]).isEqualTo(1);
    assertThat(s.counts()[s.counts().length - 1]).isEqualTo(1);
    assertThat(s.count()).isEqualTo(4);
    assertThat(s.sumNanos()).isEqualTo(Duration.ofMillis(10).toNanos() + 1 + Duration.ofSeconds(30).toNanos());
  }

  @Test
  void theBatcherTimesEveryExportCall() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated();
    SpanBatcher batcher = SpanBatcher.builder(exporter).setMaxBatchSize(1).setScheduleDelay(Duration.ofHours(1)).build();
    batcher.offer(TestSpans.numbered(0));
    exporter.awaitBatch();
    Thread.sleep(30);
    exporter.open();
    batcher.close();
    ExportLatency.Snapshot s = batcher.exportLatency();
    assertThat(s.count()).isEqualTo(1);
    assertThat(s.sumNanos()).isGreaterThanOrEqualTo(Duration.ofMillis(30).toNanos());
  }
}
