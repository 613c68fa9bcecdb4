package io.periscope.exporter;

import static io.periscope.exporter.TestSpans.span;
import static io.periscope.exporter.TestSpans.spanId;
import static io.periscope.exporter.TestSpans.traceId;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.sdk.trace.data.SpanData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

class ConsoleTraceExporterTest {
  private final AtomicLong nanoTime = new AtomicLong(1_000_000_000L);
  private final ByteArrayOutputStream printed = new ByteArrayOutputStream();

  @Test
  void printsATraceOnceNoSpanOfItArrivedForTheQuietPeriod() {
    ConsoleTraceExporter exporter =
        exporter(builder -> builder.setQuietPeriod(Duration.ofSeconds(2)));

    exporter.export(List.of(span(traceId(1), spanId(1), null).build()));
    advance(Duration.ofMillis(1500));
    exporter.export(List.of(span(traceId(1), spanId(2), spanId(1)).build()));
    advance(Duration.ofMillis(1500));
    exporter.export(List.of(span(traceId(2), spanId(3), null).build()));
    advance(Duration.ofMillis(400));
    exporter.printQuietTraces();

    assertThat(headers()).as("the second span restarted trace 1's quiet period").isEmpty();

    advance(Duration.ofMillis(100));
    exporter.printQuietTraces();

    assertThat(headers()).containsExactly("trace " + traceId(1) + "  2 spans  1.00 ms");

    advance(Duration.ofMillis(1500));
    exporter.export(List.of()); // any export also prints the traces that went quiet

    assertThat(headers())
        .containsExactly(
            "trace " + traceId(1) + "  2 spans  1.00 ms",
            "trace " + traceId(2) + "  1 span  1.00 ms");
  }

  @Test
  void groupsSpansOfOneTraceArrivingInDifferentBatches() {
    ConsoleTraceExporter exporter = exporter(UnaryOperator.identity());

    exporter.export(
        List.of(
            span(traceId(1), spanId(1), null).build(), span(traceId(2), spanId(2), null).build()));
    exporter.export(List.of(span(traceId(1), spanId(3), spanId(1)).build()));
    exporter.flush();

    // flush() prints the least recently active trace first.
    assertThat(headers())
        .containsExactly(
            "trace " + traceId(2) + "  1 span  1.00 ms",
            "trace " + traceId(1) + "  2 spans  1.00 ms");
  }

  @Test
  void printsTheLeastRecentlyActiveTraceEarlyWhenTooManyAreOpen() {
    ConsoleTraceExporter exporter = exporter(builder -> builder.setMaxTraces(2));

    exporter.export(List.of(span(traceId(1), spanId(1), null).build()));
    exporter.export(List.of(span(traceId(2), spanId(2), null).build()));
    exporter.export(List.of(span(traceId(1), spanId(3), spanId(1)).build()));
    exporter.export(List.of(span(traceId(3), spanId(4), null).build()));

    assertThat(headers())
        .containsExactly(
            "trace " + traceId(2) + "  1 span  1.00 ms  (printed early: more than 2 open traces)");

    exporter.flush();

    assertThat(headers())
        .hasSize(3)
        .contains(
            "trace " + traceId(1) + "  2 spans  1.00 ms",
            "trace " + traceId(3) + "  1 span  1.00 ms");
  }

  @Test
  void printsATraceEarlyWhenItHoldsTooManySpans() {
    ConsoleTraceExporter exporter = exporter(builder -> builder.setMaxSpansPerTrace(3));

    exporter.export(
        List.of(
            span(spanId(1), null).build(),
            span(spanId(2), spanId(1)).build(),
            span(spanId(3), spanId(1)).build(),
            span(spanId(4), spanId(1)).build()));

    assertThat(headers())
        .containsExactly(
            "trace "
                + TestSpans.TRACE_ID
                + "  3 spans  1.00 ms  (printed early: 3 spans held, later ones print separately)");

    exporter.flush();

    assertThat(headers())
        .hasSize(2)
        .last()
        .isEqualTo("trace " + TestSpans.TRACE_ID + "  1 span  1.00 ms");
    assertThat(printed.toString(UTF_8)).contains("(parent " + spanId(1) + " not seen)");
  }

  @Test
  void shutdownPrintsWhatIsLeftAndRefusesLaterExports() {
    ConsoleTraceExporter exporter = exporter(UnaryOperator.identity());
    exporter.export(List.of(span(spanId(1), null).build()));

    assertThat(exporter.shutdown().isSuccess()).isTrue();
    assertThat(exporter.shutdown().isSuccess()).isTrue();

    assertThat(headers()).containsExactly("trace " + TestSpans.TRACE_ID + "  1 span  1.00 ms");
    assertThat(exporter.export(List.of(span(spanId(2), null).build())).isSuccess()).isFalse();
  }

  @Test
  void printsEachTraceWithOneWaterfallPerTrace() {
    ConsoleTraceExporter exporter = exporter(UnaryOperator.identity());
    SpanData root =
        span(spanId(1), null).setResource(TestSpans.service("web")).setName("GET /").build();
    SpanData child =
        span(spanId(2), spanId(1)).setResource(TestSpans.service("db")).setName("query").build();

    exporter.export(List.of(child, root));
    exporter.flush();

    assertThat(printed.toString(UTF_8)).isEqualTo(TraceWaterfall.render(List.of(root, child), ""));
  }

  @Test
  void builderRejectsNonPositiveLimits() {
    ConsoleTraceExporterBuilder builder = ConsoleTraceExporter.builder();

    assertThatThrownBy(() -> builder.setQuietPeriod(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("quietPeriod must be positive");
    assertThatThrownBy(() -> builder.setMaxTraces(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxTraces must be positive, got 0");
    assertThatThrownBy(() -> builder.setMaxSpansPerTrace(-5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxSpansPerTrace must be positive, got -5");
  }

  private ConsoleTraceExporter exporter(UnaryOperator<ConsoleTraceExporterBuilder> configure) {
    return configure
        .apply(
            ConsoleTraceExporter.builder()
                .setOutput(new PrintStream(printed, true, UTF_8))
                .setNanoTime(nanoTime::get)
                .setSweeperThread(false))
        .build();
  }

  private void advance(Duration duration) {
    nanoTime.addAndGet(duration.toNanos());
  }

  private List<String> headers() {
    return printed.toString(UTF_8).lines().filter(line -> line.startsWith("trace ")).toList();
  }
}
