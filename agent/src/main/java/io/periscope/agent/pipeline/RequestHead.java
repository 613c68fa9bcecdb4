package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * What a request said that tracing reports, whichever HTTP version carried it. Credentials
 * ({@code Authorization}, {@code Cookie}) are never among it: the parsers do not keep them.
 *
 * @param method      as sent; null when an HTTP/2 request's method was a header the agent could not decode
 * @param target      the HTTP/1 request target, or the HTTP/2 {@code :path}
 * @param authority   the HTTP/1 {@code Host}, or the HTTP/2 {@code :authority} (else its {@code host})
 * @param scheme      the HTTP/2 {@code :scheme}; for HTTP/1 "https" when it came over TLS, else null (an
 *                    absolute-form target carries it)
 * @param contentType tells a gRPC call ({@code application/grpc...}) from other HTTP/2 requests
 */
public record RequestHead(
    @Nullable String method,
    @Nullable String target,
    @Nullable String authority,
    @Nullable String scheme,
    @Nullable String userAgent,
    @Nullable String contentType,
    @Nullable String traceparent,
    @Nullable String tracestate) {

  /** A gRPC call: its content type is {@code application/grpc} or one of its {@code +format} forms. */
  public boolean isGrpc() {
    return contentType != null && contentType.startsWith("application/grpc")
        && (contentType.length() == 16 || contentType.charAt(16) == '+' || contentType.charAt(16) == ';');
  }
}
