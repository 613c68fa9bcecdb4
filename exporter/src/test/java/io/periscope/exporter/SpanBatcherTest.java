package io.periscope.exporter;

import static io.periscope.exporter.TestSpans.numbered;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.exporter.otlp.OtlpSpanExporter;
import java.net.ConnectException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SpanBatcherTest {
  // Long enough that the timer never fires during a test: batches leave only when full or on close.
  private static final Duration NEVER = Duration.ofHours(1);

  @Test
  void dropsAndCountsSpansWhenTheQueueIsFull() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter)
            .setMaxQueueSize(4)
            .setMaxBatchSize(1)
            .setScheduleDelay(NEVER)
            .build();
    assertThat(batcher.offer(numbered(0))).isTrue();
    // The worker now waits on the stalled collector, so the queue fills up behind it.
    exporter.awaitBatch();

    List<Boolean> offered = new ArrayList<>();
    for (int i = 1; i <= 6; i++) {
      offered.add(batcher.offer(numbered(i)));
    }

    assertThat(offered).containsExactly(true, true, true, true, false, false);
    assertThat(batcher.stats()).isEqualTo(new ExportStats(5, 2, 0, 0, 0, Map.of()));

    exporter.open();
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(5, 2, 5, 0, 0, Map.of()));
  }

  /** A child is offered before its parent: past seven eighths, the last eighth is the parents'. */
  @Test
  void keepsTheLastEighthOfTheQueueForParents() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter).setMaxQueueSize(16).setMaxBatchSize(1).setScheduleDelay(NEVER).build();
    assertThat(batcher.offer(numbered(0))).isTrue();
    exporter.awaitBatch(); // stalled: the queue fills behind it

    for (int i = 1; i <= 14; i++) {
      assertThat(batcher.offer(numbered(i))).as("span %d", i).isTrue();
    }
    assertThat(batcher.offer(numbered(15))).as("an ordinary span past 14 of 16").isFalse();
    assertThat(batcher.offerParent(numbered(16))).isTrue();
    assertThat(batcher.offerParent(numbered(17))).isTrue();
    assertThat(batcher.offerParent(numbered(18))).as("a parent when the queue is full").isFalse();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(17, 2, 0, 0, 0, Map.of()));

    exporter.open();
    batcher.close();
    assertThat(batcher.stats().spansExported()).isEqualTo(17);
  }

  @Test
  void aSecondExportGoesOutWhileTheFirstWaitsForItsAnswer() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter)
            .setMaxQueueSize(10)
            .setMaxBatchSize(2)
            .setScheduleDelay(NEVER)
            .setMaxConcurrentExports(2)
            .build();
    IntStream.range(0, 6).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    // Two batches are handed over although the collector answered neither: both are in flight.
    exporter.awaitBatch();
    exporter.awaitBatch();
    assertThat(exporter.allBatches()).hasSize(2);
    assertThat(batcher.stats().spansExported()).isZero();

    exporter.open();
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(6, 0, 6, 0, 0, Map.of()));
    assertThat(exporter.allBatches()).flatExtracting(b -> b).hasSize(6).doesNotHaveDuplicates();
    assertThat(exporter.shutdowns()).isEqualTo(1);
  }

  @Test
  void oneExportAtATimeByDefault() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter).setMaxQueueSize(10).setMaxBatchSize(2).setScheduleDelay(NEVER).build();
    IntStream.range(0, 4).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    exporter.awaitBatch();
    assertThat(exporter.allBatches()).as("the second batch waits for the first answer").hasSize(1);

    exporter.open();
    batcher.close();
    assertThat(batcher.stats().spansExported()).isEqualTo(4);
  }

  @Test
  void exportsFullBatchesWithoutWaitingForTheTimer() throws Exception {
    RecordingExporter exporter = RecordingExporter.succeeding();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter)
            .setMaxQueueSize(100)
            .setMaxBatchSize(3)
            .setScheduleDelay(NEVER)
            .build();
    List<SpanData> spans = IntStream.range(0, 11).mapToObj(TestSpans::numbered).toList();
    spans.forEach(batcher::offer);

    assertThat(exporter.awaitBatch()).containsExactlyElementsOf(spans.subList(0, 3));
    assertThat(exporter.awaitBatch()).containsExactlyElementsOf(spans.subList(3, 6));
    assertThat(exporter.awaitBatch()).containsExactlyElementsOf(spans.subList(6, 9));

    batcher.close();
    assertThat(exporter.awaitBatch()).containsExactlyElementsOf(spans.subList(9, 11));
    assertThat(batcher.stats()).isEqualTo(new ExportStats(11, 0, 11, 0, 0, Map.of()));
  }

  @Test
  void closeFlushesEverythingQueuedThenShutsTheExporterDownOnce() {
    RecordingExporter exporter = RecordingExporter.succeeding();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter).setMaxBatchSize(4).setScheduleDelay(NEVER).build();
    List<SpanData> spans = IntStream.range(0, 10).mapToObj(TestSpans::numbered).toList();
    spans.forEach(batcher::offer);

    batcher.close();
    batcher.close();

    assertThat(exporter.allBatches()).allSatisfy(batch -> assertThat(batch).hasSizeLessThan(5));
    assertThat(exporter.allBatches().stream().flatMap(List::stream))
        .containsExactlyElementsOf(spans);
    assertThat(exporter.shutdowns()).isEqualTo(1);
    assertThat(batcher.stats()).isEqualTo(new ExportStats(10, 0, 10, 0, 0, Map.of()));
  }

  @Test
  void spansOfferedAfterCloseAreDroppedAndCounted() {
    RecordingExporter exporter = RecordingExporter.succeeding();
    SpanBatcher batcher = SpanBatcher.builder(exporter).build();
    batcher.close();

    assertThat(batcher.offer(numbered(0))).isFalse();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(0, 1, 0, 0, 0, Map.of()));
    assertThat(exporter.allBatches()).isEmpty();
  }

  @Test
  void countsFailedExports() {
    RecordingExporter exporter = RecordingExporter.failing();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter).setMaxBatchSize(2).setScheduleDelay(NEVER).build();
    IntStream.range(0, 5).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    batcher.close();

    assertThat(batcher.stats()).isEqualTo(new ExportStats(5, 0, 0, 3, 5, Map.of(FailureReason.OTHER, 5L)));
    assertThat(exporter.shutdowns()).isEqualTo(1);
  }

  @Test
  void countsAnExporterThatThrowsAsAFailureAndKeepsGoing() {
    List<Integer> sizes = new ArrayList<>();
    SpanExporter throwsOnce =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans) {
            sizes.add(spans.size());
            if (sizes.size() == 1) {
              throw new IllegalStateException("collector client broke");
            }
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    SpanBatcher batcher =
        SpanBatcher.builder(throwsOnce).setMaxBatchSize(2).setScheduleDelay(NEVER).build();
    IntStream.range(0, 4).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    batcher.close();

    assertThat(batcher.stats()).isEqualTo(new ExportStats(4, 0, 2, 1, 2, Map.of(FailureReason.OTHER, 2L)));
  }

  @Test
  void countsAnExportThatNeverCompletesAsFailedAfterTheTimeout() throws Exception {
    RecordingExporter exporter = RecordingExporter.gated(); // never opened
    SpanBatcher batcher =
        SpanBatcher.builder(exporter)
            .setMaxBatchSize(1)
            .setScheduleDelay(NEVER)
            .setExportTimeout(Duration.ofMillis(50))
            .build();
    batcher.offer(numbered(0));
    exporter.awaitBatch();

    batcher.close();

    assertThat(batcher.stats()).isEqualTo(new ExportStats(1, 0, 0, 1, 1, Map.of(FailureReason.TIMEOUT, 1L)));
    assertThat(exporter.shutdowns()).isEqualTo(1);
  }

  @Test
  void aFailedExportIsCountedUnderTheReasonItsThrowableGives() {
    SpanExporter refused =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans) {
            return CompletableResultCode.ofExceptionalFailure(new ConnectException("Connection refused"));
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    SpanBatcher batcher = SpanBatcher.builder(refused).setMaxBatchSize(2).setScheduleDelay(NEVER).build();
    IntStream.range(0, 3).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    batcher.close();

    assertThat(batcher.stats()).isEqualTo(new ExportStats(3, 0, 0, 2, 3, Map.of(FailureReason.UNREACHABLE, 3L)));
  }

  /** OTLP "Partial Success": the request succeeded, the spans the collector rejected are lost. */
  @Test
  void spansTheCollectorRejectedFromATakenRequestAreFailedNotExported() {
    List<Long> rejections = new ArrayList<>(List.of(3L, 0L, 99L));
    OtlpSpanExporter partly =
        new OtlpSpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans, LongConsumer rejectedSpans) {
            long rejected = rejections.removeFirst();
            if (rejected > 0) {
              rejectedSpans.accept(rejected);
            }
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    SpanBatcher batcher = SpanBatcher.builder(partly).setMaxBatchSize(5).setScheduleDelay(NEVER).build();
    // 3 of the first batch rejected, none of the second; the third's collector claims 99 of 5.
    IntStream.range(0, 15).mapToObj(TestSpans::numbered).forEach(batcher::offer);

    batcher.close();

    assertThat(batcher.stats())
        .as("a partial success is no failed export; more rejected than sent is the whole batch")
        .isEqualTo(new ExportStats(15, 0, 7, 0, 8, Map.of(FailureReason.PARTIALLY_REJECTED, 8L)));
  }

  /** close() flushes within the export timeout: an export of that flush that does not finish is lost to the shutdown. */
  @Test
  void aFlushExportCutOffByCloseIsCountedAsShutdown() {
    RecordingExporter exporter = RecordingExporter.gated(); // never opened
    SpanBatcher batcher =
        SpanBatcher.builder(exporter)
            .setMaxBatchSize(2)
            .setScheduleDelay(NEVER)
            .setExportTimeout(Duration.ofMillis(300))
            .build();
    batcher.offer(numbered(0)); // half a batch: it waits for close()

    batcher.close();

    assertThat(exporter.allBatches()).hasSize(1);
    assertThat(batcher.stats()).isEqualTo(new ExportStats(1, 0, 0, 1, 1, Map.of(FailureReason.SHUTDOWN, 1L)));
  }

  /**
   * An export that close() interrupts (ours in its back-off sleep), and the spans still queued
   * behind it, are lost to the shutdown.
   */
  @Test
  void anInterruptedExportAndTheSpansQueuedBehindItAreCountedAsShutdown() throws Exception {
    CountDownLatch exporting = new CountDownLatch(1);
    SpanExporter sleeping =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans) {
            exporting.countDown();
            try {
              Thread.sleep(Duration.ofHours(1));
              return CompletableResultCode.ofSuccess();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt(); // as OtlpHttpExporter does
              return CompletableResultCode.ofExceptionalFailure(e);
            }
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    SpanBatcher batcher =
        SpanBatcher.builder(sleeping)
            .setMaxBatchSize(1)
            .setScheduleDelay(NEVER)
            .setExportTimeout(Duration.ofMillis(100))
            .build();
    IntStream.range(0, 3).mapToObj(TestSpans::numbered).forEach(batcher::offer);
    assertThat(exporting.await(10, TimeUnit.SECONDS)).isTrue();

    batcher.close();

    assertThat(batcher.stats()).isEqualTo(new ExportStats(3, 0, 0, 1, 3, Map.of(FailureReason.SHUTDOWN, 3L)));
  }

  @Test
  void spansFailedByReasonMustAddUpToSpansFailed() {
    assertThatThrownBy(() -> new ExportStats(1, 0, 0, 1, 2, Map.of(FailureReason.TIMEOUT, 1L)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("spans failed by reason {TIMEOUT=1} add up to 1, not 2");
    assertThat(new ExportStats(1, 0, 0, 1, 1, Map.of(FailureReason.TIMEOUT, 1L, FailureReason.OTHER, 0L)))
        .as("reasons without spans are left out")
        .isEqualTo(new ExportStats(1, 0, 0, 1, 1, Map.of(FailureReason.TIMEOUT, 1L)))
        .returns(0L, stats -> stats.spansFailed(FailureReason.OTHER));
  }

  @Test
  void builderRejectsNonPositiveSettings() {
    SpanBatcherBuilder builder = SpanBatcher.builder(RecordingExporter.succeeding());

    assertThatThrownBy(() -> builder.setMaxQueueSize(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxQueueSize must be positive, got 0");
    assertThatThrownBy(() -> builder.setMaxBatchSize(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBatchSize must be positive, got -1");
    assertThatThrownBy(() -> builder.setScheduleDelay(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("scheduleDelay must be positive");
    assertThatThrownBy(() -> builder.setExportTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("exportTimeout must be positive");
    assertThatThrownBy(() -> SpanBatcher.builder(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void builderRejectsABatchLargerThanTheQueue() {
    SpanBatcherBuilder builder =
        SpanBatcher.builder(RecordingExporter.succeeding()).setMaxQueueSize(10).setMaxBatchSize(11);

    assertThatThrownBy(builder::build)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBatchSize (11) must not exceed maxQueueSize (10)");
  }

  @Test
  void exportsOnADaemonThreadNamedPeriscopeExport() throws Exception {
    RecordingExporter exporter = RecordingExporter.succeeding();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter).setMaxBatchSize(1).setScheduleDelay(NEVER).build()) {
      batcher.offer(numbered(0));
      exporter.awaitBatch();
    }

    assertThat(exporter.exportThread()).isNotNull();
    assertThat(exporter.exportThread().getName()).isEqualTo("periscope-export");
    assertThat(exporter.exportThread().isDaemon()).isTrue();
  }
}
