package io.periscope.exporter.otlp;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.IOException;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * Exports spans as OTLP http/protobuf: a POST of an {@code ExportTraceServiceRequest} per batch,
 * encoded by {@link TraceRequestEncoder}, sent with the JDK's HTTP client.
 *
 * <p>{@link #export} returns when the collector has answered (the batcher calling it waits anyway).
 * Like OpenTelemetry's exporters, it retries what the OTLP specification calls retryable, HTTP 429,
 * 502, 503 and 504 and failures to connect, with exponential back-off and jitter; but all attempts
 * together stay within the timeout, so a collector that is down costs one timeout per batch, not
 * five. A 2xx answer that reports rejected spans ({@code partial_success}) is logged.
 */
public final class OtlpHttpExporter implements SpanExporter {
  private static final Logger logger = Logger.getLogger(OtlpHttpExporter.class.getName());

  static final int MAX_ATTEMPTS = 5;
  private static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
  private static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
  private static final double BACKOFF_MULTIPLIER = 1.5;
  // Of an error answer, this much is quoted in the failure.
  private static final int QUOTED_BODY = 256;

  private final HttpClient client;
  private final HttpRequest.Builder request;
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
    requireNonNull(url, "url");
    requireNonNull(headers, "headers");
    this.timeout = requireNonNull(timeout, "timeout");
    this.initialBackoff = requireNonNull(initialBackoff, "initialBackoff");
    // HTTP/2 only where TLS negotiates it: over cleartext the client would ask every collector
    // for an h2c upgrade, which some proxies answer badly.
    HttpClient.Builder http =
        HttpClient.newBuilder()
            .version("https".equalsIgnoreCase(url.getScheme()) ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1)
            .connectTimeout(timeout);
    ProxySelector proxies = ProxySelector.getDefault();
    if (proxies != null) {
      http.proxy(proxies); // as OkHttp did: the JVM's proxy settings (-Dhttps.proxyHost=...) apply
    }
    client = http.build();
    request =
        HttpRequest.newBuilder(url)
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", "periscope-otlp-exporter");
    headers.forEach(request::header);
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    if (shutdown.get()) {
      return CompletableResultCode.ofExceptionalFailure(new IllegalStateException("exporter is shut down"));
    }
    if (spans.isEmpty()) {
      return CompletableResultCode.ofSuccess();
    }
    ReverseProtoWriter body = encoders.get().encode(spans);
    try {
      send(HttpRequest.BodyPublishers.ofByteArray(body.buffer(), body.offset(), body.length()));
      return CompletableResultCode.ofSuccess();
    } catch (IOException e) {
      return CompletableResultCode.ofExceptionalFailure(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return CompletableResultCode.ofExceptionalFailure(e);
    }
  }

  private void send(HttpRequest.BodyPublisher body) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    double backoffNanos = initialBackoff.toNanos();
    for (int attempt = 1; ; attempt++) {
      try {
        post(body, Duration.ofNanos(Math.max(deadline - System.nanoTime(), 1)));
        return;
      } catch (WorthRetrying e) {
        // Jitter of ±20% keeps the agents of a cluster from retrying in step.
        long sleep = (long) (backoffNanos * ThreadLocalRandom.current().nextDouble(0.8, 1.2));
        if (attempt == MAX_ATTEMPTS || System.nanoTime() + sleep >= deadline || shutdown.get()) {
          throw e.failure;
        }
        Thread.sleep(Duration.ofNanos(sleep));
        backoffNanos = Math.min(backoffNanos * BACKOFF_MULTIPLIER, MAX_BACKOFF.toNanos());
      }
    }
  }

  /** One POST; returns when the collector took the spans. */
  private void post(HttpRequest.BodyPublisher body, Duration timeout)
      throws IOException, InterruptedException, WorthRetrying {
    HttpResponse<byte[]> response;
    try {
      response =
          client.send(request.copy().timeout(timeout).POST(body).build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException e) {
      throw e; // the whole timeout is spent
    } catch (IOException e) {
      throw new WorthRetrying(e); // could not connect, or the connection broke
    }
    int status = response.statusCode();
    if (status / 100 == 2) {
      PartialSuccess.logIfAny(response.body(), logger);
      return;
    }
    IOException failure = new IOException("collector answered HTTP " + status + quote(response.body()));
    if (retryable(status)) {
      throw new WorthRetrying(failure);
    }
    throw failure;
  }

  /** A failed attempt that another attempt may mend. */
  private static final class WorthRetrying extends Exception {
    final IOException failure;

    WorthRetrying(IOException failure) {
      super(failure.getMessage(), failure, false, false);
      this.failure = failure;
    }
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
      client.shutdownNow();
    }
    return CompletableResultCode.ofSuccess();
  }
}
