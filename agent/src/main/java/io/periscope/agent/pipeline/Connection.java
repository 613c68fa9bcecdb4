package io.periscope.agent.pipeline;

import io.periscope.bpf.SocketEvent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.jspecify.annotations.Nullable;

/**
 * One traced TCP connection as one process sees it: what protocol it carries (guessed from the
 * first bytes), who serves it, and the protocol state. Owned by the {@link ConnectionTracker}.
 */
final class Connection {
  /** Data events that may fail detection before the connection is written off as not HTTP. */
  static final int MAX_DETECTION_ATTEMPTS = 4;

  enum Protocol { DETECTING, HTTP1, HTTP2, NOT_HTTP, FAILED }

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

  Connection(long sock, long nowNanos, boolean seenOpening) {
    this.sock = sock;
    this.lastActivityNanos = nowNanos;
    this.seenOpening = seenOpening;
  }

  void onData(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    lastActivityNanos = event.exitNanos();
    if (protocol == Protocol.DETECTING && !detect(event, sink, stats)) {
      return;
    }
    if (protocol == Protocol.HTTP1) {
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
    http1 = new Http1Exchanges(peer, sink, stats);
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

  void onClose(PipelineStats stats) {
    if (protocol == Protocol.HTTP1) {
      http1.onClose();
    } else if (protocol == Protocol.HTTP2) {
      http2.onClose();
    }
    countUndetected(stats);
  }

  /** Dropped while still open (the table was full, or it was idle too long). */
  void onEvicted(PipelineStats stats) {
    if (protocol == Protocol.HTTP1) {
      http1.onEvicted();
    } else if (protocol == Protocol.HTTP2) {
      http2.onClose();
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
