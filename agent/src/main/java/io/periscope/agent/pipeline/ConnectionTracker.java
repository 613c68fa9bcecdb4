package io.periscope.agent.pipeline;

import io.periscope.bpf.RingBuffer;
import io.periscope.bpf.SocketEvent;
import java.lang.foreign.MemorySegment;

/**
 * The first stage after the ring buffer: decodes each record, finds its connection (keyed by the
 * kernel socket), and feeds the connection's protocol state. Bounded: at most
 * {@code maxConnections} are tracked, the least recently active is evicted first, and connections
 * idle longer than the idle timeout are dropped by {@link #evictIdle}. Every drop is counted.
 *
 * <p>Single-threaded: the capture thread calls everything. No exception escapes {@link #onRecord}:
 * hostile bytes fail their own connection only.
 */
public final class ConnectionTracker implements RingBuffer.RecordHandler {
  public static final int DEFAULT_MAX_CONNECTIONS = 16_384;
  public static final long DEFAULT_IDLE_TIMEOUT_NANOS = 10L * 60 * 1_000_000_000L;
  static final System.Logger LOG = System.getLogger(ConnectionTracker.class.getName());

  private final ExchangeSink sink;
  private final PipelineStats stats;
  private final int maxConnections;
  private final long idleTimeoutNanos;
  private final SocketEvent event = new SocketEvent();
  private final ConnectionTable connections = new ConnectionTable();

  public ConnectionTracker(ExchangeSink sink, PipelineStats stats, int maxConnections, long idleTimeoutNanos) {
    if (maxConnections < 1) {
      throw new IllegalArgumentException("maxConnections must be positive: " + maxConnections);
    }
    this.sink = sink;
    this.stats = stats;
    this.maxConnections = maxConnections;
    this.idleTimeoutNanos = idleTimeoutNanos;
  }

  public ConnectionTracker(ExchangeSink sink, PipelineStats stats) {
    this(sink, stats, DEFAULT_MAX_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_NANOS);
  }

  @Override
  public void onRecord(MemorySegment memory, long offset, int length) {
    stats.events++;
    if (!event.wrap(memory, offset, length)) {
      stats.malformedEvents++;
      return;
    }
    long sock = event.sock();
    try {
      switch (event.type()) {
        case SocketEvent.TYPE_DATA -> {
          if ((event.flags() & SocketEvent.FLAG_LOST_BEFORE) != 0) {
            lostPlace(sock); // followed again from this request, as a connection joined midway
          }
          connection(sock, false).onData(event, sink, stats);
        }
        case SocketEvent.TYPE_CONN_OPEN -> {
          Connection previous = connections.remove(sock);
          if (previous != null) {
            previous.onClose(stats, event.exitNanos()); // the kernel reused the socket's memory: the old one is gone
            ended(previous);
          }
          Connection opened = connection(sock, true);
          if (event.origin() == SocketEvent.ORIGIN_CONNECT) {
            // Said at once: a server on this node may read this client's request before the
            // pipeline sees the client's first bytes, and must know to wait for them.
            opened.opened = Connection.endpoints(event, Peer.Role.CLIENT);
            sink.onConnection(opened.opened);
          }
        }
        case SocketEvent.TYPE_CONN_CLOSE -> {
          Connection closed = connections.remove(sock);
          boolean restart = (event.flags() & SocketEvent.FLAG_RESTART) != 0;
          boolean shed = (event.flags() & SocketEvent.FLAG_LOST_BEFORE) != 0;
          if (closed != null) {
            if (restart || shed) {
              // Its place was lost (a restart, or records shed before it closed): nothing is ended.
              closed.onEvicted(stats);
            } else {
              closed.onClose(stats, event.exitNanos());
            }
            ended(closed);
          }
          if (restart) {
            // Go's TLS records are made when a call returns, not in stream order: a write that
            // began before the restart may come after it, and belongs to what was lost.
            connection(sock, false).lostBefore = event.exitNanos();
          }
        }
        case SocketEvent.TYPE_TRACE_INJECTED -> connection(sock, false).onTraceInjected(event, sink, stats);
        case SocketEvent.TYPE_TRACE_ROOT -> connection(sock, false).onTraceRoot(event, sink, stats);
        default -> stats.malformedEvents++;
      }
    } catch (RuntimeException e) {
      // A parser bug must cost one connection, not the pipeline.
      connections.remove(sock);
      stats.internalErrors++;
      LOG.log(System.Logger.Level.WARNING, "dropped a connection after an internal error", e);
    }
  }

  /**
   * The kernel lost records of the connection (overload shed it): what it was in the middle of is
   * counted as incomplete, never completed with what comes after the loss.
   */
  private void lostPlace(long sock) {
    Connection lost = connections.remove(sock);
    if (lost != null) {
      lost.onEvicted(stats);
      ended(lost);
    }
  }

  private Connection connection(long sock, boolean opening) {
    Connection c = connections.get(sock);
    if (c == null) {
      c = new Connection(sock, event.exitNanos(), opening);
      connections.put(sock, c);
      if (connections.size() > maxConnections) {
        Connection eldest = connections.removeEldest();
        stats.connectionsEvicted++;
        eldest.onEvicted(stats);
        ended(eldest);
      }
      stats.connectionsTracked++;
    }
    return c;
  }

  private void ended(Connection c) {
    Peer peer = c.peer();
    if (peer != null) {
      sink.onConnectionEnd(peer);
    }
    if (c.opened != null && !c.opened.equals(peer)) {
      sink.onConnectionEnd(c.opened);
    }
  }

  /** Drops connections with no traffic for the idle timeout (monotonic clock, as the kernel's). */
  public void evictIdle(long nowNanos) {
    for (Connection c = connections.eldest(); c != null; c = connections.eldest()) {
      if (nowNanos - c.lastActivityNanos <= idleTimeoutNanos) {
        break; // least recently used first: everything after this one is more recent
      }
      connections.removeEldest();
      c.onEvicted(stats);
      ended(c);
      stats.connectionsEvicted++;
    }
  }

  public int size() {
    return connections.size();
  }

  /** Forgets every connection (the agent is stopping); exchanges still open are not reported. */
  public void clear() {
    connections.clear();
  }
}
