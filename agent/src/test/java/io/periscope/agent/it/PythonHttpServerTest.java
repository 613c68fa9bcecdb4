package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** curl -> python3 -m http.server, traced from the kernel, checked on the OTLP wire. */
@Tag("kernel")
class PythonHttpServerTest {
  private static final int PORT = 18_211;
  private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String PARENT_ID = "00f067aa0ba902b7";

  @TempDir
  static Path site;
  private static TracingAgent tracing;
  private static PeerProcess server;

  @BeforeAll
  static void start() throws Exception {
    Files.writeString(site.resolve("hello.txt"), "hello from the kernel's point of view\n");
    Files.write(site.resolve("big.bin"), new byte[1 << 20]);
    tracing = TracingAgent.tracingPorts(PORT);
    server = PeerProcess.server(site, PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(PORT));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
    if (tracing != null) {
      tracing.close();
    }
  }

  @Test
  void requestWithTraceparentJoinsTheCallersTrace() throws Exception {
    long before = System.currentTimeMillis() * 1_000_000L;
    long client = curlWithSecrets("-H", "traceparent: 00-" + TRACE_ID + "-" + PARENT_ID + "-01");
    long after = System.currentTimeMillis() * 1_000_000L;

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), client), 1);
    // curl wrote a traceparent of its own, as an SDK does: its call is the SDK's to report, not ours.
    assertThat(spans).as(TracingAgent.describe(spans)).singleElement()
        .satisfies(s -> assertThat(s.kind()).isEqualTo(SpanKind.SPAN_KIND_SERVER));
    ReceivedSpan serverSpan = spans.getFirst();

    assertThat(serverSpan.traceId()).isEqualTo(TRACE_ID);
    assertThat(serverSpan.parentSpanId()).isEqualTo(PARENT_ID);
    assertThat(serverSpan.name()).isEqualTo("GET");
    assertThat(serverSpan.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET);
    assertThat(serverSpan.attributes())
        .containsEntry("http.request.method", "GET")
        .containsEntry("url.path", "/hello.txt")
        .containsEntry("url.query", "user=REDACTED&token=REDACTED")
        .containsEntry("url.scheme", "http")
        .containsEntry("http.response.status_code", 200L)
        .containsEntry("server.address", "127.0.0.1")
        .containsEntry("server.port", (long) PORT)
        .containsEntry("client.address", "127.0.0.1")
        .containsEntry("network.peer.address", "127.0.0.1")
        .containsEntry("network.protocol.version", "1.1")
        .containsKey("network.peer.port")
        .containsKey("user_agent.original");
    assertThat(serverSpan.resourceAttributes()).containsEntry("process.pid", server.pid());
    assertThat(serverSpan.resourceAttributes().get("service.name")).isEqualTo("http.server");
    assertThat(serverSpan.attributes().get("network.peer.port")).isEqualTo(serverSpan.attributes().get("client.port"));
    assertSpanTimesAndNoSecrets(serverSpan, before, after);
    tracing.assertNoKernelDrops();
  }

  /** The same request without the header: curl's CLIENT span, beside the server's, and still no secret. */
  @Test
  void aClientSpanSaysWhatTheClientAskedAndNoSecret() throws Exception {
    long before = System.currentTimeMillis() * 1_000_000L;
    long client = curlWithSecrets();
    long after = System.currentTimeMillis() * 1_000_000L;

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), client), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan serverSpan = only(spans, SpanKind.SPAN_KIND_SERVER);
    ReceivedSpan clientSpan = only(spans, SpanKind.SPAN_KIND_CLIENT);
    // By the stable HTTP conventions a CLIENT span names the whole URL it asked for, query values
    // redacted, and not its parts; the SERVER span names the parts.
    assertThat(clientSpan.attributes())
        .containsEntry("http.request.method", "GET")
        .containsEntry("url.full", "http://127.0.0.1:" + PORT + "/hello.txt?user=REDACTED&token=REDACTED")
        .containsEntry("url.scheme", "http")
        .containsEntry("http.response.status_code", 200L)
        .containsEntry("server.port", (long) PORT)
        .containsEntry("network.peer.port", (long) PORT)
        .doesNotContainKeys("url.path", "url.query");
    assertThat(clientSpan.urlPath()).isEqualTo("/hello.txt");
    assertThat(clientSpan.urlQuery()).isEqualTo("user=REDACTED&token=REDACTED");
    assertThat(serverSpan.attributes())
        .containsEntry("url.path", "/hello.txt")
        .containsEntry("url.query", "user=REDACTED&token=REDACTED")
        .containsEntry("url.scheme", "http")
        .doesNotContainKey("url.full");
    assertThat(clientSpan.resourceAttributes().get("service.name")).isEqualTo("curl");
    for (ReceivedSpan span : spans) {
      assertSpanTimesAndNoSecrets(span, before, after);
    }
    // The client saw the whole exchange, so its span contains the server's, but for the race at
    // its end (WriteExitRace); the start has no such race.
    assertThat(clientSpan.startEpochNanos()).isLessThanOrEqualTo(serverSpan.startEpochNanos());
    assertThat(clientSpan.endEpochNanos()).isGreaterThanOrEqualTo(serverSpan.endEpochNanos() - WriteExitRace.NANOS);
    tracing.assertNoKernelDrops();
  }

  /** curl GET /hello.txt with a query, an Authorization header and a cookie, and these arguments; its pid. */
  private long curlWithSecrets(String... more) throws Exception {
    List<String> command = new java.util.ArrayList<>(List.of("curl", "-sS", "-o", "/dev/null",
        "-H", "Authorization: Bearer secret-token", "-H", "Cookie: session=secret-cookie"));
    command.addAll(List.of(more));
    command.add("http://127.0.0.1:" + PORT + "/hello.txt?user=alice&token=t0ps3cret");
    return PeerProcess.runWithPid(site, command.toArray(String[]::new)).pid();
  }

  private static void assertSpanTimesAndNoSecrets(ReceivedSpan span, long before, long after) {
    assertThat(span.endEpochNanos()).isGreaterThan(span.startEpochNanos());
    assertThat(span.startEpochNanos()).isGreaterThanOrEqualTo(before - 1_000_000L);
    assertThat(span.endEpochNanos()).isLessThanOrEqualTo(after + 1_000_000L);
    assertThat(span.toString()).doesNotContain("secret-token", "secret-cookie", "t0ps3cret", "alice");
    tracing.assertLogsKeep("secret-token", "secret-cookie", "t0ps3cret", "alice");
  }

  @Test
  void requestWithoutTraceparentJoinsTheTraceOfTheClientOnThisHost() throws Exception {
    long client = PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + PORT + "/missing").pid();
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), client), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan serverSpan = only(spans, SpanKind.SPAN_KIND_SERVER);
    ReceivedSpan clientSpan = only(spans, SpanKind.SPAN_KIND_CLIENT);
    // No header: the two ends are joined by the client's endpoint and the request's TCP sequence number.
    assertThat(clientSpan.parentSpanId()).isEmpty();
    assertThat(clientSpan.traceId()).matches("[0-9a-f]{32}").isNotEqualTo("0".repeat(32));
    assertThat(serverSpan.traceId()).isEqualTo(clientSpan.traceId());
    assertThat(serverSpan.parentSpanId()).isEqualTo(clientSpan.spanId());
    assertThat(serverSpan.attributes()).containsEntry("http.response.status_code", 404L);
    assertThat(serverSpan.statusCode()).isEqualTo(StatusCode.STATUS_CODE_UNSET); // 4xx is the client's fault
    assertThat(clientSpan.statusCode()).isEqualTo(StatusCode.STATUS_CODE_ERROR);
    assertThat(clientSpan.attributes()).containsEntry("error.type", "404");
  }

  @Test
  void oneMebibyteResponseIsOneSpan() throws Exception {
    long client = PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + PORT + "/big.bin").pid();
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), client), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/big.bin");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
    });
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, SpanKind kind) {
    List<ReceivedSpan> matching = spans.stream().filter(s -> s.kind() == kind).toList();
    assertThat(matching).as(kind + " spans in" + TracingAgent.describe(spans)).hasSize(1);
    return matching.getFirst();
  }
}
