package io.periscope.exporter;

import io.periscope.exporter.otlp.GrpcStatusException;
import io.periscope.exporter.otlp.HttpStatusException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ProtocolException;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.ClosedByInterruptException;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * Why spans that were accepted for export did not reach the collector: a closed set, each value
 * something an operator can act on, counted by {@link SpanSink#stats()} and shown as the {@code
 * reason} label of {@code periscope_spans_export_failed_total}.
 *
 * <p>As the OpenTelemetry semantic conventions ask of {@code otel.sdk.exporter.span.exported}, a
 * batch is counted once, when its export is over, under the cause of its <em>last</em> attempt:
 * a collector that refused connections and then timed out is a timeout; one that answered 503
 * until the retries ran out, of attempts or of time, is {@link #RETRIES_EXHAUSTED}.
 */
public enum FailureReason {
  /** No answer within the export timeout: the collector, or the network to it, is too slow. */
  TIMEOUT("timeout"),
  /**
   * No connection, or it broke before the answer: refused, reset, unknown host, TLS handshake
   * failed. The collector is down, or the endpoint is wrong.
   */
  UNREACHABLE("unreachable"),
  /**
   * An answer that is not the protocol: not HTTP/1.x for http/protobuf, not gRPC for grpc. The
   * endpoint most likely names another service or the other OTLP port (4317 is gRPC, 4318 http).
   */
  MALFORMED_RESPONSE("malformed_response"),
  /**
   * The collector refused the whole request with a status that asks not to retry it: HTTP 4xx other
   * than 429 or a 5xx other than 502-504; gRPC INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED,
   * UNIMPLEMENTED and the like. A header or the endpoint's path is wrong, or the data is.
   */
  REJECTED("rejected"),
  /**
   * The collector answered a retryable status (HTTP 429, 502, 503, 504; gRPC UNAVAILABLE,
   * RESOURCE_EXHAUSTED and the like) until the attempts or the time for them ran out, or it asked
   * (Retry-After) for a wait past the timeout. It is overloaded or throttling.
   */
  RETRIES_EXHAUSTED("retries_exhausted"),
  /**
   * The collector took the request but rejected some of its spans ({@code partial_success} with
   * {@code rejected_spans}, OTLP "Partial Success"); its message, logged, says why.
   */
  PARTIALLY_REJECTED("partially_rejected"),
  /** The agent stopped: spans still queued when the final flush ran out of time, or cut off by it. */
  SHUTDOWN("shutdown"),
  /** An exporter that threw, or failed without saying why. */
  OTHER("other");

  // Causes nest a few levels at most (the SDK's exception around OkHttp's around the socket's).
  private static final int MAX_CAUSES = 16;

  private final String label;

  FailureReason(String label) {
    this.label = label;
  }

  /** The value of the {@code reason} label: lower case, words joined by {@code _}. */
  public String label() {
    return label;
  }

  /**
   * The reason a failed export's throwable gives, outermost cause first. Periscope's OTLP/HTTP
   * exporter fails with {@link HttpStatusException} for an error answer, else with the JDK's
   * exceptions; the gRPC one with {@link GrpcStatusException} for an error status, else with the
   * SDK's exception around the I/O exception of the call that got no answer.
   */
  static FailureReason of(@Nullable Throwable failure) {
    boolean io = false;
    Throwable t = failure;
    for (int depth = 0; t != null && depth < MAX_CAUSES; depth++, t = t.getCause()) {
      FailureReason reason = ofOne(t);
      if (reason != null) {
        return reason;
      }
      io |= t instanceof IOException;
    }
    // Some other I/O error of the connection (OkHttp's "unexpected end of stream" is a bare one).
    return io ? UNREACHABLE : OTHER;
  }

  private static @Nullable FailureReason ofOne(Throwable t) {
    return switch (t) {
      case HttpStatusException status -> status.retryable() ? RETRIES_EXHAUSTED : REJECTED;
      case GrpcStatusException status -> status.retryable() ? RETRIES_EXHAUSTED : REJECTED;
      // Only SpanBatcher.close() interrupts an export thread.
      case InterruptedException interrupted -> SHUTDOWN;
      case ClosedByInterruptException interrupted -> SHUTDOWN;
      // OkHttp's call timeout is an InterruptedIOException("timeout"); SocketTimeoutException is one.
      case HttpTimeoutException timeout -> TIMEOUT;
      case InterruptedIOException timeout -> TIMEOUT;
      case TimeoutException timeout -> TIMEOUT;
      case ProtocolException protocol -> MALFORMED_RESPONSE;
      // ConnectException, NoRouteToHostException and resets are SocketExceptions.
      case SocketException connection -> UNREACHABLE;
      case UnknownHostException connection -> UNREACHABLE;
      case SSLException connection -> UNREACHABLE;
      case EOFException connection -> UNREACHABLE;
      case IOException io when brokeHttp2(io.getMessage()) -> MALFORMED_RESPONSE;
      default -> null;
    };
  }

  /**
   * Whether a bare IOException is OkHttp's (the gRPC sender's) for bytes that are not HTTP/2: it
   * names the RFC 9113 error code first ("FRAME_SIZE_ERROR: 4740180" is "HTT" of an HTTP/1.1
   * answer read as a frame's length). Only the codes that blame the peer's bytes count.
   */
  private static boolean brokeHttp2(@Nullable String message) {
    return message != null
        && (message.startsWith("PROTOCOL_ERROR")
            || message.startsWith("FRAME_SIZE_ERROR")
            || message.startsWith("COMPRESSION_ERROR"));
  }
}
