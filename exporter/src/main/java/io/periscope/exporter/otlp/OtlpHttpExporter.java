package io.periscope.exporter.otlp;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.io.IOException;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongConsumer;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Exports spans as OTLP http/protobuf: a POST of an {@code ExportTraceServiceRequest} per batch,
 * encoded by {@link TraceRequestEncoder}, sent by {@link PlainHttpTransport} to an {@code http://}
 * collector, and by the JDK's HTTP client ({@link JdkHttpTransport}) over https or a proxy.
 *
 * <p>{@link #export} returns when the collector has answered (the batcher calling it waits anyway).
 * Like OpenTelemetry's exporters, it retries what the OTLP specification calls retryable, HTTP 429,
 * 502, 503 and 504 and failures to connect, with exponential back-off and jitter; but all attempts
 * together stay within the timeout, so a collector that is down costs one timeout per batch, not
 * five. A 429 or 503 with {@code Retry-After} (seconds or an HTTP-date) is retried after exactly
 * that wait, as the specification asks, unless the wait would not leave the retry time to finish
 * within the timeout: then the export fails at once. A 2xx answer that reports rejected spans
 * ({@code partial_success}) is logged, and the rejected spans are reported to the caller of {@link
 * #export(Collection, LongConsumer)}.
 *
 * <p>A failed export says why with its throwable, the last attempt's: {@link HttpStatusException}
 * for an answer that was not 2xx, {@link java.net.http.HttpTimeoutException} for no answer within
 * the timeout, {@link java.net.ProtocolException} for an answer that was not HTTP, or the I/O
 * exception of a connection that could not be made or broke.
 */
public final class OtlpHttpExporter implements OtlpSpanExporter {
  private static final Logger logger = Logger.getLogger(OtlpHttpExporter.class.getName());

  static final int MAX_ATTEMPTS = 5;
  private static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
  private static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
  private static final double BACKOFF_MULTIPLIER = 1.5;
  // Of an error answer, this much is quoted in the failure.
  private static final int QUOTED_BODY = 256;

  private final Transport transport;
  private final Duration timeout;
  private final Duration initialBackoff;
  // One per export thread: the batcher may run several exports at once.
  private final ThreadLocal<TraceRequestEncoder> encoders =
      ThreadLocal.withInitial(TraceRequestEncoder::new);
  private final AtomicBoolean shutdown = new AtomicBoolean();

  /**
   * @param url the traces URL, {@code .../v1/traces}
   * @param headers sent with every request (API keys)
   * @throws IllegalArgumentException a header the HTTP client does not let anyone set
   */
  public OtlpHttpExporter(URI url, Map<String, String> headers, Duration timeout) {
    this(url, headers, timeout, INITIAL_BACKOFF);
  }

  OtlpHttpExporter(URI url, Map<String, String> headers, Duration timeout, Duration initialBackoff) {
    this(transportFor(requireNonNull(url, "url"), requireNonNull(headers, "headers"), timeout), timeout, initialBackoff);
  }

  OtlpHttpExporter(Transport transport, Duration timeout, Duration initialBackoff) {
    this.transport = transport;
    this.timeout = requireNonNull(timeout, "timeout");
    this.initialBackoff = requireNonNull(initialBackoff, "initialBackoff");
  }

  /** Plain http straight to the collector on its own sockets; https, or through a proxy, with the JDK's client. */
  static Transport transportFor(URI url, Map<String, String> headers, Duration timeout) {
    ProxySelector proxies = ProxySelector.getDefault();
    boolean direct =
        proxies == null || proxies.select(url).stream().allMatch(proxy -> proxy.type() == Proxy.Type.DIRECT);
    if ("http".equalsIgnoreCase(url.getScheme()) && direct) {
      return new PlainHttpTransport(url, headers);
    }
    return new JdkHttpTransport(url, headers, timeout);
  }

  /** Framing and connection headers, which the transports set themselves: not configurable. */
  public static final List<String> MANAGED_HEADERS =
      List.of("connection", "content-length", "expect", "host", "upgrade");

  /**
   * Refuses a header that cannot be sent as configured: one the transports set themselves, a name
   * that is not an HTTP token, or a value with a character that would end its line (a header
   * written as given could otherwise add lines of its own to the request).
   *
   * @throws IllegalArgumentException saying which and why
   */
  public static void checkHeader(String name, String value) {
    if (MANAGED_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
      throw new IllegalArgumentException(
          "header '" + name + "' is the HTTP client's own; allowed are any but " + String.join(", ", MANAGED_HEADERS));
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c <= ' ' || c >= 0x7f || "()<>@,;:\\\"/[]?={}".indexOf(c) >= 0) {
        throw new IllegalArgumentException("header name '" + name + "' is not an HTTP token");
      }
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == '\r' || c == '\n' || c == 0 || c > 0xff) {
        throw new IllegalArgumentException("value of header '" + name + "' has a character HTTP forbids (CR, LF, NUL or beyond Latin-1)");
      }
    }
  }

  /** The headers of every request: the protobuf content type, then the configured ones. */
  static Map<String, String> requestHeaders(Map<String, String> configured) {
    configured.forEach(OtlpHttpExporter::checkHeader);
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Content-Type", "application/x-protobuf");
    headers.put("User-Agent", "periscope-otlp-exporter");
    headers.putAll(configured);
    return headers;
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans, LongConsumer rejectedSpans) {
    if (shutdown.get()) {
      return CompletableResultCode.ofExceptionalFailure(new IllegalStateException("exporter is shut down"));
    }
    if (spans.isEmpty()) {
      return CompletableResultCode.ofSuccess();
    }
    ReverseProtoWriter body = encoders.get().encode(spans);
    try {
      long rejected = send(body);
      if (rejected > 0) {
        rejectedSpans.accept(rejected);
      }
      return CompletableResultCode.ofSuccess();
    } catch (IOException e) {
      return CompletableResultCode.ofExceptionalFailure(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return CompletableResultCode.ofExceptionalFailure(e);
    }
  }

  /** Sends until the collector took the request; returns how many spans it said it rejected. */
  private long send(ReverseProtoWriter body) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    double backoffNanos = initialBackoff.toNanos();
    for (int attempt = 1; ; attempt++) {
      long started = System.nanoTime();
      try {
        return post(body, Duration.ofNanos(Math.max(deadline - started, 1)));
      } catch (WorthRetrying e) {
        if (attempt == MAX_ATTEMPTS || shutdown.get()) {
          throw e.failure;
        }
        long answered = System.nanoTime();
        long wait = e.retryAfter != null
            ? throttledWait(e, e.retryAfter, answered - started, deadline - answered)
            : backoff(e, backoffNanos, deadline - answered);
        Thread.sleep(Duration.ofNanos(wait));
        backoffNanos = Math.min(backoffNanos * BACKOFF_MULTIPLIER, MAX_BACKOFF.toNanos());
      }
    }
  }

  /** The wait before the next attempt when the collector did not say; throws if it would not fit. */
  private static long backoff(WorthRetrying e, double backoffNanos, long leftNanos) throws IOException {
    // Jitter of ±20% keeps the agents of a cluster from retrying in step.
    long wait = (long) (backoffNanos * ThreadLocalRandom.current().nextDouble(0.8, 1.2));
    // A retry left less time than it waited for is not started: it would end in a timeout of its
    // own, and hide the collector's answer (refused, reset) behind it.
    if (2 * wait >= leftNanos) {
      throw e.failure;
    }
    return wait;
  }

  /**
   * The wait a throttling collector asked for (OTLP/HTTP, "Throttling": 429 or 503 with {@code
   * Retry-After}), exactly, without jitter: the collector chose it. A retry after it must still be
   * left as long as the refused attempt took, or it would most likely end in a timeout of its own
   * and report that instead of the throttling; a wait that leaves less, or that runs past the
   * timeout, is not waited at all: the export fails now and the batch is counted as failed.
   */
  private static long throttledWait(WorthRetrying e, Duration retryAfter, long attemptNanos, long leftNanos)
      throws IOException {
    long wait = retryAfter.toNanos(); // RetryAfter caps it at a day
    if (wait >= leftNanos - attemptNanos) {
      HttpStatusException throttled = (HttpStatusException) e.failure; // only an answer says Retry-After
      throw new HttpStatusException(
          throttled.status(),
          throttled.getMessage() + " (asked to retry after " + retryAfter.toMillis() + " ms, past the export timeout)");
    }
    return wait;
  }

  /** One POST; returns when the collector took the request, with how many spans it rejected. */
  private long post(ReverseProtoWriter body, Duration timeout)
      throws IOException, InterruptedException, WorthRetrying {
    Transport.Answer answer;
    try {
      answer = transport.post(body.buffer(), body.offset(), body.length(), timeout);
    } catch (Transport.Timeout e) {
      throw e; // the whole timeout is spent
    } catch (IOException e) {
      throw new WorthRetrying(e, null); // could not connect, or the connection broke
    }
    int status = answer.status();
    if (status / 100 == 2) {
      return PartialSuccess.rejectedSpans(answer.body(), logger);
    }
    // A partial_success in an error's body means nothing: the whole request failed (OTLP/HTTP,
    // "Partial Success" is a 200; "Failures" puts a google.rpc.Status in 4xx and 5xx bodies).
    HttpStatusException failure = new HttpStatusException(status, "collector answered HTTP " + status + quote(answer.body()));
    if (retryable(status)) {
      // A value that is neither seconds nor a date is ignored: the usual back-off applies.
      Duration retryAfter =
          throttled(status) ? RetryAfter.parse(answer.retryAfter(), Instant.now()).orElse(null) : null;
      throw new WorthRetrying(failure, retryAfter);
    }
    throw failure;
  }

  /**
   * A failed attempt that another attempt may mend; {@code retryAfter} when the collector said
   * when, which only an {@link HttpStatusException} does.
   */
  private static final class WorthRetrying extends Exception {
    final IOException failure;
    final @Nullable Duration retryAfter;

    WorthRetrying(IOException failure, @Nullable Duration retryAfter) {
      super(failure.getMessage(), failure, false, false);
      this.failure = failure;
      this.retryAfter = retryAfter;
    }
  }

  /** The answers whose {@code Retry-After} the OTLP specification says to honour. */
  static boolean throttled(int status) {
    return status == 429 || status == 503;
  }

  static boolean retryable(int status) {
    return status == 429 || status == 502 || status == 503 || status == 504;
  }

  private static String quote(byte[] body) {
    if (body.length == 0) {
      return "";
    }
    String text = new String(body, 0, Math.min(body.length, QUOTED_BODY), StandardCharsets.UTF_8);
    return ": " + text.replaceAll("\\p{Cntrl}", " ").strip();
  }

  @Override
  public CompletableResultCode flush() {
    return CompletableResultCode.ofSuccess();
  }

  @Override
  public CompletableResultCode shutdown() {
    if (shutdown.compareAndSet(false, true)) {
      transport.close();
    }
    return CompletableResultCode.ofSuccess();
  }
}
