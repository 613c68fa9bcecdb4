package io.periscope.exporter;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Records every batch it is given and answers with a result chosen by the test: success, failure,
 * or (gated) pending until the test opens the gate, which is how a stalled collector looks.
 */
final class RecordingExporter implements SpanExporter {
  private final Supplier<CompletableResultCode> results;
  private final CompletableResultCode gate = new CompletableResultCode();
  private final BlockingQueue<List<SpanData>> batches = new LinkedBlockingQueue<>();
  private final List<List<SpanData>> allBatches = new ArrayList<>();
  private final AtomicInteger shutdowns = new AtomicInteger();
  private volatile @Nullable Thread exportThread;

  private RecordingExporter(@Nullable Supplier<CompletableResultCode> results) {
    this.results =
        results != null
            ? results
            : () -> {
              CompletableResultCode result = new CompletableResultCode();
              gate.whenComplete(result::succeed);
              return result;
            };
  }

  static RecordingExporter succeeding() {
    return new RecordingExporter(CompletableResultCode::ofSuccess);
  }

  static RecordingExporter failing() {
    return new RecordingExporter(CompletableResultCode::ofFailure);
  }

  /** Exports stay in flight until {@link #open()}; afterwards they succeed at once. */
  static RecordingExporter gated() {
    return new RecordingExporter(null);
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    exportThread = Thread.currentThread();
    synchronized (allBatches) {
      allBatches.add(List.copyOf(spans));
    }
    batches.add(List.copyOf(spans));
    return results.get();
  }

  @Override
  public CompletableResultCode flush() {
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    shutdowns.incrementAndGet();
    return CompletableResultCode.ofSuccess();
  }

  void open() {
    gate.succeed();
  }

  /** Waits for the next batch handed over by the export thread: no fixed sleep. */
  List<SpanData> awaitBatch() throws InterruptedException {
    List<SpanData> batch = batches.poll(10, TimeUnit.SECONDS);
    assertThat(batch).as("a batch within 10 s").isNotNull();
    return batch;
  }

  List<List<SpanData>> allBatches() {
    synchronized (allBatches) {
      return List.copyOf(allBatches);
    }
  }

  int shutdowns() {
    return shutdowns.get();
  }

  @Nullable Thread exportThread() {
    return exportThread;
  }
}
