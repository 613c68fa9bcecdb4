package io.periscope.exporter.otlp;

import java.io.IOException;

/**
 * The collector answered an HTTP status other than 2xx: what {@link OtlpHttpExporter} fails an
 * export with when that was the last attempt's answer.
 */
public final class HttpStatusException extends IOException {
  private final int status;

  HttpStatusException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** The HTTP status the collector answered. */
  public int status() {
    return status;
  }

  /**
   * Whether the OTLP specification calls the status retryable (429, 502, 503, 504): the exporter
   * tried again until its attempts or its time ran out. Any other status failed at once.
   */
  public boolean retryable() {
    return OtlpHttpExporter.retryable(status);
  }
}
