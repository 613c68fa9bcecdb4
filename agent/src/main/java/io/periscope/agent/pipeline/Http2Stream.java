package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * One HTTP/2 stream between its request and the end of its response. Links to its neighbours in
 * creation order let the {@link StreamTable} drop the oldest in constant time.
 */
final class Http2Stream {
  final int id;
  final RequestHead request;
  final long startNanos;
  final long requestSequence;
  final int tid;
  boolean incomplete;
  int status;
  int grpcStatus = ResponseHead.NO_GRPC_STATUS;
  @Nullable String grpcMessage;
  /** The final (non-1xx) response head arrived; a later HEADERS is the trailers. */
  boolean responded;

  @Nullable Http2Stream older;
  @Nullable Http2Stream newer;

  Http2Stream(int id, RequestHead request, boolean incomplete, long startNanos, long requestSequence, int tid) {
    this.id = id;
    this.request = request;
    this.incomplete = incomplete;
    this.startNanos = startNanos;
    this.requestSequence = requestSequence;
    this.tid = tid;
  }
}
