package io.periscope.exporter.otlp;

import io.opentelemetry.sdk.common.export.GrpcStatusCode;
import java.io.IOException;
import java.util.EnumSet;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The collector answered a gRPC status other than OK: what {@link OtlpGrpcExporter} fails an export
 * with when that was the last attempt's answer, around the SDK's own failure.
 */
public final class GrpcStatusException extends IOException {
  /**
   * The statuses the SDK's exporter retries (its RetryUtil, SDK 1.68.0). OTLP/gRPC, "Failures",
   * names the same, RESOURCE_EXHAUSTED only when the collector sent a RetryInfo; the SDK retries it
   * always.
   */
  private static final Set<GrpcStatusCode> RETRYABLE =
      EnumSet.of(
          GrpcStatusCode.CANCELLED,
          GrpcStatusCode.DEADLINE_EXCEEDED,
          GrpcStatusCode.RESOURCE_EXHAUSTED,
          GrpcStatusCode.ABORTED,
          GrpcStatusCode.OUT_OF_RANGE,
          GrpcStatusCode.UNAVAILABLE,
          GrpcStatusCode.DATA_LOSS);

  private final GrpcStatusCode status;

  GrpcStatusException(GrpcStatusCode status, String description, @Nullable Throwable cause) {
    super("collector answered gRPC " + status + (description.isEmpty() ? "" : ": " + description), cause);
    this.status = status;
  }

  /** The gRPC status the collector answered. */
  public GrpcStatusCode status() {
    return status;
  }

  /**
   * Whether the SDK's exporter retries the status: it tried again until its attempts or its time
   * ran out. Any other status failed at once.
   */
  public boolean retryable() {
    return RETRYABLE.contains(status);
  }
}
