package io.periscope.exporter;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.common.export.GrpcStatusCode;
import io.periscope.exporter.otlp.Refusals;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.ProtocolException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpConnectTimeoutException;
import java.util.Arrays;
import java.util.stream.Stream;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Each throwable the exporters fail with, and the reason it is counted under. */
class FailureReasonTest {

  static Stream<Arguments> failures() {
    return Stream.of(
        Arguments.of(Refusals.http(400), FailureReason.REJECTED),
        Arguments.of(Refusals.http(401), FailureReason.REJECTED),
        Arguments.of(Refusals.http(500), FailureReason.REJECTED),
        Arguments.of(Refusals.http(429), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(Refusals.http(502), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(Refusals.http(503), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(Refusals.http(504), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(Refusals.grpc(GrpcStatusCode.INVALID_ARGUMENT), FailureReason.REJECTED),
        Arguments.of(Refusals.grpc(GrpcStatusCode.UNAUTHENTICATED), FailureReason.REJECTED),
        Arguments.of(Refusals.grpc(GrpcStatusCode.UNIMPLEMENTED), FailureReason.REJECTED),
        Arguments.of(Refusals.grpc(GrpcStatusCode.UNAVAILABLE), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(Refusals.grpc(GrpcStatusCode.RESOURCE_EXHAUSTED), FailureReason.RETRIES_EXHAUSTED),
        Arguments.of(new HttpConnectTimeoutException("connect timed out"), FailureReason.TIMEOUT),
        Arguments.of(new SocketTimeoutException("read timed out"), FailureReason.TIMEOUT),
        Arguments.of(new InterruptedIOException("timeout"), FailureReason.TIMEOUT), // OkHttp's call timeout
        Arguments.of(new ConnectException("Connection refused"), FailureReason.UNREACHABLE),
        Arguments.of(new SocketException("Connection reset"), FailureReason.UNREACHABLE),
        Arguments.of(new UnknownHostException("collector.invalid"), FailureReason.UNREACHABLE),
        Arguments.of(new SSLHandshakeException("PKIX path building failed"), FailureReason.UNREACHABLE),
        Arguments.of(new EOFException("connection closed before an answer"), FailureReason.UNREACHABLE),
        Arguments.of(new IOException("unexpected end of stream"), FailureReason.UNREACHABLE),
        Arguments.of(new ProtocolException("Invalid status line"), FailureReason.MALFORMED_RESPONSE),
        Arguments.of(new IOException("FRAME_SIZE_ERROR: 4740180"), FailureReason.MALFORMED_RESPONSE), // OkHttp, HTTP/2
        Arguments.of(new IOException("PROTOCOL_ERROR: TYPE_DATA streamId == 0"), FailureReason.MALFORMED_RESPONSE),
        Arguments.of(new InterruptedException(), FailureReason.SHUTDOWN),
        Arguments.of(new IllegalStateException("exporter is shut down"), FailureReason.OTHER));
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("failures")
  void aFailureIsCountedUnderItsReason(Throwable failure, FailureReason reason) {
    assertThat(FailureReason.of(failure)).isEqualTo(reason);
  }

  /** The SDK wraps the call's exception, and that one the socket's: the outermost that says wins. */
  @Test
  void theReasonIsFoundAmongTheCauses() {
    Exception sdk = new Exception("export failed", new IOException("call failed", new ConnectException("refused")));
    assertThat(FailureReason.of(sdk)).isEqualTo(FailureReason.UNREACHABLE);

    Exception status = new Exception(Refusals.http(503).initCause(new SocketTimeoutException()));
    assertThat(FailureReason.of(status)).isEqualTo(FailureReason.RETRIES_EXHAUSTED);
  }

  @Test
  void aFailureWithoutAThrowableIsOther() {
    assertThat(FailureReason.of(null)).isEqualTo(FailureReason.OTHER);
  }

  @Test
  void labelsAreDistinctLowerCaseWordsJoinedByUnderscores() {
    assertThat(Arrays.stream(FailureReason.values()).map(FailureReason::label))
        .doesNotHaveDuplicates()
        .allMatch(label -> label.matches("[a-z]+(_[a-z]+)*"))
        .containsExactly(
            "timeout", "unreachable", "malformed_response", "rejected", "retries_exhausted",
            "partially_rejected", "shutdown", "other");
  }
}
