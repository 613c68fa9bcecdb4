package io.periscope.exporter;

import static io.periscope.exporter.TestSpans.millis;
import static io.periscope.exporter.TestSpans.service;
import static io.periscope.exporter.TestSpans.span;
import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.util.List;
import org.junit.jupiter.api.Test;

class TraceWaterfallTest {
  private static final AttributeKey<Long> HTTP_STATUS =
      AttributeKey.longKey("http.response.status_code");

  @Test
  void rendersAnIndentedWaterfallOfServerClientServerAndSibling() {
    SpanData root =
        span("000000000000000a", null)
            .setResource(service("frontend"))
            .setName("GET /checkout")
            .setKind(SpanKind.SERVER)
            .setAttributes(Attributes.of(HTTP_STATUS, 200L))
            .setStartEpochNanos(millis(0))
            .setEndEpochNanos(millis(120))
            .build();
    SpanData child =
        span("000000000000000b", "000000000000000a")
            .setResource(service("frontend"))
            .setName("GET /cart")
            .setKind(SpanKind.CLIENT)
            .setAttributes(Attributes.of(HTTP_STATUS, 200L))
            .setStartEpochNanos(millis(10))
            .setEndEpochNanos(millis(60))
            .build();
    SpanData grandchild =
        span("000000000000000c", "000000000000000b")
            .setResource(service("cart"))
            .setName("GET /cart")
            .setKind(SpanKind.SERVER)
            .setAttributes(Attributes.of(HTTP_STATUS, 200L))
            .setStartEpochNanos(millis(15))
            .setEndEpochNanos(millis(55))
            .build();
    SpanData sibling =
        span("000000000000000d", "000000000000000a")
            .setResource(service("frontend"))
            .setName("POST /pay")
            .setKind(SpanKind.CLIENT)
            .setAttributes(Attributes.of(HTTP_STATUS, 500L))
            .setStatus(StatusData.error())
            .setStartEpochNanos(millis(60))
            .setEndEpochNanos(millis(120))
            .build();

    String text = TraceWaterfall.render(List.of(sibling, grandchild, root, child), "");

    assertThat(text)
        .isEqualTo(
            """
            trace 0af7651916cd43dd8448eb211c80319c  4 spans  120.00 ms
              frontend GET /checkout  server    200        120.00 ms  |########################################|
                frontend GET /cart    client    200         50.00 ms  |   #################                    |
                  cart GET /cart      server    200         40.00 ms  |     ##############                     |
                frontend POST /pay    client    500 ERROR   60.00 ms  |                    ####################|
            """);
  }

  @Test
  void ordersChildrenByStartTime() {
    SpanData parent =
        span("0000000000000001", null)
            .setStartEpochNanos(millis(0))
            .setEndEpochNanos(millis(100))
            .build();
    SpanData late = child("0000000000000003", "late", 50);
    SpanData early = child("0000000000000004", "early", 10);
    SpanData middle = child("0000000000000002", "middle", 30);

    String text = TraceWaterfall.render(List.of(late, parent, early, middle), "");

    assertThat(text.lines().skip(2).map(line -> line.strip().split(" ")[1]))
        .containsExactly("early", "middle", "late");
  }

  @Test
  void showsASpanWhoseParentIsMissingAsARootWithANote() {
    SpanData orphan =
        span("0000000000000001", "00000000000000ff")
            .setResource(service("cart"))
            .setName("GET /cart")
            .build();
    SpanData orphansChild =
        span("0000000000000002", "0000000000000001")
            .setResource(service("db"))
            .setName("query")
            .build();
    SpanData trueRoot =
        span("0000000000000003", null).setResource(service("web")).setName("GET /").build();

    List<String> lines =
        TraceWaterfall.render(List.of(orphansChild, orphan, trueRoot), "").lines().toList();

    assertThat(lines.get(1))
        .startsWith("  cart GET /cart")
        .endsWith("|  (parent 00000000000000ff not seen)");
    assertThat(lines.get(2)).startsWith("    db query").endsWith("|");
    assertThat(lines.get(3)).startsWith("  web GET /").endsWith("|");
  }

  @Test
  void stillPrintsSpansWhoseParentsFormACycle() {
    SpanData first = span("0000000000000001", "0000000000000002").setName("first").build();
    SpanData second = span("0000000000000002", "0000000000000001").setName("second").build();

    List<String> lines = TraceWaterfall.render(List.of(first, second), "").lines().toList();

    assertThat(lines).hasSize(3);
    assertThat(lines.get(1)).contains("first").endsWith("(parent 0000000000000002 in a cycle)");
    assertThat(lines.get(2)).startsWith("    ? second");
  }

  @Test
  void namesTheServiceFromTheResourceWithFallbacks() {
    Resource executableOnly =
        Resource.create(Attributes.of(AttributeKey.stringKey("process.executable.name"), "nginx"));
    Resource sdkPlaceholder =
        Resource.create(
            Attributes.of(
                AttributeKey.stringKey("service.name"), "unknown_service:java",
                AttributeKey.stringKey("process.executable.name"), "java"));

    assertThat(firstSpanLine(span("0000000000000001", null).setResource(executableOnly).build()))
        .startsWith("  nginx span");
    assertThat(firstSpanLine(span("0000000000000001", null).setResource(sdkPlaceholder).build()))
        .startsWith("  java span");
    assertThat(firstSpanLine(span("0000000000000001", null).setResource(Resource.empty()).build()))
        .startsWith("  ? span");
  }

  @Test
  void showsSpanStatusWhenThereIsNoHttpStatusCode() {
    assertThat(firstSpanLine(span("0000000000000001", null).setStatus(StatusData.ok()).build()))
        .contains("internal  OK  ");
    assertThat(firstSpanLine(span("0000000000000001", null).setStatus(StatusData.error()).build()))
        .contains("internal  ERROR  ");
    assertThat(firstSpanLine(span("0000000000000001", null).build())).contains("internal  -  ");
  }

  @Test
  void showsTheGrpcStatusOfACall() {
    AttributeKey<Long> grpc = AttributeKey.longKey("rpc.grpc.status_code");
    assertThat(firstSpanLine(span("0000000000000001", null)
        .setAttributes(io.opentelemetry.api.common.Attributes.of(grpc, 0L)).build()))
        .contains("internal  grpc 0  ");
    assertThat(firstSpanLine(span("0000000000000001", null).setStatus(StatusData.error())
        .setAttributes(io.opentelemetry.api.common.Attributes.of(grpc, 5L)).build()))
        .contains("internal  grpc 5 ERROR  ");
  }

  @Test
  void givesEvenAnInstantSpanOneBarColumn() {
    SpanData instant =
        span("0000000000000001", null)
            .setStartEpochNanos(millis(5))
            .setEndEpochNanos(millis(5))
            .build();

    assertThat(TraceWaterfall.render(List.of(instant), ""))
        .startsWith("trace 0af7651916cd43dd8448eb211c80319c  1 span  0.00 ms\n")
        .contains("|#" + " ".repeat(TraceWaterfall.BAR_WIDTH - 1) + "|");
  }

  @Test
  void cutsLongNamesSoBarsStayAligned() {
    SpanData longName = span("0000000000000001", null).setName("GET /" + "x".repeat(200)).build();

    String line = firstSpanLine(longName);

    assertThat(line).contains("xxx...  internal");
    assertThat(line.length()).isLessThan(140);
  }

  @Test
  void appendsTheHeaderNote() {
    assertThat(TraceWaterfall.render(List.of(span("0000000000000001", null).build()), "(partial)"))
        .startsWith("trace 0af7651916cd43dd8448eb211c80319c  1 span  1.00 ms  (partial)\n");
  }

  private static SpanData child(String spanId, String name, double startMillis) {
    return span(spanId, "0000000000000001")
        .setName(name)
        .setStartEpochNanos(millis(startMillis))
        .setEndEpochNanos(millis(startMillis + 5))
        .build();
  }

  private static String firstSpanLine(SpanData span) {
    return TraceWaterfall.render(List.of(span), "").lines().skip(1).findFirst().orElseThrow();
  }
}
