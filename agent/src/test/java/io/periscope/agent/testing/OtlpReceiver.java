package io.periscope.agent.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP/HTTP trace receiver for tests: it listens on an ephemeral port of 127.0.0.1, accepts
 * {@code POST /v1/traces} with an {@code application/x-protobuf} body (optionally
 * {@code Content-Encoding: gzip}), and keeps every span it decodes as a {@link ReceivedSpan}.
 *
 * <p>It answers 200 with an empty {@code ExportTraceServiceResponse}, as an OTLP collector does
 * when it takes every span. Requests it cannot take (another path or method, JSON, an unknown
 * encoding, an undecodable body) are answered with a 4xx status and listed in the message of an
 * {@link #awaitSpans} timeout, so a test that waits in vain says why.
 *
 * <p>The caller owns the receiver and must {@link #close()} it, typically with try-with-resources.
 */
public final class OtlpReceiver implements AutoCloseable {
  /** The OTLP/HTTP path for traces. */
  public static final String TRACES_PATH = "/v1/traces";

  private static final String PROTOBUF = "application/x-protobuf";
  /** Spans listed in a timeout message; more would bury the point of the failure. */
  private static final int MAX_DUMPED_SPANS = 200;

  private final HttpServer server;
  private final ExecutorService executor;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition arrived = lock.newCondition();
  // Guarded by lock.
  private final List<ReceivedSpan> spans = new ArrayList<>();
  /** Every span since the start, whatever {@link #clear} forgot. */
  private final List<ReceivedSpan> allSpans = new ArrayList<>();
  private final List<String> rejections = new ArrayList<>();
  private int requestCount;

  private OtlpReceiver(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /** Starts a receiver on an ephemeral port of 127.0.0.1. */
  public static OtlpReceiver start() {
    HttpServer server;
    try {
      InetAddress loopback = InetAddress.getByAddress(new byte[] {127, 0, 0, 1});
      server = HttpServer.create(new InetSocketAddress(loopback, 0), 0);
    } catch (IOException e) {
      throw new UncheckedIOException("start otlp receiver: " + e.getMessage(), e);
    }
    // One virtual thread per exchange: concurrent exports (several batch processors, retries) are
    // decoded side by side, and the threads are named for thread dumps.
    ExecutorService executor =
        Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("otlp-receiver-", 0).factory());
    OtlpReceiver receiver = new OtlpReceiver(server, executor);
    server.createContext("/", receiver::handle);
    server.setExecutor(executor);
    server.start();
    return receiver;
  }

  /** The base URL, without a path, for example {@code http://127.0.0.1:41234}. */
  public String endpoint() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** The full traces URL, {@link #endpoint()} + {@value #TRACES_PATH}, as OTLP/HTTP exporters take it. */
  public String tracesEndpoint() {
    return endpoint() + TRACES_PATH;
  }

  /** Every span received so far, in arrival order. */
  public List<ReceivedSpan> spans() {
    lock.lock();
    try {
      return List.copyOf(spans);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Every span received since the receiver started, in arrival order, including those that
   * {@link #clear} made {@link #spans} forget: for checks over all a test class produced.
   */
  public List<ReceivedSpan> allSpans() {
    lock.lock();
    try {
      return List.copyOf(allSpans);
    } finally {
      lock.unlock();
    }
  }

  /** Forgets the spans received so far, so a test sees only its own ({@link #allSpans} keeps them). */
  public void clear() {
    lock.lock();
    try {
      spans.clear();
    } finally {
      lock.unlock();
    }
  }

  /** How many export requests were decoded and answered 200; rejected requests do not count. */
  public int requestCount() {
    lock.lock();
    try {
      return requestCount;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits until at least {@code count} received spans match {@code filter}.
   *
   * @return every matching span received so far, in arrival order: at least {@code count} of them
   * @throws AssertionError on timeout, listing what did arrive and which requests were rejected
   */
  public List<ReceivedSpan> awaitSpans(Predicate<ReceivedSpan> filter, int count, Duration timeout) {
    Objects.requireNonNull(filter, "filter");
    Objects.requireNonNull(timeout, "timeout");
    if (count < 0) {
      throw new IllegalArgumentException("count must not be negative: " + count);
    }
    long remainingNanos = timeout.toNanos();
    lock.lock();
    try {
      while (true) {
        List<ReceivedSpan> matching = spans.stream().filter(filter).toList();
        if (matching.size() >= count) {
          return matching;
        }
        if (remainingNanos <= 0) {
          throw new AssertionError(timeoutMessage(count, matching.size(), timeout));
        }
        remainingNanos = arrived.awaitNanos(remainingNanos);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for " + count + " spans", e);
    } finally {
      lock.unlock();
    }
  }

  /** Stops listening at once; spans already received stay readable. */
  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String path = exchange.getRequestURI().getPath();
      if (!TRACES_PATH.equals(path)) {
        reject(exchange, 404, "no such path");
        return;
      }
      if (!"POST".equals(exchange.getRequestMethod())) {
        exchange.getResponseHeaders().set("Allow", "POST");
        reject(exchange, 405, "method not allowed");
        return;
      }
      String contentType = exchange.getRequestHeaders().getFirst("Content-Type");
      if (!isProtobuf(contentType)) {
        reject(exchange, 415, "content type " + contentType + " (only " + PROTOBUF + " is supported)");
        return;
      }
      String encoding = exchange.getRequestHeaders().getFirst("Content-Encoding");
      boolean gzip = "gzip".equalsIgnoreCase(encoding);
      if (encoding != null && !gzip && !"identity".equalsIgnoreCase(encoding)) {
        reject(exchange, 415, "content encoding " + encoding);
        return;
      }
      ExportTraceServiceRequest request;
      try (InputStream body = gzip
          ? new GZIPInputStream(exchange.getRequestBody())
          : exchange.getRequestBody()) {
        request = ExportTraceServiceRequest.parseFrom(body);
      } catch (IOException e) {
        reject(exchange, 400, "undecodable body: " + e);
        return;
      }
      accept(request);
      byte[] response = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
      exchange.getResponseHeaders().set("Content-Type", PROTOBUF);
      // The JDK server reads a length of 0 as "chunked"; -1 means "no body" and sends Content-Length: 0.
      exchange.sendResponseHeaders(200, response.length == 0 ? -1 : response.length);
      exchange.getResponseBody().write(response);
    }
  }

  private static boolean isProtobuf(String contentType) {
    if (contentType == null) {
      return false;
    }
    int parameters = contentType.indexOf(';');
    String mediaType = parameters < 0 ? contentType : contentType.substring(0, parameters);
    return mediaType.strip().equalsIgnoreCase(PROTOBUF);
  }

  private void accept(ExportTraceServiceRequest request) {
    List<ReceivedSpan> received = new ArrayList<>();
    for (ResourceSpans resourceSpans : request.getResourceSpansList()) {
      Map<String, Object> resource =
          ReceivedSpan.attributes(resourceSpans.getResource().getAttributesList());
      for (ScopeSpans scopeSpans : resourceSpans.getScopeSpansList()) {
        String scopeName = scopeSpans.getScope().getName();
        for (Span span : scopeSpans.getSpansList()) {
          received.add(ReceivedSpan.of(span, resource, scopeName));
        }
      }
    }
    lock.lock();
    try {
      spans.addAll(received);
      allSpans.addAll(received);
      requestCount++;
      arrived.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void reject(HttpExchange exchange, int status, String reason) throws IOException {
    lock.lock();
    try {
      rejections.add(String.format(Locale.ROOT, "%d %s %s: %s",
          status, exchange.getRequestMethod(), exchange.getRequestURI(), reason));
    } finally {
      lock.unlock();
    }
    exchange.sendResponseHeaders(status, -1);
  }

  // Called with lock held.
  private String timeoutMessage(int count, int matched, Duration timeout) {
    StringBuilder message = new StringBuilder()
        .append("expected at least ").append(count).append(" matching spans within ").append(timeout)
        .append(", got ").append(matched).append("; received ").append(spans.size())
        .append(" spans in ").append(requestCount).append(" requests");
    for (int i = 0; i < spans.size() && i < MAX_DUMPED_SPANS; i++) {
      message.append("\n  ").append(describe(spans.get(i)));
    }
    if (spans.size() > MAX_DUMPED_SPANS) {
      message.append("\n  ... and ").append(spans.size() - MAX_DUMPED_SPANS).append(" more");
    }
    if (!rejections.isEmpty()) {
      message.append("\nrejected requests:");
      for (String rejection : rejections) {
        message.append("\n  ").append(rejection);
      }
    }
    return message.toString();
  }

  private static String describe(ReceivedSpan span) {
    return String.format(Locale.ROOT, "%s [%s] trace=%s span=%s parent=%s status=%s attributes=%s resource=%s scope=%s",
        span.name(), span.kind(), span.traceId(), span.spanId(),
        span.isRoot() ? "-" : span.parentSpanId(), span.statusCode(), span.attributes(),
        span.resourceAttributes(), span.scopeName());
  }
}
