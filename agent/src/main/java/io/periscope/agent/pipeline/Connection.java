package io.periscope.agent.pipeline;

import io.periscope.bpf.SocketEvent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * One traced TCP connection as one process sees it: what protocol it carries (guessed from the
 * first bytes), who serves it, and the protocol state. Owned by the {@link ConnectionTracker}.
 */
final class Connection {
  /** Data events that may fail detection before the connection is written off as not HTTP. */
  static final int MAX_DETECTION_ATTEMPTS = 4;

  enum Protocol { DETECTING, HTTP1, HTTP2, NOT_HTTP, FAILED }

  /** How the line the kernel inserts begins (injection); its value follows, then CRLF. */
  private static final String TRACEPARENT_FIELD = "traceparent: ";
  private static final Pattern TRACE_ID = Pattern.compile("[0-9a-f]{32}");

  final long sock;
  /** The agent saw the accept() or connect() that made it: nothing came before what it sees. */
  private final boolean seenOpening;
  private Protocol protocol = Protocol.DETECTING;
  private int detectionAttempts;
  private @Nullable Http1Exchanges http1;
  private @Nullable Http2Exchanges http2;
  private @Nullable Peer peer;
  /** Who connected, as said when connect() returned (before the protocol is known). */
  @Nullable Peer opened;
  long lastActivityNanos;
  /**
   * After a restart (the kernel lost its place on the connection): records of calls that began
   * before this time are part of the stretch that was lost, and are dropped, counted as incomplete.
   */
  long lostBefore;
  /** The kernel inserted a traceparent line into the next record's request: where, and how long. */
  private int injectedAt = -1;
  private int injectedLength;

  Connection(long sock, long nowNanos, boolean seenOpening) {
    this.sock = sock;
    this.lastActivityNanos = nowNanos;
    this.seenOpening = seenOpening;
  }

  void onData(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    lastActivityNanos = event.exitNanos();
    if (event.enterNanos() < lostBefore) {
      stats.incompleteExchanges++;
      return;
    }
    int inserted = injectedAt; // for this record only
    injectedAt = -1;
    if (protocol == Protocol.DETECTING && !detect(event, sink, stats)) {
      return;
    }
    if (protocol == Protocol.HTTP1) {
      if (inserted >= 0) {
        http1.inserted(inserted, injectedLength);
      }
      if (!http1.onData(event)) {
        protocol = Protocol.FAILED;
        stats.http1ParseFailures++;
        ConnectionTracker.LOG.log(System.Logger.Level.DEBUG, "HTTP/1 parse failure on connection of pid {0}: {1}",
            event.tgid(), http1.failure());
      } else if (http1.upgrade() != null) {
        upgradeToHttp2(event, sink, stats);
      }
    } else if (protocol == Protocol.HTTP2 && !http2.onData(event)) {
      protocol = Protocol.FAILED;
      stats.http2ParseFailures++;
      ConnectionTracker.LOG.log(System.Logger.Level.DEBUG, "HTTP/2 parse failure on connection of pid {0}: {1}",
          event.tgid(), http2.failure());
    }
  }

  /**
   * The kernel inserted a traceparent line into the request the next data record carries: the
   * request's span takes the ids in it, and the requests after it in that record start the line's
   * length later on the wire than in the bytes the process wrote.
   */
  void onTraceInjected(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    String line = payloadText(event);
    if (line == null || line.length() != SocketEvent.TRACEPARENT_LINE || !line.startsWith(TRACEPARENT_FIELD)
        || !line.endsWith("\r\n") || event.frameStart() <= 0) {
      stats.malformedEvents++;
      return;
    }
    injectedAt = event.frameStart();
    injectedLength = event.totalLength();
    // Injection happens only on connections seen at connect(), whose client end is known already.
    Peer client = opened != null ? opened : endpoints(event, Peer.Role.CLIENT);
    sink.onTraceInjected(client, event.sequence(), line.substring(TRACEPARENT_FIELD.length(), line.length() - 2));
  }

  /** The kernel made the trace of the calls this server makes while serving the request at the record's seq. */
  void onTraceRoot(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    String traceId = payloadText(event);
    if (traceId == null || !TRACE_ID.matcher(traceId).matches()) {
      stats.malformedEvents++;
      return;
    }
    // Known from the connection's first request on; the first request's root comes before it.
    Peer server = peer() != null && peer().role() == Peer.Role.SERVER ? peer() : endpoints(event, Peer.Role.SERVER);
    sink.onTraceRoot(server, event.sequence(), traceId);
  }

  /** A short kernel-written payload as text; null when it is not whole. */
  private static @Nullable String payloadText(SocketEvent event) {
    int length = event.capturedLength();
    if (length != event.totalLength() || length > SocketEvent.TRACEPARENT_LINE) {
      return null;
    }
    byte[] bytes = new byte[length];
    MemorySegment.copy(event.memory(), ValueLayout.JAVA_BYTE, event.payloadOffset(), bytes, 0, length);
    return new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
  }

  private boolean detect(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    if (event.capturedLength() == 0) {
      return false; // EOF or sendfile: nothing to look at
    }
    boolean ingress = event.direction() == SocketEvent.DIRECTION_INGRESS;
    if (event.mode() != SocketEvent.MODE_BYTES) {
      // The kernel found HTTP/2 frames.
      startHttp2(event, http2Role(event, ingress), sink, stats);
      return true;
    }
    Peer.Role role;
    switch (ProtocolDetector.detect(event.memory(), event.payloadOffset(), event.capturedLength())) {
      case HTTP1_REQUEST -> role = ingress ? Peer.Role.SERVER : Peer.Role.CLIENT;
      case HTTP1_RESPONSE -> role = ingress ? Peer.Role.CLIENT : Peer.Role.SERVER;
      case HTTP2_PREFACE -> {
        startHttp2(event, ingress ? Peer.Role.SERVER : Peer.Role.CLIENT, sink, stats);
        return true;
      }
      default -> {
        if (++detectionAttempts >= MAX_DETECTION_ATTEMPTS) {
          protocol = Protocol.NOT_HTTP;
          stats.connectionsNotHttp++;
        }
        return false;
      }
    }
    Peer peer = endpoints(event, role);
    http1 = new Http1Exchanges(peer, event.tls(), sink, stats);
    this.peer = peer;
    protocol = Protocol.HTTP1;
    sink.onConnection(peer);
    return true;
  }

  /**
   * Who this process is on an HTTP/2 connection, from its first frame-stream record: the client
   * sends the preface; on a connection seen from its opening, a first SETTINGS is the sender's own
   * first frame (a server may send it before it reads the preface). Null when the connection was
   * joined midway: the first request or response header block will tell.
   */
  private Peer.@Nullable Role http2Role(SocketEvent event, boolean ingress) {
    MemorySegment data = event.memory();
    long payload = event.payloadOffset();
    if (ProtocolDetector.detect(data, payload, event.capturedLength()) == ProtocolDetector.Guess.HTTP2_PREFACE) {
      return ingress ? Peer.Role.SERVER : Peer.Role.CLIENT;
    }
    boolean settingsFirst = event.frameStartWire() == 0 && event.capturedLength() >= 9
        && data.get(ValueLayout.JAVA_BYTE, payload + 3) == 4 && (data.get(ValueLayout.JAVA_BYTE, payload + 4) & 1) == 0;
    if (seenOpening && settingsFirst) {
      return ingress ? Peer.Role.CLIENT : Peer.Role.SERVER;
    }
    return null;
  }

  private void startHttp2(SocketEvent event, Peer.@Nullable Role role, ExchangeSink sink, PipelineStats stats) {
    Peer endpoints = endpoints(event, role != null ? role : Peer.Role.SERVER);
    http2 = new Http2Exchanges(endpoints, role, sink, stats, seenOpening);
    protocol = Protocol.HTTP2;
    stats.connectionsHttp2++;
  }

  /** After a 101 to {@code Upgrade: h2c}: the connection goes on as HTTP/2, from where the 101 ended. */
  private void upgradeToHttp2(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    Http1Exchanges.H2cUpgrade upgrade = http1.upgrade();
    long from = http1.upgradedFrom();
    http2 = Http2Exchanges.upgraded(peer, upgrade.request(), upgrade.startNanos(), upgrade.sequence(), upgrade.tid(),
        sink, stats);
    http1 = null;
    protocol = Protocol.HTTP2;
    stats.connectionsHttp2++;
    if (from >= 0 && !http2.onData(event, (int) from)) {
      protocol = Protocol.FAILED;
      stats.http2ParseFailures++;
    }
  }

  static Peer endpoints(SocketEvent event, Peer.Role role) {
    byte[] local = new byte[16];
    byte[] remote = new byte[16];
    event.localAddress(local);
    event.remoteAddress(remote);
    return Peer.of(event.tgid(), event.comm(), role, Peer.address(local), event.localPort(), Peer.address(remote),
        event.remotePort());
  }

  /** The connection closed at {@code closedNanos} (CLOCK_MONOTONIC). */
  void onClose(PipelineStats stats, long closedNanos) {
    if (protocol == Protocol.HTTP1) {
      http1.onClose(closedNanos);
    } else if (protocol == Protocol.HTTP2) {
      http2.onClose(closedNanos);
    }
    countUndetected(stats);
  }

  /** Dropped while still open (the table was full, or it was idle too long). */
  void onEvicted(PipelineStats stats) {
    if (protocol == Protocol.HTTP1) {
      http1.onEvicted();
    } else if (protocol == Protocol.HTTP2) {
      http2.onEvicted();
    }
    countUndetected(stats);
  }

  /** Bytes that never looked like a protocol we know, on a connection that ended before we gave up: not HTTP. */
  private void countUndetected(PipelineStats stats) {
    if (protocol == Protocol.DETECTING && detectionAttempts > 0) {
      protocol = Protocol.NOT_HTTP;
      stats.connectionsNotHttp++;
    }
  }

  /** Who is on the connection, once it was recognised as HTTP and its role is known. */
  @Nullable Peer peer() {
    return http2 != null ? http2.peer() : peer;
  }

  Protocol protocol() {
    return protocol;
  }
}
