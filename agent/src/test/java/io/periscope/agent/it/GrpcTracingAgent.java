package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.Agent;
import io.periscope.agent.AgentConfig;
import io.periscope.agent.testing.OtlpReceiver;
import io.periscope.agent.testing.ReceivedSpan;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Predicate;

/**
 * The agent as {@link TracingAgent} runs it (in-process, on the real kernel, tracing only the given
 * ports), exporting OTLP/HTTP to the test receiver and also to a tap that keeps each span's status
 * description: a gRPC span carries the {@code grpc-message} there, and {@link ReceivedSpan} has no
 * field for it.
 */
final class GrpcTracingAgent implements AutoCloseable {
  final OtlpReceiver receiver;
  final Agent agent;
  private final StatusTap statuses;

  private GrpcTracingAgent(OtlpReceiver receiver, StatusTap statuses, Agent agent) {
    this.receiver = receiver;
    this.statuses = statuses;
    this.agent = agent;
  }

  static GrpcTracingAgent tracingPorts(int... ports) {
    List<String> args = new ArrayList<>();
    for (int port : ports) {
      args.add("--port");
      args.add(Integer.toString(port));
    }
    OtlpReceiver receiver = OtlpReceiver.start();
    StatusTap statuses = StatusTap.start();
    SpanExporter exporter = SpanExporter.composite(
        OtlpHttpSpanExporter.builder().setEndpoint(receiver.tracesEndpoint()).build(),
        OtlpHttpSpanExporter.builder().setEndpoint(statuses.tracesEndpoint()).build());
    try {
      return new GrpcTracingAgent(receiver, statuses, Agent.start(AgentConfig.parse(args, Map.of()), exporter));
    } catch (RuntimeException | Error e) {
      receiver.close();
      statuses.close();
      throw e;
    }
  }

  /** Waits for {@code count} spans of these processes, then a moment longer to catch any extra. */
  List<ReceivedSpan> awaitSpans(Collection<Long> pids, int count) {
    Predicate<ReceivedSpan> ours = s -> pids.contains(TracingAgent.pid(s));
    receiver.awaitSpans(ours, count, Duration.ofSeconds(20));
    // Spans are exported in batches every second: give stragglers (which would be wrong) time to show.
    TracingAgent.sleep(Duration.ofMillis(1500));
    return receiver.spans().stream().filter(ours).toList();
  }

  /**
   * The span's status description as it arrived on the wire ({@code ""} when it has none). Both
   * receivers get every batch; the tap may answer a moment after the receiver, so this waits for it.
   */
  String statusDescription(ReceivedSpan span) {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    String description;
    while ((description = statuses.descriptions.get(span.spanId())) == null) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the status tap never received span " + span.spanId() + " " + span.name());
      }
      TracingAgent.sleep(Duration.ofMillis(20));
    }
    return description;
  }

  /** No HTTP/2 connection failed to parse and the kernel dropped nothing, since the agent started. */
  void assertNoParseFailuresOrDrops() {
    assertThat(agent.pipelineStats().http2ParseFailures()).as("HTTP/2 parse failures").isZero();
    assertThat(agent.captureCounters().ringBufferDrops()).as("ring buffer drops").isZero();
  }

  @Override
  public void close() {
    agent.close();
    receiver.close();
    statuses.close();
  }

  /** An OTLP/HTTP receiver that keeps only span id -> status description. */
  private static final class StatusTap implements AutoCloseable {
    private static final HexFormat HEX = HexFormat.of();
    private final HttpServer server;
    private final ExecutorService executor;
    final Map<String, String> descriptions = new ConcurrentHashMap<>();

    private StatusTap(HttpServer server, ExecutorService executor) {
      this.server = server;
      this.executor = executor;
    }

    static StatusTap start() {
      try {
        HttpServer server = HttpServer.create(
            new InetSocketAddress(InetAddress.getByAddress(new byte[] {127, 0, 0, 1}), 0), 0);
        ExecutorService executor =
            Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("status-tap-", 0).factory());
        StatusTap tap = new StatusTap(server, executor);
        server.createContext(OtlpReceiver.TRACES_PATH, tap::handle);
        server.setExecutor(executor);
        server.start();
        return tap;
      } catch (IOException e) {
        throw new UncheckedIOException("start status tap: " + e.getMessage(), e);
      }
    }

    String tracesEndpoint() {
      return "http://127.0.0.1:" + server.getAddress().getPort() + OtlpReceiver.TRACES_PATH;
    }

    private void handle(HttpExchange exchange) throws IOException {
      try (exchange; InputStream body = exchange.getRequestBody()) {
        ExportTraceServiceRequest request = ExportTraceServiceRequest.parseFrom(body);
        for (ResourceSpans resourceSpans : request.getResourceSpansList()) {
          for (ScopeSpans scopeSpans : resourceSpans.getScopeSpansList()) {
            for (Span span : scopeSpans.getSpansList()) {
              descriptions.put(HEX.formatHex(span.getSpanId().toByteArray()), span.getStatus().getMessage());
            }
          }
        }
        exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
        exchange.sendResponseHeaders(200, -1);
      }
    }

    @Override
    public void close() {
      server.stop(0);
      executor.shutdownNow();
    }
  }
}
