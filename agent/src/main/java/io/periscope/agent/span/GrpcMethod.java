package io.periscope.agent.span;

import io.periscope.agent.pipeline.HttpExchange;
import org.jspecify.annotations.Nullable;

/**
 * A gRPC method from its HTTP/2 {@code :path}, {@code /package.Service/Method}, and the names of status codes.
 *
 * @param spanName {@code package.Service/Method}, the span's name
 */
record GrpcMethod(String service, String method, String spanName) {
  /** Status code names by number (gRPC's status codes document). */
  private static final String[] STATUS_NAMES = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  };

  static @Nullable GrpcMethod parse(@Nullable String path) {
    if (path == null || path.length() < 4 || path.charAt(0) != '/') {
      return null;
    }
    int slash = path.indexOf('/', 1);
    if (slash <= 1 || slash == path.length() - 1 || path.indexOf('/', slash + 1) >= 0 || path.indexOf('?') >= 0) {
      return null;
    }
    return new GrpcMethod(path.substring(1, slash), path.substring(slash + 1), path.substring(1));
  }

  static String statusName(int code) {
    return code >= 0 && code < STATUS_NAMES.length ? STATUS_NAMES[code] : Integer.toString(code);
  }

  /**
   * The status a gRPC library reports for a call whose stream ended without one: the mapping of
   * HTTP/2 error codes in gRPC's "gRPC over HTTP2" document (CANCEL is CANCELLED, REFUSED_STREAM
   * UNAVAILABLE, ENHANCE_YOUR_CALM RESOURCE_EXHAUSTED, INADEQUATE_SECURITY PERMISSION_DENIED, the
   * others INTERNAL); a stream refused by GOAWAY, or cut by the connection's end, is UNAVAILABLE.
   */
  static int statusOfStreamError(String error) {
    return switch (error) {
      case "CANCEL" -> 1;
      case "ENHANCE_YOUR_CALM" -> 8;
      case "INADEQUATE_SECURITY" -> 7;
      case "REFUSED_STREAM", "GOAWAY", HttpExchange.CONNECTION_CLOSED, HttpExchange.RESPONSE_INCOMPLETE -> 14;
      default -> 13;
    };
  }

  /**
   * The status a gRPC client reports for a response without {@code grpc-status}: from the HTTP
   * status, as gRPC's "HTTP to gRPC status code mapping" document says (400 INTERNAL, 401
   * UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429, 502, 503 and 504 UNAVAILABLE,
   * others UNKNOWN: a 200 without a status is UNKNOWN too).
   */
  static int statusOfHttpStatus(int status) {
    return switch (status) {
      case 400 -> 13;
      case 401 -> 16;
      case 403 -> 7;
      case 404 -> 12;
      case 429, 502, 503, 504 -> 14;
      default -> 2;
    };
  }

  /** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the server's failure. */
  static boolean isServerFault(int code) {
    return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
  }
}
