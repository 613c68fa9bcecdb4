package io.periscope.exporter.otlp;

import io.opentelemetry.sdk.common.export.GrpcStatusCode;

/** The exceptions the OTLP exporters fail with for a collector's error answer, for tests outside this package. */
public final class Refusals {
  private Refusals() {}

  public static HttpStatusException http(int status) {
    return new HttpStatusException(status, "collector answered HTTP " + status);
  }

  public static GrpcStatusException grpc(GrpcStatusCode status) {
    return new GrpcStatusException(status, "", null);
  }
}
