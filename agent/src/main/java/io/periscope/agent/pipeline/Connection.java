package io.periscope.agent.pipeline;

import io.periscope.bpf.SocketEvent;
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
  private Protocol protocol = Protocol.DETECTING;
  private int detectionAttempts;
  private @Nullable Http1Exchanges http1;
  private @Nullable Peer peer;
  long lastActivityNanos;

  Connection(long sock, long nowNanos) {
    this.sock = sock;
    this.lastActivityNanos = nowNanos;
  }

  void onData(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    lastActivityNanos = event.exitNanos();
    if (protocol == Protocol.DETECTING && !detect(event, sink, stats)) {
      return;
    }
    if (protocol == Protocol.HTTP1 && !http1.onData(event)) {
      protocol = Protocol.FAILED;
      stats.http1ParseFailures++;
      ConnectionTracker.LOG.log(System.Logger.Level.DEBUG, "HTTP/1 parse failure on connection of pid {0}: {1}",
          event.tgid(), http1.failure());
    }
  }

  private boolean detect(SocketEvent event, ExchangeSink sink, PipelineStats stats) {
    if (event.capturedLength() == 0) {
      return false; // EOF or sendfile: nothing to look at
    }
    boolean ingress = event.direction() == SocketEvent.DIRECTION_INGRESS;
    Peer.Role role;
    switch (ProtocolDetector.detect(event.memory(), event.payloadOffset(), event.capturedLength())) {
      case HTTP1_REQUEST -> role = ingress ? Peer.Role.SERVER : Peer.Role.CLIENT;
      case HTTP1_RESPONSE -> role = ingress ? Peer.Role.CLIENT : Peer.Role.SERVER;
      case HTTP2_PREFACE -> {
        protocol = Protocol.HTTP2; // decoded by a later stage; counted, not parsed, for now
        stats.connectionsHttp2++;
        return false;
      }
      default -> {
        if (++detectionAttempts >= MAX_DETECTION_ATTEMPTS) {
          protocol = Protocol.NOT_HTTP;
          stats.connectionsNotHttp++;
        }
        return false;
      }
    }
    byte[] local = new byte[16];
    byte[] remote = new byte[16];
    event.localAddress(local);
    event.remoteAddress(remote);
    Peer peer = Peer.of(event.tgid(), event.comm(), role, Peer.address(local), event.localPort(),
        Peer.address(remote), event.remotePort());
    http1 = new Http1Exchanges(peer, sink, stats);
    this.peer = peer;
    protocol = Protocol.HTTP1;
    sink.onConnection(peer);
    return true;
  }

  void onClose(PipelineStats stats) {
    if (http1 != null && protocol == Protocol.HTTP1) {
      http1.onClose();
    }
    countUndetected(stats);
  }

  /** Dropped while still open (the table was full, or it was idle too long). */
  void onEvicted(PipelineStats stats) {
    if (http1 != null && protocol == Protocol.HTTP1) {
      http1.onEvicted();
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

  /** Who is on the connection, once it was recognised as HTTP/1. */
  @Nullable Peer peer() {
    return peer;
  }

  Protocol protocol() {
    return protocol;
  }

}
