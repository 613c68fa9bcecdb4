package io.periscope.agent.http1;

import org.jspecify.annotations.Nullable;

/**
 * The parts of an HTTP/1.x message head that tracing needs. Only these headers are kept:
 * credentials ({@code Authorization}, {@code Cookie}, {@code Set-Cookie}) and every other header
 * are never copied out of the capture buffer.
 *
 * @param method        request method, or null for a response
 * @param target        request target as sent (origin-form path and query, or absolute-form), null for a response
 * @param status        response status code, or 0 for a request
 * @param minorVersion  the x in HTTP/1.x
 * @param contentLength the Content-Length, or -1 when absent
 * @param chunked       Transfer-Encoding ends in chunked
 * @param otherTransferEncoding Transfer-Encoding present without chunked last (body runs to close on a response)
 * @param connectionClose Connection: close (or HTTP/1.0 without keep-alive)
 */
public record Http1Head(
    @Nullable String method,
    @Nullable String target,
    int status,
    int minorVersion,
    long contentLength,
    boolean chunked,
    boolean otherTransferEncoding,
    boolean connectionClose,
    @Nullable String host,
    @Nullable String userAgent,
    @Nullable String traceparent,
    @Nullable String tracestate,
    @Nullable String upgrade) {

  public boolean isRequest() {
    return method != null;
  }

  /** 1xx other than 101: an interim response, followed by the final one for the same request. */
  public boolean isInterim() {
    return status >= 100 && status < 200 && status != 101;
  }
}
