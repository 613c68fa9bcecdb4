package io.periscope.exporter;

import static io.periscope.exporter.CollectorFault.GARBAGE;
import static io.periscope.exporter.CollectorFault.RESET;
import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.sdk.common.export.RetryPolicy;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.exporter.ExporterConfig.Protocol;
import io.periscope.exporter.ScriptedCollector.Arrival;
import io.periscope.exporter.otlp.HttpExporters;
import io.periscope.exporter.otlp.OtlpGrpcExporter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 19, "Faults — Collector": a real {@link SpanBatcher} and exporter against a collector the
 * test controls on a loopback port, through each way spans leave the agent: OTLP/HTTP by the plain
 * transport and by the JDK's client, and OTLP/gRPC by the SDK's exporter. Whatever the collector
 * does, every span offered ends up exported, dropped or failed, counted, and the queue stays
 * within its bound.
 *
 * <p>Times are scaled down so the suite runs in seconds: the export timeout is 1 s (the agent's is
 * 10 s), the first back-off 50 ms (1 s), the gRPC SDK's longest 250 ms (5 s); "down for 60 s"
 * becomes down while three batches fail, "answers after 20 s" answers after 2 s, twice the
 * timeout as 20 s is twice the agent's. Retry-After is in whole seconds, so the throttling tests
 * give the export 3 s. Counters are polled (the batcher has no callback to wait on); everything
 * else waits on the collector's own record of requests.
 */
@Timeout(60)
class CollectorFaultsTest {
  private static final Duration EXPORT_TIMEOUT = Duration.ofSeconds(1);
  private static final Duration THROTTLED_EXPORT_TIMEOUT = Duration.ofSeconds(3);
  private static final Duration INITIAL_BACKOFF = Duration.ofMillis(50);
  private static final Duration SLOW_ANSWER = EXPORT_TIMEOUT.multipliedBy(2);
  private static final int QUEUE = 64;
  private static final int BATCH = 8;
  /** Ordinary spans are refused past seven eighths of the queue (SpanBatcher's room for parents). */
  private static final int ORDINARY_ROOM = QUEUE - QUEUE / 8;

  /** The ways spans leave the agent, each with a collector of its protocol. */
  enum Wire {
    PLAIN_HTTP,
    JDK_HTTP,
    GRPC;

    ScriptedCollector collector() {
      return this == GRPC ? new ScriptedGrpcCollector() : new ScriptedHttpCollector();
    }

    SpanExporter exporter(ScriptedCollector collector, Duration timeout) {
      return switch (this) {
        case PLAIN_HTTP -> HttpExporters.plain(collector.endpoint(), timeout, INITIAL_BACKOFF);
        case JDK_HTTP -> HttpExporters.jdk(collector.endpoint(), timeout, INITIAL_BACKOFF);
        // As Exporters builds it, with the SDK's retry policy scaled down like ours.
        case GRPC ->
            OtlpGrpcExporter.build(
                Exporters.grpc(collector.endpoint(), new ExporterConfig(Protocol.GRPC, collector.endpoint(), Map.of(), timeout))
                    .setRetryPolicy(
                        RetryPolicy.builder()
                            .setInitialBackoff(INITIAL_BACKOFF)
                            .setMaxBackoff(Duration.ofMillis(250))
                            .build()));
      };
    }
  }

  private ScriptedCollector collector;
  private SpanBatcher batcher;
  private int offered;

  @AfterEach
  void stop() {
    if (batcher != null) {
      batcher.close();
    }
    if (collector != null) {
      collector.close();
    }
  }

  private void connect(Wire wire, Duration exportTimeout) {
    collector = wire.collector();
    batcher =
        SpanBatcher.builder(wire.exporter(collector, exportTimeout))
            .setMaxQueueSize(QUEUE)
            .setMaxBatchSize(BATCH)
            // Batches leave only when full (every test offers whole batches) or at close: a timer
            // firing while a test offers would split a batch and change the count of exports.
            .setScheduleDelay(Duration.ofHours(1))
            // As in the agent, the batcher waits for an export as long as the exporter tries.
            .setExportTimeout(exportTimeout)
            .build();
  }

  @ParameterizedTest
  @EnumSource(Wire.class)
  void exportResumesByItselfWhenTheCollectorComesUpLate(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);

    offer(BATCH); // refused: nothing listens yet
    awaitStats(stats -> stats.spansFailed() == BATCH, "the first batch failed");
    collector.start();
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the batch after start exported");

    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(16, 0, 8, 1, 8, Map.of(FailureReason.UNREACHABLE, 8L)));
    assertEverySpanAccountedFor();
  }

  @ParameterizedTest
  @EnumSource(Wire.class)
  void anOutageMidRunCostsOnlyTheBatchesSentDuringIt(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the batch before the outage exported");

    collector.stop(); // its connections cut, its port refusing
    offer(3 * BATCH);
    awaitStats(stats -> stats.spansFailed() == 3 * BATCH, "the three batches of the outage failed");
    collector.start();
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == 2 * BATCH, "the batch after the outage exported");

    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(40, 0, 16, 3, 24, Map.of(FailureReason.UNREACHABLE, 24L)));
    assertEverySpanAccountedFor();
  }

  @ParameterizedTest
  @EnumSource(Wire.class)
  void aSlowCollectorCostsOneTimeoutPerBatchWhileTheQueueStaysBounded(Wire wire) throws Exception {
    long threadsBefore = lastThreadId();
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.script(CollectorFault.slow(SLOW_ANSWER), CollectorFault.slow(SLOW_ANSWER));

    offer(BATCH);
    collector.awaitArrivals(1); // the export thread now waits for the slow answer
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
      accepted += offer(1);
      assertThat(batcher.queuedSpans()).isLessThanOrEqualTo(QUEUE);
    }
    assertThat(accepted).as("spans taken while the collector stalls").isEqualTo(ORDINARY_ROOM);
    assertThat(batcher.stats()).isEqualTo(new ExportStats(BATCH + ORDINARY_ROOM, 100 - ORDINARY_ROOM, 0, 0, 0, Map.of()));

    // Two slow batches time out, then the collector keeps up again and the rest leaves.
    awaitStats(stats -> stats.spansExported() == ORDINARY_ROOM - BATCH, "the queue exported after the slow answers");
    batcher.close();
    assertThat(batcher.stats())
        .isEqualTo(
            new ExportStats(
                BATCH + ORDINARY_ROOM, 100 - ORDINARY_ROOM, ORDINARY_ROOM - BATCH, 2, 2 * BATCH,
                Map.of(FailureReason.TIMEOUT, 2L * BATCH)));
    assertEverySpanAccountedFor();
    collector.stop();
    assertNoThreadOutlivesTheExporter(threadsBefore);
  }

  /**
   * The agent stops while the collector is slow: close() flushes for at most the export timeout,
   * and the spans that could not get out in that time are lost to the shutdown.
   */
  @ParameterizedTest
  @EnumSource(Wire.class)
  void spansTheFinalFlushCannotGetOutInTimeAreLostToTheShutdown(Wire wire) throws Exception {
    long threadsBefore = lastThreadId();
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.always(CollectorFault.slow(SLOW_ANSWER));

    offer(BATCH / 2); // half a batch: it leaves at close
    batcher.close();

    assertThat(collector.arrivals()).hasSize(1);
    assertThat(batcher.stats()).isEqualTo(new ExportStats(4, 0, 0, 1, 4, Map.of(FailureReason.SHUTDOWN, 4L)));
    assertEverySpanAccountedFor();
    collector.stop();
    assertNoThreadOutlivesTheExporter(threadsBefore);
  }

  static Stream<Arguments> throttling() {
    return Stream.of(Wire.PLAIN_HTTP, Wire.JDK_HTTP)
        .flatMap(wire -> Stream.of(Arguments.of(wire, 429, false), Arguments.of(wire, 503, true)));
  }

  /** OTLP/HTTP, "Throttling": 429 or 503 with Retry-After, in seconds or as an HTTP-date. */
  @ParameterizedTest(name = "{0}: HTTP {1}, as a date: {2}")
  @MethodSource("throttling")
  void aThrottledExportIsRetriedAfterTheWaitTheCollectorAsked(Wire wire, int status, boolean asDate) throws Exception {
    connect(wire, THROTTLED_EXPORT_TIMEOUT);
    collector.start();
    // A date has whole seconds: the next full second but one is between 1 and 2 s away.
    Instant retryAt = Instant.now().truncatedTo(ChronoUnit.SECONDS).plusSeconds(2);
    String retryAfter = asDate ? DateTimeFormatter.RFC_1123_DATE_TIME.format(retryAt.atOffset(ZoneOffset.UTC)) : "1";
    collector.script(status == 429 ? CollectorFault.tooManyRequests(retryAfter) : CollectorFault.unavailable(retryAfter));

    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the throttled batch exported");

    List<Arrival> arrivals = collector.arrivals();
    assertThat(arrivals).hasSize(2);
    if (asDate) {
      // Both clocks are this machine's: the retry comes at the date, give or take their drift.
      assertThat(arrivals.get(1).wallClock()).isAfterOrEqualTo(retryAt.minusMillis(10));
    } else {
      // The collector recorded the first request before it answered; the wait starts after.
      assertThat(Duration.ofNanos(arrivals.get(1).nanoTime() - arrivals.get(0).nanoTime()))
          .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    }
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 8, 0, 0, Map.of()));
    assertEverySpanAccountedFor();
  }

  @ParameterizedTest
  @EnumSource(names = {"PLAIN_HTTP", "JDK_HTTP"})
  void aThrottlingWaitPastTheExportTimeoutFailsTheBatchAtOnce(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.script(CollectorFault.tooManyRequests("30"));

    offer(BATCH);
    awaitStats(stats -> stats.spansFailed() == BATCH, "the throttled batch failed");

    assertThat(collector.arrivals()).hasSize(1);
    assertThat(Duration.ofNanos(batcher.exportLatency().sumNanos()))
        .as("given up without waiting")
        .isLessThan(EXPORT_TIMEOUT.dividedBy(2));
    batcher.close();
    // The collector throttled: the retry it asked for would not have fitted in the timeout.
    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 0, 1, 8, Map.of(FailureReason.RETRIES_EXHAUSTED, 8L)));
    assertEverySpanAccountedFor();
  }

  @ParameterizedTest
  @EnumSource(names = {"PLAIN_HTTP", "JDK_HTTP"})
  void anUnreadableRetryAfterFallsBackToTheBackoff(Wire wire) throws Exception {
    connect(wire, THROTTLED_EXPORT_TIMEOUT);
    collector.start();
    collector.script(CollectorFault.unavailable("soon"));

    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the batch exported after a back-off");

    List<Arrival> arrivals = collector.arrivals();
    assertThat(arrivals).hasSize(2);
    assertThat(Duration.ofNanos(arrivals.get(1).nanoTime() - arrivals.get(0).nanoTime()))
        .as("about the first back-off, 50 ms ±20%%")
        .isLessThan(Duration.ofSeconds(1));
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 8, 0, 0, Map.of()));
    assertEverySpanAccountedFor();
  }

  /**
   * OTLP/gRPC, "Throttling", asks clients to wait the RetryInfo's delay; the SDK (1.68.0) retries
   * RESOURCE_EXHAUSTED and UNAVAILABLE after its own back-off and does not read RetryInfo. This
   * pins what it does, so that an SDK that starts honouring it shows here (design-notes, "Export").
   */
  @ParameterizedTest
  @EnumSource(names = "GRPC")
  void theGrpcExporterRetriesButDoesNotWaitForRetryInfo(Wire wire) throws Exception {
    connect(wire, THROTTLED_EXPORT_TIMEOUT);
    collector.start();
    collector.script(CollectorFault.exhaustedWithRetryInfo(Duration.ofSeconds(2)));

    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the batch exported on a retry");

    List<Arrival> arrivals = collector.arrivals();
    assertThat(arrivals).hasSize(2);
    assertThat(Duration.ofNanos(arrivals.get(1).nanoTime() - arrivals.get(0).nanoTime()))
        .as("retried after the SDK's back-off, not the 2 s asked")
        .isLessThan(Duration.ofSeconds(1));
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 8, 0, 0, Map.of()));
    assertEverySpanAccountedFor();
  }

  /**
   * A 400 (gRPC INVALID_ARGUMENT) is final: not retried, the batch counted as failed and rejected,
   * the next one goes. The 400 carries a partial success that says 3 of the 8 spans were rejected:
   * it does not make the other 5 exported.
   */
  @ParameterizedTest
  @EnumSource(Wire.class)
  void aRejectedBatchIsNotRetriedAndTheNextOneGoes(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    // A partial success is for 2xx answers (OTLP/HTTP, "Partial Success"); in a 400 it is just a body.
    byte[] partialSuccess =
        ExportTraceServiceResponse.newBuilder()
            .setPartialSuccess(ExportTracePartialSuccess.newBuilder().setRejectedSpans(3).setErrorMessage("too old"))
            .build()
            .toByteArray();
    collector.script(CollectorFault.badRequest(partialSuccess));

    offer(BATCH);
    awaitStats(stats -> stats.spansFailed() == BATCH, "the rejected batch failed");
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the next batch exported");

    assertThat(collector.arrivals()).hasSize(2);
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(16, 0, 8, 1, 8, Map.of(FailureReason.REJECTED, 8L)));
    assertEverySpanAccountedFor();
  }

  /**
   * OTLP, "Partial Success": a collector that takes the request but rejects some of its spans
   * answers 200 (gRPC OK) with {@code partial_success}. The rest were exported; the rejected ones
   * are lost, counted as such and not as exported, and the request is not sent again.
   */
  @ParameterizedTest
  @EnumSource(Wire.class)
  void spansRejectedInAPartialSuccessAreCountedAsFailedNotExported(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.script(CollectorFault.partialSuccess(3, "spans too old"));

    offer(BATCH);
    awaitStats(stats -> stats.spansExported() + stats.spansFailed() == BATCH, "the batch answered");
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() + stats.spansFailed() == 2 * BATCH, "the next batch exported");

    assertThat(collector.arrivals()).hasSize(2);
    batcher.close();
    assertThat(batcher.stats())
        .isEqualTo(new ExportStats(16, 0, 13, 0, 3, Map.of(FailureReason.PARTIALLY_REJECTED, 3L)));
    assertEverySpanAccountedFor();
  }

  /** Faults worth another attempt, on each wire; GRPC with GARBAGE is not one (see its own test). */
  static Stream<Arguments> transientFaults() {
    List<CollectorFault> faults =
        List.of(GARBAGE, RESET, CollectorFault.unavailable(null), CollectorFault.tooManyRequests(null));
    return Stream.of(Wire.values())
        .flatMap(wire -> faults.stream().map(fault -> Arguments.of(wire, fault)))
        .filter(arguments -> !(arguments.get()[0] == Wire.GRPC && arguments.get()[1] == GARBAGE));
  }

  /**
   * The SDK retries a gRPC status it calls retryable and an IOException of the socket family
   * (refused, reset, timed out); bytes that are not HTTP/2 fail the connection with a protocol
   * error, which is neither, so the batch fails at the first attempt. Counted all the same, as a
   * malformed response: OkHttp names the HTTP/2 error (here FRAME_SIZE_ERROR) in its exception.
   */
  @ParameterizedTest
  @EnumSource(names = "GRPC")
  void garbageFromAGrpcCollectorFailsTheBatchWithoutARetry(Wire wire) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.script(GARBAGE);

    offer(BATCH);
    awaitStats(stats -> stats.spansFailed() == BATCH, "the batch failed");
    offer(BATCH);
    awaitStats(stats -> stats.spansExported() == BATCH, "the next batch exported on a new connection");

    assertThat(collector.arrivals()).hasSize(2);
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(16, 0, 8, 1, 8, Map.of(FailureReason.MALFORMED_RESPONSE, 8L)));
    assertEverySpanAccountedFor();
  }

  /** Two bad answers, then a good one: the batch gets through on its third attempt. */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("transientFaults")
  void aFaultThatPassesIsRetriedUntilTheBatchGetsThrough(Wire wire, CollectorFault fault) throws Exception {
    connect(wire, EXPORT_TIMEOUT);
    collector.start();
    collector.script(fault, fault);

    offer(BATCH);
    awaitStats(stats -> stats.spansExported() + stats.spansFailed() == BATCH, "the batch exported or failed");

    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 8, 0, 0, Map.of()));
    assertThat(collector.arrivals()).hasSize(3);
    batcher.close();
    assertEverySpanAccountedFor();
  }

  /** A fault that lasts: five attempts within the timeout, then the batch is counted as failed. */
  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("transientFaults")
  void aFaultThatLastsFailsTheBatchAfterFiveAttempts(Wire wire, CollectorFault fault) throws Exception {
    // Five attempts and four back-offs of 50 ms ×1.5 take about 0.4 s: 3 s keeps a loaded machine out of it.
    connect(wire, THROTTLED_EXPORT_TIMEOUT);
    collector.start();
    collector.always(fault);

    offer(BATCH);
    awaitStats(stats -> stats.spansFailed() == BATCH, "the batch failed");

    assertThat(collector.arrivals()).hasSize(5);
    batcher.close();
    assertThat(batcher.stats()).isEqualTo(new ExportStats(8, 0, 0, 1, 8, Map.of(lastingReason(fault), 8L)));
    assertEverySpanAccountedFor();
  }

  /** What a batch is lost to when {@code fault}, one of {@link #transientFaults()}, lasts. */
  private static FailureReason lastingReason(CollectorFault fault) {
    return switch (fault) {
      case CollectorFault.Garbage garbage -> FailureReason.MALFORMED_RESPONSE;
      case CollectorFault.Reset reset -> FailureReason.UNREACHABLE;
      case CollectorFault.Refusal refusal -> FailureReason.RETRIES_EXHAUSTED; // 503 and 429; UNAVAILABLE and RESOURCE_EXHAUSTED
      default -> throw new IllegalArgumentException("not a transient fault: " + fault);
    };
  }

  /** Offers {@code count} new spans; returns how many the batcher took. */
  private int offer(int count) {
    int taken = 0;
    for (int i = 0; i < count; i++) {
      if (batcher.offer(TestSpans.numbered(offered++))) {
        taken++;
      }
    }
    return taken;
  }

  /**
   * Every span offered was exported, dropped or failed, and what was exported reached the collector.
   * A span counted as failed may have reached it too: the collector can take a request and be cut
   * before its answer arrives (at-least-once delivery, as OTLP allows).
   */
  private void assertEverySpanAccountedFor() {
    ExportStats stats = batcher.stats();
    assertThat(stats.spansAccepted() + stats.spansDropped()).as("accepted + dropped").isEqualTo(offered);
    assertThat(stats.spansExported() + stats.spansFailed()).as("exported + failed").isEqualTo(stats.spansAccepted());
    assertThat(batcher.queuedSpans()).isZero();
    assertThat(collector.spansTaken()).as("distinct spans the collector took")
        .isBetween(stats.spansExported(), stats.spansExported() + stats.spansFailed());
  }

  private ExportStats awaitStats(Predicate<ExportStats> condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      ExportStats stats = batcher.stats();
      if (condition.test(stats)) {
        return stats;
      }
      assertThat(System.nanoTime() - deadline).as("%s within 10 s; stats: %s", what, stats).isNegative();
      Thread.sleep(5);
    }
  }

  private static long lastThreadId() {
    return Thread.getAllStackTraces().keySet().stream().mapToLong(Thread::threadId).max().orElse(0);
  }

  /**
   * Every thread started since {@code lastThreadId} ends once the batcher closed its exporter and
   * the collector is gone: timed-out exports left nothing behind. The test's collectors' threads
   * are not the agent's; OkHttp's TaskRunner and Okio's watchdog are shared by the whole process
   * (started once, idle ones end after a minute), not per export.
   */
  private static void assertNoThreadOutlivesTheExporter(long lastThreadId) throws InterruptedException {
    List<Thread> started =
        Thread.getAllStackTraces().keySet().stream()
            .filter(thread -> thread.threadId() > lastThreadId)
            .filter(thread -> !thread.getName().startsWith("test-collector") && !thread.getName().startsWith("fake-grpc"))
            .filter(thread -> !thread.getName().equals("OkHttp TaskRunner") && !thread.getName().equals("Okio Watchdog"))
            .toList();
    for (Thread thread : started) {
      thread.join(Duration.ofSeconds(5));
    }
    assertThat(started).filteredOn(Thread::isAlive).as("threads still alive after close").isEmpty();
  }
}
