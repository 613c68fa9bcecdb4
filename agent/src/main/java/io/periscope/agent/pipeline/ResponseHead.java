package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * What a response said that tracing reports.
 *
 * @param status      the HTTP status code; 0 when none was seen (an HTTP/2 stream reset before its
 *                    response, or a {@code :status} the agent could not decode)
 * @param grpcStatus  the gRPC status code from {@code grpc-status} (trailers, or a trailers-only
 *                    response), or {@link #NO_GRPC_STATUS}
 * @param grpcMessage the {@code grpc-message} that came with it, percent-decoded, or null
 */
public record ResponseHead(int status, int grpcStatus, @Nullable String grpcMessage) {
  public static final int NO_GRPC_STATUS = -1;

  /** The plain HTTP responses with three-digit codes, made once: an HTTP/1 exchange needs no head of its own. */
  private static final ResponseHead[] HTTP = new ResponseHead[1000];
  /** The 200 responses of gRPC calls, by status code (0 to 16), without a message: made once too. */
  private static final ResponseHead[] GRPC = new ResponseHead[17];

  static {
    for (int status = 100; status < HTTP.length; status++) {
      HTTP[status] = new ResponseHead(status, NO_GRPC_STATUS, null);
    }
    for (int code = 0; code < GRPC.length; code++) {
      GRPC[code] = new ResponseHead(200, code, null);
    }
  }

  public static ResponseHead http(int status) {
    return status >= 100 && status < HTTP.length ? HTTP[status] : new ResponseHead(status, NO_GRPC_STATUS, null);
  }

  /** The same as the constructor says; a common head is shared (a record: equal is the same). */
  public static ResponseHead of(int status, int grpcStatus, @Nullable String grpcMessage) {
    if (grpcMessage == null) {
      if (grpcStatus == NO_GRPC_STATUS) {
        return http(status);
      }
      if (status == 200 && grpcStatus >= 0 && grpcStatus < GRPC.length) {
        return GRPC[grpcStatus];
      }
    }
    return new ResponseHead(status, grpcStatus, grpcMessage);
  }
}
