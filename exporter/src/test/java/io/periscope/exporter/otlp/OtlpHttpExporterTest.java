package io.periscope.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.testing.trace.TestSpanData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The exporter against a real HTTP server playing a collector that answers as told, through each
 * transport (PlainHttpExporterTest, JdkHttpExporterTest).
 */
abstract class OtlpHttpExporterTest {
  private static final SpanData SPAN =
      TestSpanData.builder()
          .setSpanContext(
              SpanContext.create(
                  "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", TraceFlags.getSampled(), TraceState.getDefault()))
          .setName("GET /cart")
          .setKind(SpanKind.SERVER)
          .setStatus(StatusData.unset())
          .setStartEpochNanos(1)
          .setEndEpochNanos(2)
          .setHasEnded(true)
          .build();

  private final BlockingQueue<byte[]> bodies = new LinkedBlockingQueue<>();
  private final BlockingQueue<Answer> answers = new LinkedBlockingQueue<>();
  private final CountDownLatch never = new CountDownLatch(1);
  private HttpServer server;
  private OtlpHttpExporter exporter;

  private record Answer(int status, byte[] body) {}

  private URI startCollector() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    server.createContext(
        "/",
        exchange -> {
          bodies.add(exchange.getRequestBody().readAllBytes());
          Answer answer = answers.poll();
          if (answer == null) {
            try {
              never.await(); // a collector that never answers
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return;
          }
          exchange.sendResponseHeaders(answer.status(), answer.body().length == 0 ? -1 : answer.body().length);
          exchange.getResponseBody().write(answer.body());
          exchange.close();
        });
    server.start();
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/v1/traces");
  }

  /** The transport under test, to {@code url}. */
  abstract Transport transport(URI url, Duration timeout);

  private OtlpHttpExporter exporter(URI url, Duration timeout, Duration initialBackoff) {
    return new OtlpHttpExporter(transport(url, timeout), timeout, initialBackoff);
  }

  @AfterEach
  void stop() {
    never.countDown();
    if (exporter != null) {
      exporter.shutdown();
    }
    if (server != null) {
      server.stop(0);
    }
  }

  @Test
  void aRetryableAnswerIsTriedAgainAndTheSameRequestSent() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    answers.add(new Answer(503, new byte[0]));
    answers.add(new Answer(429, new byte[0]));
    answers.add(new Answer(200, new byte[0]));

    CompletableResultCode result = exporter.export(List.of(SPAN));

    assertThat(result.isSuccess()).isTrue();
    List<byte[]> sent = new ArrayList<>();
    bodies.drainTo(sent);
    assertThat(sent).hasSize(3);
    assertThat(sent.get(2)).isEqualTo(sent.get(0));
    assertThat(ExportTraceServiceRequest.parseFrom(sent.get(0)).getResourceSpans(0).getScopeSpans(0).getSpans(0).getName())
        .isEqualTo("GET /cart");
  }

  @Test
  void aRejectedRequestFailsAtOnceAndSaysWhatTheCollectorSaid() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    answers.add(new Answer(400, "bad\nrequest: field 9".getBytes()));

    CompletableResultCode result = exporter.export(List.of(SPAN));

    assertThat(result.isSuccess()).isFalse();
    assertThat(result.getFailureThrowable()).hasMessage("collector answered HTTP 400: bad request: field 9");
    assertThat(bodies).hasSize(1);
    assertThat(result.getFailureThrowable())
        .isInstanceOfSatisfying(HttpStatusException.class, e -> assertThat(e.status()).isEqualTo(400))
        .returns(false, e -> ((HttpStatusException) e).retryable());
  }

  @Test
  void retriesGiveUpAfterFiveAttempts() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(30), Duration.ofMillis(1));
    for (int i = 0; i < 10; i++) {
      answers.add(new Answer(502, new byte[0]));
    }

    CompletableResultCode result = exporter.export(List.of(SPAN));

    assertThat(result.isSuccess()).isFalse();
    assertThat(bodies).hasSize(OtlpHttpExporter.MAX_ATTEMPTS);
    assertThat(result.getFailureThrowable())
        .as("the last attempt's answer")
        .isInstanceOfSatisfying(HttpStatusException.class, e -> assertThat(e.status()).isEqualTo(502))
        .returns(true, e -> ((HttpStatusException) e).retryable());
  }

  @Test
  void aCollectorThatIsDownCostsNoMoreThanTheTimeout() throws Exception {
    int closedPort;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = socket.getLocalPort();
    }
    exporter =
        exporter(URI.create("http://127.0.0.1:" + closedPort + "/v1/traces"), Duration.ofMillis(500), Duration.ofMillis(100));

    long started = System.nanoTime();
    CompletableResultCode result = exporter.export(List.of(SPAN));

    assertThat(result.isSuccess()).isFalse();
    assertThat(result.getFailureThrowable()).isInstanceOf(java.net.ConnectException.class);
    assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(2));
  }

  @Test
  void aCollectorThatNeverAnswersFailsTheExportAtTheTimeout() throws Exception {
    exporter = exporter(startCollector(), Duration.ofMillis(300), Duration.ofMillis(10));

    CompletableResultCode result = exporter.export(List.of(SPAN));

    assertThat(result.isSuccess()).isFalse();
    assertThat(result.getFailureThrowable()).isInstanceOf(Transport.Timeout.class);
    assertThat(bodies).hasSize(1);
    assertThat(result.getFailureThrowable()).as("a timeout, as the JDK's client says it").isInstanceOf(HttpTimeoutException.class);
  }

  @Test
  void spansTheCollectorRejectedAreLogged() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    byte[] partial =
        ExportTraceServiceResponse.newBuilder()
            .setPartialSuccess(
                ExportTracePartialSuccess.newBuilder().setRejectedSpans(3).setErrorMessage("span too old"))
            .build()
            .toByteArray();
    answers.add(new Answer(200, partial));
    List<LogRecord> logged = new ArrayList<>();
    Logger logger = Logger.getLogger(OtlpHttpExporter.class.getName());
    Handler handler =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            logged.add(record);
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    logger.addHandler(handler);
    try {
      assertThat(exporter.export(List.of(SPAN)).isSuccess()).isTrue();
    } finally {
      logger.removeHandler(handler);
    }

    assertThat(logged).extracting(LogRecord::getMessage).containsExactly("the collector rejected 3 spans: span too old");
  }

  /** OTLP, "Partial Success": still a success, and the caller learns how many spans were lost. */
  @Test
  void spansTheCollectorRejectedAreReportedToTheCaller() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    answers.add(new Answer(200, partialSuccess(3, "span too old")));
    answers.add(new Answer(200, partialSuccess(0, "use gzip next time"))); // a warning, nothing rejected
    answers.add(new Answer(200, new byte[0]));
    List<Long> rejected = new ArrayList<>();

    for (int i = 0; i < 3; i++) {
      assertThat(exporter.export(List.of(SPAN), rejected::add).isSuccess()).isTrue();
    }

    assertThat(rejected).containsExactly(3L);
  }

  /**
   * A partial success belongs in a 200 (OTLP/HTTP, "Partial Success"); a 400 fails the whole
   * request, whatever its body says (OTLP/HTTP, "Failures": there it is a google.rpc.Status).
   */
  @Test
  void aPartialSuccessInAnErrorAnswerRejectsNoSpansApart() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    answers.add(new Answer(400, partialSuccess(3, "span too old")));
    List<Long> rejected = new ArrayList<>();

    CompletableResultCode result = exporter.export(List.of(SPAN), rejected::add);

    assertThat(result.isSuccess()).isFalse();
    assertThat(result.getFailureThrowable())
        .isInstanceOfSatisfying(HttpStatusException.class, e -> assertThat(e.status()).isEqualTo(400));
    assertThat(rejected).isEmpty();
    assertThat(bodies).hasSize(1);
  }

  private static byte[] partialSuccess(long rejectedSpans, String message) {
    return ExportTraceServiceResponse.newBuilder()
        .setPartialSuccess(ExportTracePartialSuccess.newBuilder().setRejectedSpans(rejectedSpans).setErrorMessage(message))
        .build()
        .toByteArray();
  }

  @Test
  void aGarbledSuccessAnswerIsStillASuccess() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    answers.add(new Answer(200, new byte[] {0x0a, 0x7f, 0x08}));
    answers.add(new Answer(200, "{}".getBytes()));

    assertThat(exporter.export(List.of(SPAN)).isSuccess()).isTrue();
    assertThat(exporter.export(List.of(SPAN)).isSuccess()).isTrue();
  }

  @Test
  void nothingIsSentAfterShutdown() throws Exception {
    exporter = exporter(startCollector(), Duration.ofSeconds(10), Duration.ofMillis(10));
    exporter.shutdown().join(1, TimeUnit.SECONDS);

    assertThat(exporter.export(List.of(SPAN)).isSuccess()).isFalse();
    assertThat(bodies).isEmpty();
  }

  @Test
  void aHeaderTheHttpClientReservesIsRefusedWhenTheExporterIsMade() {
    assertThatThrownBy(
            () -> new OtlpHttpExporter(URI.create("http://127.0.0.1:1/v1/traces"), Map.of("Connection", "close"), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("header 'Connection' is the HTTP client's own");
  }

  @Test
  void aHeaderValueThatWouldEndItsLineIsRefused() {
    assertThatThrownBy(
            () -> new OtlpHttpExporter(URI.create("http://127.0.0.1:1/v1/traces"), Map.of("x-key", "a\r\nHost: evil"), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("value of header 'x-key' has a character HTTP forbids");
  }
}
