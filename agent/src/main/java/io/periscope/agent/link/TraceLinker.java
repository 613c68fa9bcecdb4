package io.periscope.agent.link;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceState;
import io.periscope.agent.pipeline.ExchangeSink;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.span.SpanFactory;
import io.periscope.agent.trace.TraceParent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Decides the trace and the parent of every span when its request starts, so that a chain of
 * unmodified services on this node is one trace:
 *
 * <ul>
 *   <li><b>A request with a valid {@code traceparent}</b> makes its SERVER span the caller's child,
 *       except when the caller is a traced process here that passed the header on (a proxy) or had
 *       it injected: then the caller's own CLIENT span is the parent, the closer one. A proxy's call
 *       carrying the header of a request it serves is that request's child.
 *   <li><b>Between processes on this node</b>, a SERVER span is the child of the CLIENT span that
 *       sent its request: both ends share the client's endpoint (which survives kube-proxy's DNAT)
 *       and the TCP sequence number of the request's first byte. The two ends' records can arrive
 *       in either order; a server whose client is a traced connection here waits for the client's
 *       start, for at most the link window, then is a root.
 *   <li><b>Inside one process</b>, a CLIENT request written on a thread that is serving exactly one
 *       request is that SERVER span's child (thread-per-request servers). A thread serving several
 *       at once (an event loop under load) is ambiguous: the client span starts its own trace and
 *       says why ({@code periscope.link.unlinked}). A wrong parent is worse than none.
 *   <li><b>Traceparent injection</b> (opt-in): the kernel writes a CLIENT span's context into its
 *       request before the agent sees the request, so the span takes the ids the kernel chose. The
 *       kernel picks the trace of the request its thread serves, judged from syscalls alone; where
 *       that disagrees with the linking here, the span keeps the kernel's ids as the root of the
 *       trace it started, unlinked, never under a wrong parent. A SERVER span without a
 *       {@code traceparent} whose calls the kernel gave a trace takes that trace.
 *   <li><b>Processes with an OpenTelemetry SDK</b> show themselves by sending {@code traceparent}
 *       headers of their own (not one they received and pass on): their calls already have CLIENT
 *       spans, so Periscope makes none, and by default none of their SERVER spans either. The
 *       service they call still joins the SDK's trace through the header.
 * </ul>
 *
 * <p>A span's context is known as soon as its parent's is; a span whose exchange ends before that
 * (its parent waits for a client here) is held until then. Bounded: requests in flight, clients
 * remembered, servers waiting and spans held all have limits, with the oldest released first, and
 * everything waits at most the window. Single-threaded, like the pipeline.
 */
public final class TraceLinker implements ExchangeSink {
  /** How long a server span may wait for its client's: loopback exchanges complete microseconds apart. */
  public static final long DEFAULT_WINDOW_NANOS = 500_000_000L;
  public static final int DEFAULT_MAX_HELD = 16_384;
  /** Requests in flight tracked at most (started, not ended); the oldest is forgotten first. */
  static final int MAX_IN_FLIGHT = 65_536;
  /** Processes remembered as SDK-instrumented, and for how long after their last own traceparent. */
  static final int MAX_INSTRUMENTED = 4_096;
  static final long INSTRUMENTED_TTL_NANOS = 10L * 60 * 1_000_000_000L;
  /** Why a client span has no parent although its thread was serving: more than one request at once. */
  public static final String CONCURRENT_REQUESTS = "concurrent_requests_on_thread";
  /** Why an injected client span has no parent: the kernel put it in another trace than its thread's request. */
  public static final String INJECTED_ELSEWHERE = "injected_into_another_trace";
  /** Injected contexts and kernel-made root traces waiting for their request's start; the oldest go first. */
  static final int MAX_KERNEL_CONTEXTS = 4_096;

  /**
   * A client endpoint. The keys in the tables never change; only the linker's
   * {@link #endpointProbe}, which is never put in one, is re-aimed, so that a lookup allocates nothing.
   */
  static final class Endpoint {
    private String host;
    private int port;

    Endpoint(String host, int port) {
      this.host = host;
      this.port = port;
    }

    private Endpoint aim(String host, int port) {
      this.host = host;
      this.port = port;
      return this;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Endpoint e && e.port == port && e.host.equals(host);
    }

    @Override
    public int hashCode() {
      return host.hashCode() * 31 + port;
    }

    @Override
    public String toString() {
      return host + ":" + port;
    }
  }

  /**
   * One request on one connection: the client's endpoint and the sequence number of its first
   * byte. As with {@link Endpoint}, only {@link #probe} is ever re-aimed.
   */
  static final class StitchKey {
    private String host;
    private int port;
    private long sequence;

    StitchKey(String host, int port, long sequence) {
      this.host = host;
      this.port = port;
      this.sequence = sequence;
    }

    private StitchKey aim(String host, int port, long sequence) {
      this.host = host;
      this.port = port;
      this.sequence = sequence;
      return this;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof StitchKey k && k.sequence == sequence && k.port == port && k.host.equals(host);
    }

    @Override
    public int hashCode() {
      return (host.hashCode() * 31 + port) * 31 + Long.hashCode(sequence);
    }

    @Override
    public String toString() {
      return host + ":" + port + "/" + sequence;
    }
  }

  private final SpanFactory spans;
  private final long windowNanos;
  private final int maxHeld;
  private final boolean sdkServerSpans;
  /** Connections said to be traced, and not ended: as many as the tracker tracks. */
  private final Set<Peer> announced = new HashSet<>();
  /** The local endpoints of traced client connections, with how many of them are open (a port may be shared). */
  private final Map<Endpoint, Integer> tracedClients = new HashMap<>();
  private final InFlightRequests inFlight = new InFlightRequests();
  private final ConnectionRequests byConnection = new ConnectionRequests();
  private final ServingThreads serving = new ServingThreads();
  private final LinkedHashMap<StitchKey, RequestNode> clients = new LinkedHashMap<>();
  /** Clients whose exchange ended, in that order, with the time their stitch key may be forgotten. */
  private final ArrayDeque<RequestNode> clientsEnded = new ArrayDeque<>();
  private final LinkedHashMap<StitchKey, RequestNode> awaiting = new LinkedHashMap<>();
  /** For lookups only: never keys in a table. */
  private final StitchKey probe = new StitchKey("", 0, 0);
  private final Endpoint endpointProbe = new Endpoint("", 0);
  /** Processes that sent traceparents of their own: tgid to when last seen (kernel time). */
  private final LinkedHashMap<Integer, Long> instrumented = new LinkedHashMap<>();
  /** Injection: what the kernel wrote into requests, and the root traces it made, by request. */
  private final LinkedHashMap<StitchKey, SpanContext> injected = new LinkedHashMap<>();
  private final LinkedHashMap<StitchKey, String> kernelRoots = new LinkedHashMap<>();
  private final LinkStats stats = new LinkStats();
  /** The latest time any request or exchange said (CLOCK_MONOTONIC): when a request is given up. */
  private long latestNanos;
  private int held;

  /**
   * @param sdkServerSpans make SERVER spans for processes with their own OpenTelemetry SDK too
   *                       (they make their own, so by default Periscope does not)
   */
  public TraceLinker(SpanFactory spans, long windowNanos, int maxHeld, boolean sdkServerSpans) {
    if (windowNanos < 0 || maxHeld < 1) {
      throw new IllegalArgumentException("window must be >= 0 and maxHeld >= 1");
    }
    this.spans = spans;
    this.windowNanos = windowNanos;
    this.maxHeld = maxHeld;
    this.sdkServerSpans = sdkServerSpans;
  }

  public TraceLinker(SpanFactory spans, long windowNanos, int maxHeld) {
    this(spans, windowNanos, maxHeld, false);
  }

  @Override
  public void onConnection(Peer peer) {
    if (!announced.add(peer)) {
      return; // said at connect() already
    }
    spans.onConnection(peer);
    if (peer.role() == Peer.Role.CLIENT) {
      tracedClients.merge(new Endpoint(peer.localHost(), peer.localPort()), 1, Integer::sum);
    }
  }

  @Override
  public void onConnectionEnd(Peer peer) {
    if (announced.remove(peer) && peer.role() == Peer.Role.CLIENT) {
      tracedClients.computeIfPresent(new Endpoint(peer.localHost(), peer.localPort()),
          (endpoint, open) -> open > 1 ? open - 1 : null);
    }
    RequestNode next;
    for (RequestNode n = byConnection.removeAll(peer); n != null; n = next) {
      next = n.nextOnConnection;
      n.nextOnConnection = null;
      inFlight.remove(n);
      abandon(n); // never ends: its span is never made
    }
  }

  @Override
  public void onTraceInjected(Peer client, long sequence, String traceparent) {
    SpanContext written = TraceParent.parse(traceparent, null);
    if (written == null) {
      stats.kernelContextsDropped++; // the kernel writes only valid ones
      return;
    }
    // The kernel wrote the ids of this client's own span: a local context, not a remote parent.
    SpanContext own = SpanContext.create(written.getTraceId(), written.getSpanId(), written.getTraceFlags(),
        TraceState.getDefault());
    remember(injected, new StitchKey(client.localHost(), client.localPort(), sequence), own);
  }

  @Override
  public void onTraceRoot(Peer server, long sequence, String traceId) {
    remember(kernelRoots, new StitchKey(server.remoteHost(), server.remotePort(), sequence), traceId);
  }

  /** Kept until the request's start comes (in the next record), or until pushed out. */
  private <V> void remember(LinkedHashMap<StitchKey, V> table, StitchKey key, V value) {
    table.put(key, value);
    if (table.size() > MAX_KERNEL_CONTEXTS) {
      table.pollFirstEntry();
      stats.kernelContextsDropped++;
    }
  }

  @Override
  public void onRequest(Peer peer, int tid, long sequence, long startNanos, RequestHead request) {
    latestNanos = Math.max(latestNanos, startNanos);
    RequestNode node = new RequestNode(peer, sequence, tid);
    if (!inFlight.addIfAbsent(node)) {
      return; // the same request start twice: the first stands
    }
    node.request = request;
    node.startNanos = startNanos;
    byConnection.add(node);
    if (inFlight.size() > MAX_IN_FLIGHT) {
      RequestNode oldest = inFlight.pollOldest();
      byConnection.remove(oldest);
      abandon(oldest);
    }
    if (peer.role() == Peer.Role.SERVER) {
      startServer(node, peer, sequence, startNanos, request);
    } else {
      startClient(node, peer, tid, sequence, startNanos, request);
    }
  }

  private void startServer(RequestNode node, Peer peer, long sequence, long startNanos, RequestHead request) {
    serving.add(node);
    SpanContext header = header(request);
    StitchKey key = probe.aim(peer.remoteHost(), peer.remotePort(), sequence);
    if (!kernelRoots.isEmpty()) {
      node.kernelTraceId = kernelRoots.remove(key);
    }
    RequestNode sender = clients.get(key);
    if (header.isValid()) {
      node.incomingSpanId = header.getSpanId();
      node.header = header;
    }
    if (sender != null) {
      linkToSender(node, sender);
    } else if (tracedClients.containsKey(endpointProbe.aim(peer.remoteHost(), peer.remotePort()))
        && windowNanos > 0) {
      key = new StitchKey(peer.remoteHost(), peer.remotePort(), sequence); // kept: not the probe
      node.awaiting = key;
      node.deadline = startNanos + windowNanos;
      awaiting.put(key, node);
      if (awaiting.size() > maxHeld) {
        stats.heldOverflow++;
        RequestNode oldest = awaiting.pollFirstEntry().getValue();
        oldest.awaiting = null;
        resolveRoot(oldest);
      }
    } else {
      resolveRoot(node);
    }
  }

  /**
   * A server whose client is a traced process here: the client's span is its parent, unless its
   * request had a traceparent the client did not send (the SDK's own, or one added on the way),
   * which then wins. A header the client passed on (a proxy forwarding its caller's) or the kernel
   * wrote names the caller of the client, or the client itself: the client's span is the closer parent.
   */
  private void linkToSender(RequestNode server, RequestNode sender) {
    if (server.header != null && (sender.suppressed || !server.header.getSpanId().equals(sender.sentSpanId))) {
      resolve(server, server.header);
      return;
    }
    stats.linked++;
    adopt(server, sender);
  }

  /** A server span with no client here to be the child of: its header's, else a new trace's root (the kernel's, when it made one). */
  private void resolveRoot(RequestNode node) {
    if (node.header != null) {
      resolve(node, node.header);
    } else if (node.kernelTraceId != null) {
      resolve(node, spans.rootIn(node.kernelTraceId), SpanContext.getInvalid());
    } else {
      resolve(node, SpanContext.getInvalid());
    }
  }

  private void startClient(RequestNode node, Peer peer, int tid, long sequence, long startNanos,
      RequestHead request) {
    SpanContext header = header(request);
    int busy = serving.count(peer.tgid(), tid, 2);
    StitchKey key = new StitchKey(peer.localHost(), peer.localPort(), sequence);
    node.injected = injected.isEmpty() || header.isValid() ? null : injected.remove(key);
    int received = header.isValid() ? serving.countIncoming(peer.tgid(), header.getSpanId(), 2) : 0;
    if (node.injected != null) {
      node.sentSpanId = node.injected.getSpanId();
      startInjected(node, peer, tid, busy);
    } else if (header.isValid() && received == 0) {
      // The process wrote a traceparent of its own: an SDK's call, which has its CLIENT span.
      node.suppressed = true;
      markInstrumented(peer.tgid(), startNanos);
      resolve(node, header, header);
    } else if (received == 1) {
      // A proxy passing on the traceparent of a request it serves: the call is for that request,
      // however many its thread has in flight.
      node.sentSpanId = header.getSpanId();
      stats.linkedInProcess++;
      adopt(node, serving.anyIncoming(peer.tgid(), header.getSpanId()));
    } else if (received > 1) {
      node.sentSpanId = header.getSpanId(); // several requests came with it: which one is not known
      stats.ambiguous++;
      node.unlinked = CONCURRENT_REQUESTS;
      resolve(node, SpanContext.getInvalid());
    } else if (busy == 1) {
      stats.linkedInProcess++;
      adopt(node, serving.any(peer.tgid(), tid));
    } else {
      if (busy > 1) {
        stats.ambiguous++;
        node.unlinked = CONCURRENT_REQUESTS;
      }
      resolve(node, SpanContext.getInvalid());
    }
    clients.put(key, node);
    if (clients.size() > MAX_IN_FLIGHT) {
      clients.pollFirstEntry();
    }
    RequestNode server = awaiting.remove(key);
    if (server != null) {
      server.awaiting = null;
      linkToSender(server, node);
    }
  }

  /**
   * A client whose request carries the context the kernel wrote: it is the child of the request
   * its thread serves only if the kernel put it in that request's trace.
   */
  private void startInjected(RequestNode node, Peer peer, int tid, int busy) {
    stats.injected++;
    if (busy == 1) {
      adopt(node, serving.any(peer.tgid(), tid)); // checked in resolveInjected once the parent's trace is known
    } else {
      if (busy > 1) {
        stats.ambiguous++;
        node.unlinked = CONCURRENT_REQUESTS;
      }
      resolve(node, node.injected, SpanContext.getInvalid());
    }
  }

  private void resolveInjected(RequestNode node, SpanContext parent) {
    SpanContext context = node.injected;
    if (parent.isValid() && parent.getTraceId().equals(context.getTraceId())) {
      stats.linkedInProcess++;
      resolve(node, context, parent);
    } else {
      stats.injectedElsewhere++;
      node.unlinked = INJECTED_ELSEWHERE;
      resolve(node, context, SpanContext.getInvalid());
    }
  }

  /** Remembers a process as SDK-instrumented, as of {@code nowNanos}; the least recently seen go first. */
  private void markInstrumented(int tgid, long nowNanos) {
    if (instrumented.remove(tgid) == null) {
      stats.sdkProcesses++;
    }
    instrumented.put(tgid, nowNanos);
    if (instrumented.size() > MAX_INSTRUMENTED) {
      instrumented.pollFirstEntry();
    }
  }

  /** Whether the process sent a traceparent of its own lately (a pid may since belong to another program). */
  private boolean isInstrumented(int tgid, long nowNanos) {
    if (instrumented.isEmpty()) {
      return false; // no SDK here: spares boxing the pid for every server span
    }
    Long seen = instrumented.get(tgid);
    if (seen != null && nowNanos - seen > INSTRUMENTED_TTL_NANOS) {
      instrumented.remove(tgid);
      return false;
    }
    return seen != null;
  }

  @Override
  public void onExchange(HttpExchange exchange) {
    Peer peer = exchange.peer();
    long now = exchange.endNanos();
    latestNanos = Math.max(latestNanos, now);
    expire(now);
    RequestNode node = inFlight.remove(peer, exchange.requestSequence());
    if (node == null) {
      // Its start was never seen (or forgotten, the table being full): it decides alone.
      SpanContext header = peer.role() == Peer.Role.SERVER ? header(exchange.request()) : SpanContext.getInvalid();
      spans.emit(exchange, spans.childOf(header), header);
      return;
    }
    byConnection.remove(node);
    if (peer.role() == Peer.Role.SERVER) {
      serving.remove(node);
    } else {
      node.deadline = now + windowNanos;
      clientsEnded.addLast(node); // its stitch key is kept a window longer, for a server's late start
    }
    if (node.suppressed) {
      stats.sdkClientSpans++;
      return;
    }
    if (peer.role() == Peer.Role.SERVER && !sdkServerSpans && isInstrumented(peer.tgid(), now)) {
      stats.sdkServerSpans++;
      node.suppressed = true;
      return;
    }
    if (node.context != null) {
      spans.emit(exchange, node.context, node.parent, node.unlinked, node.parentOfOthers);
      return;
    }
    node.ended = exchange;
    held++;
    if (held > maxHeld) {
      stats.heldOverflow++;
      releaseOldestAwaiting();
    }
  }

  /** Its parent's context is known, or will be: the child follows. */
  private void adopt(RequestNode child, RequestNode parent) {
    parent.parentOfOthers = true;
    if (parent.context != null) {
      resolveChild(child, parent.context);
      spanIfAbandoned(parent);
    } else {
      if (parent.children == null) {
        parent.children = new ArrayList<>(2);
      }
      parent.children.add(child);
    }
  }

  /** The node's parent is known ({@code parent}, invalid for a root): its span and its waiting children follow. */
  private void resolve(RequestNode node, SpanContext parent) {
    resolve(node, spans.childOf(parent), parent);
  }

  private void resolve(RequestNode node, SpanContext context, SpanContext parent) {
    node.context = context;
    node.parent = parent;
    if (node.ended != null) {
      held--;
      HttpExchange ended = node.ended;
      node.ended = null;
      if (!node.suppressed) {
        spans.emit(ended, context, parent, node.unlinked, node.parentOfOthers);
      }
    }
    List<RequestNode> children = node.children;
    node.children = null;
    if (children != null) {
      for (RequestNode child : children) {
        resolveChild(child, context);
      }
      spanIfAbandoned(node);
    }
  }

  /**
   * A request that will never be seen to end, whose context another span names as its parent: it
   * gets a span too, ended when it was given up and marked as not followed to its end, so that no
   * span exported from here names a parent that is never exported. (A connection that closes
   * mid-exchange ends its requests as exchanges already; this is for the rest: a connection the
   * parser lost, one evicted, a request pushed out of a full table.)
   */
  private void spanIfAbandoned(RequestNode node) {
    if (!node.abandoned || !node.parentOfOthers || node.spannedUnfinished || node.suppressed || node.context == null
        || node.request == null) {
      return;
    }
    node.spannedUnfinished = true;
    stats.unfinishedParents++;
    spans.emit(new HttpExchange(node.peer, node.tid, null, node.request, ResponseHead.http(0), HttpExchange.UNFOLLOWED,
        false, node.startNanos, Math.max(node.abandonedNanos, node.startNanos), node.sequence), node.context,
        node.parent, node.unlinked, true);
  }

  private void resolveChild(RequestNode child, SpanContext parent) {
    if (child.injected != null) {
      resolveInjected(child, parent);
    } else {
      resolve(child, parent);
    }
  }

  /** Releases servers whose client did not show up in time (as roots) and forgets old clients. */
  public void expire(long nowNanos) {
    while (!awaiting.isEmpty() && awaiting.firstEntry().getValue().deadline - nowNanos < 0) {
      stats.unlinkedAfterWait++;
      releaseOldestAwaiting();
    }
    while (!clientsEnded.isEmpty() && clientsEnded.peekFirst().deadline - nowNanos < 0) {
      RequestNode client = clientsEnded.pollFirst();
      clients.remove(probe.aim(client.peer.localHost(), client.peer.localPort(), client.sequence), client);
    }
  }

  /** The agent is stopping: every waiting server goes out now, as a root, with what waited for it. */
  public void flush() {
    while (!awaiting.isEmpty()) {
      releaseOldestAwaiting();
    }
    clients.clear();
    clientsEnded.clear();
    injected.clear();
    kernelRoots.clear();
  }

  private void releaseOldestAwaiting() {
    if (awaiting.isEmpty()) {
      return;
    }
    RequestNode server = awaiting.pollFirstEntry().getValue();
    server.awaiting = null;
    resolveRoot(server);
  }

  /** A request that will never end (its connection closed, or the table was full): it serves no more. */
  private void abandon(RequestNode node) {
    node.abandoned = true;
    node.abandonedNanos = latestNanos;
    spanIfAbandoned(node);
    if (node.peer.role() == Peer.Role.SERVER) {
      serving.remove(node);
    }
    if (node.awaiting != null) {
      awaiting.remove(node.awaiting);
      node.awaiting = null;
      resolveRoot(node); // so that what waits for it does not wait longer
    }
  }

  private static SpanContext header(RequestHead request) {
    if (request.traceparent() == null) {
      return SpanContext.getInvalid();
    }
    SpanContext incoming = TraceParent.parse(request.traceparent(), request.tracestate());
    return incoming != null ? incoming : SpanContext.getInvalid();
  }

  public LinkStats stats() {
    return stats;
  }

  int heldCount() {
    return held + awaiting.size();
  }

  int inFlightCount() {
    return inFlight.size();
  }

  int servingRequests() {
    return serving.size();
  }

  /** For tests: the nodes in flight per connection agree with those in flight. */
  boolean consistent() {
    return byConnection.count() == inFlight.size();
  }
}
