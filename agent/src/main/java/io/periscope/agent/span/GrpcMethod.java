package io.periscope.agent.span;

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

  /** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the server's failure. */
  static boolean isServerFault(int code) {
    return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
  }
}
