package io.periscope.agent.link;

import io.opentelemetry.api.trace.SpanContext;
import io.periscope.agent.pipeline.ExchangeSink;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.span.SpanFactory;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Puts the SERVER span of a request in the trace of the CLIENT span that sent it, as the child of
 * that span, when both processes are traced on this node: no header needed. The two ends of one
 * request share the client's endpoint (address and port, which survive kube-proxy's DNAT, unlike
 * the server's) and the TCP sequence number of the request's first byte.
 *
 * <p>A server's exchange usually completes first (it writes the response before the client has
 * read it), so a SERVER span whose client is a traced connection on this node is held until that
 * client's exchange arrives, for at most the link window; then it is exported as a root. A server
 * whose request carries a valid {@code traceparent} follows the header, never the socket. Servers
 * whose clients are not traced here (other hosts, untraced processes) are never held.
 *
 * <p>Bounded: at most {@code maxHeld} held servers (the oldest is released first) and as many
 * remembered clients; both expire with the window. Single-threaded, like the pipeline.
 */
public final class SameNodeLinker implements ExchangeSink {
  /** How long a server span may wait for its client's: loopback exchanges complete microseconds apart. */
  public static final long DEFAULT_WINDOW_NANOS = 500_000_000L;
  public static final int DEFAULT_MAX_HELD = 16_384;

  /** A client endpoint. */
  record Endpoint(String host, int port) {}

  /** One request on one connection: the client's endpoint and the sequence number of its first byte. */
  record StitchKey(Endpoint client, long sequence) {}

  private record Held(HttpExchange exchange, long deadline) {}

  private record Client(SpanContext context, long deadline) {}

  private final SpanFactory spans;
  private final long windowNanos;
  private final int maxHeld;
  private final Map<Endpoint, Integer> tracedClients = new HashMap<>();
  private final LinkedHashMap<StitchKey, Held> held = new LinkedHashMap<>();
  private final LinkedHashMap<StitchKey, Client> clients = new LinkedHashMap<>();
  private final LinkStats stats = new LinkStats();

  public SameNodeLinker(SpanFactory spans, long windowNanos, int maxHeld) {
    if (windowNanos < 0 || maxHeld < 1) {
      throw new IllegalArgumentException("window must be >= 0 and maxHeld >= 1");
    }
    this.spans = spans;
    this.windowNanos = windowNanos;
    this.maxHeld = maxHeld;
  }

  @Override
  public void onConnection(Peer peer) {
    spans.onConnection(peer);
    if (peer.role() == Peer.Role.CLIENT) {
      tracedClients.merge(new Endpoint(peer.localHost(), peer.localPort()), 1, Integer::sum);
    }
  }

  @Override
  public void onConnectionEnd(Peer peer) {
    if (peer.role() == Peer.Role.CLIENT) {
      tracedClients.computeIfPresent(new Endpoint(peer.localHost(), peer.localPort()),
          (endpoint, open) -> open > 1 ? open - 1 : null);
    }
  }

  @Override
  public void onExchange(HttpExchange exchange) {
    Peer peer = exchange.peer();
    long now = exchange.endNanos();
    expire(now);
    if (peer.role() == Peer.Role.CLIENT) {
      onClient(exchange, now);
    } else {
      onServer(exchange, now);
    }
  }

  private void onClient(HttpExchange exchange, long now) {
    Peer peer = exchange.peer();
    SpanContext context = spans.childOf(SpanContext.getInvalid());
    spans.emit(exchange, context, SpanContext.getInvalid());
    StitchKey key = new StitchKey(new Endpoint(peer.localHost(), peer.localPort()), exchange.requestSequence());
    Held server = held.remove(key);
    if (server != null) {
      stats.linked++;
      spans.emit(server.exchange(), spans.childOf(context), context);
      return;
    }
    clients.remove(key);
    clients.put(key, new Client(context, now + windowNanos));
    if (clients.size() > maxHeld) {
      Iterator<Client> oldest = clients.values().iterator();
      oldest.next();
      oldest.remove();
    }
  }

  private void onServer(HttpExchange exchange, long now) {
    SpanContext header = SpanFactory.incomingParent(exchange);
    if (header.isValid()) {
      spans.emit(exchange, spans.childOf(header), header); // the header wins over the socket
      return;
    }
    Peer peer = exchange.peer();
    Endpoint client = new Endpoint(peer.remoteHost(), peer.remotePort());
    StitchKey key = new StitchKey(client, exchange.requestSequence());
    Client sender = clients.remove(key);
    if (sender != null) {
      stats.linked++;
      spans.emit(exchange, spans.childOf(sender.context()), sender.context());
    } else if (tracedClients.containsKey(client) && windowNanos > 0) {
      held.put(key, new Held(exchange, now + windowNanos));
      if (held.size() > maxHeld) {
        stats.heldOverflow++;
        releaseOldest();
      }
    } else {
      spans.emit(exchange, spans.childOf(SpanContext.getInvalid()), SpanContext.getInvalid());
    }
  }

  /** Releases servers whose client did not show up in time (as roots) and forgets old clients. */
  public void expire(long nowNanos) {
    while (!held.isEmpty() && held.firstEntry().getValue().deadline() - nowNanos < 0) {
      stats.unlinkedAfterWait++;
      releaseOldest();
    }
    while (!clients.isEmpty() && clients.firstEntry().getValue().deadline() - nowNanos < 0) {
      clients.pollFirstEntry();
    }
  }

  /** The agent is stopping: every held server goes out now, as a root. */
  public void flush() {
    while (!held.isEmpty()) {
      releaseOldest();
    }
    clients.clear();
  }

  private void releaseOldest() {
    Held server = held.pollFirstEntry().getValue();
    spans.emit(server.exchange(), spans.childOf(SpanContext.getInvalid()), SpanContext.getInvalid());
  }

  public LinkStats stats() {
    return stats;
  }

  int heldCount() {
    return held.size();
  }

  /**
   * What linking did. Written by the pipeline thread only.
   *
   * @see SameNodeLinker
   */
  public static final class LinkStats {
    long linked;
    long unlinkedAfterWait;
    long heldOverflow;

    /** Server spans made children of a client span seen on this node. */
    public long linked() {
      return linked;
    }

    /** Server spans held for a traced client that did not show up within the window. */
    public long unlinkedAfterWait() {
      return unlinkedAfterWait;
    }

    /** Server spans released early, unlinked, because too many were held. */
    public long heldOverflow() {
      return heldOverflow;
    }
  }
}
