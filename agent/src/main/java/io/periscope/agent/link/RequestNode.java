package io.periscope.agent.link;

import io.opentelemetry.api.trace.SpanContext;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The span of one request while the linker follows it: its context once its trace is known. It is
 * also the entry of every table it is in (requests in flight, the requests of its connection, the
 * requests its thread serves): those tables link their nodes through the fields below, so that
 * following a request allocates this node and nothing else.
 */
final class RequestNode {
  final Peer peer;
  /** TCP sequence number of the request's first byte: with the peer, the request's identity. */
  final long sequence;
  final int tid;
  @Nullable SpanContext context;
  @Nullable SpanContext parent;
  /** Spans that wait for this one's context. */
  @Nullable List<RequestNode> children;
  /** The exchange ended before its context was known: held until it is. */
  @Nullable HttpExchange ended;
  @Nullable String unlinked;
  /** An SDK's own call: it has its span already. */
  boolean suppressed;
  /** A server waiting for the start of its client on this node, until the deadline. */
  TraceLinker.@Nullable StitchKey awaiting;
  long deadline;
  /** A server's incoming traceparent span id: a client passing it on is forwarding, not instrumented. */
  @Nullable String incomingSpanId;
  /** A client: the traceparent span id its request carried as it left (passed on, or injected). */
  @Nullable String sentSpanId;
  /**
   * A server waiting for its client here although its request had a traceparent: used if the
   * client did not send it.
   */
  @Nullable SpanContext header;
  /** A client's context as the kernel wrote it into the request (injection): its span has these ids. */
  @Nullable SpanContext injected;
  /** A server's trace as the kernel chose it for the calls it makes, when it is a root. */
  @Nullable String kernelTraceId;
  /** What the request said, and when it started: enough for a span if the exchange is never seen to end. */
  @Nullable RequestHead request;
  long startNanos;
  /** Some span has (or will have) this one's context as its parent. */
  boolean parentOfOthers;
  /** Will never end (its connection ended, or it was pushed out): given up at {@link #abandonedNanos}. */
  boolean abandoned;
  long abandonedNanos;
  /** Its span was made although it never ended, because another span names it as parent. */
  boolean spannedUnfinished;

  // InFlightRequests: its hash chain and the order requests started in.
  int requestHash;
  @Nullable RequestNode nextInBucket;
  @Nullable RequestNode olderInFlight;
  @Nullable RequestNode newerInFlight;
  // ConnectionRequests: the connection's requests in the order they started (the first's
  // previous is the last).
  @Nullable RequestNode previousOnConnection;
  @Nullable RequestNode nextOnConnection;
  // ServingThreads: its hash chain.
  @Nullable RequestNode nextOnThread;

  RequestNode(Peer peer, long sequence, int tid) {
    this.peer = peer;
    this.sequence = sequence;
    this.tid = tid;
  }

  /** The thread's key in {@link ServingThreads}: process and thread id. */
  long thread() {
    return ServingThreads.key(peer.tgid(), tid);
  }
}
