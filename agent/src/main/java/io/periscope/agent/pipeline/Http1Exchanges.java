package io.periscope.agent.pipeline;

import io.periscope.agent.http1.Http1Head;
import io.periscope.agent.http1.Http1Parser;
import io.periscope.bpf.SocketEvent;
import java.util.ArrayDeque;
import org.jspecify.annotations.Nullable;

/**
 * Pairs the requests and responses of one HTTP/1.x connection, in order (HTTP/1.1 answers
 * pipelined requests in the order they came, RFC 9112 §9.3.2), and hands each completed pair on
 * as an {@link HttpExchange}. A response with no request seen (the agent started mid-connection)
 * is counted and produces nothing.
 */
final class Http1Exchanges {
  /** Requests sent but not yet answered on one connection; more fails the connection. */
  static final int MAX_PIPELINED = 64;

  private static final class Pending {
    Http1Head head;
    RequestHead request;
    final long startNanos;
    final long sequence;
    final int tid;

    Pending(long startNanos, long sequence, int tid) {
      this.startNanos = startNanos;
      this.sequence = sequence;
      this.tid = tid;
    }
  }

  private final Peer peer;
  /** "https" on a TLS connection (its plaintext comes from the TLS library), else null: HTTP/1 says no scheme. */
  private final @Nullable String scheme;
  private final ExchangeSink sink;
  private final PipelineStats stats;
  private final Http1Parser requests;
  private final Http1Parser responses;
  private final ResponseSide responseSide = new ResponseSide();
  private final ArrayDeque<Pending> unanswered = new ArrayDeque<>();
  private @Nullable Pending reading;
  private @Nullable H2cUpgrade upgrade;
  /** More requests were pipelined than followed: the responses to those after were never parsed. */
  private boolean pipelineOverflow;

  // The capture event being fed: the parsers' callbacks refer to it.
  private long eventEnter;
  private long eventExit;
  private long eventSequence;
  private int eventTid;
  // Bytes the kernel inserted into the record being fed (traceparent injection): at, and how many.
  private int insertedAt = -1;
  private int insertedLength;

  Http1Exchanges(Peer peer, boolean tls, ExchangeSink sink, PipelineStats stats) {
    this.peer = peer;
    this.scheme = tls ? "https" : null;
    this.sink = sink;
    this.stats = stats;
    this.requests = Http1Parser.requests(new RequestSide());
    this.responses = Http1Parser.responses(responseSide);
  }

  /**
   * The next record's bytes had {@code length} bytes inserted at {@code at} on their way out: a
   * message starting after that point starts that much later on the wire.
   */
  void inserted(int at, int length) {
    insertedAt = at;
    insertedLength = length;
  }

  /** Feeds one data event; returns false once the connection can no longer be parsed. */
  boolean onData(SocketEvent event) {
    try {
      return feed(event);
    } finally {
      insertedAt = -1;
    }
  }

  private boolean feed(SocketEvent event) {
    eventEnter = event.enterNanos();
    eventExit = event.exitNanos();
    eventSequence = event.sequence();
    eventTid = event.tid();
    boolean carriesRequests = (event.direction() == SocketEvent.DIRECTION_INGRESS) == (peer.role() == Peer.Role.SERVER);
    Http1Parser parser = carriesRequests ? requests : responses;
    int captured = event.capturedLength();
    if (event.totalLength() == 0) {
      parser.endOfStream();
    } else {
      int tail = event.tailLength();
      parser.feed(event.memory(), event.payloadOffset(), captured, (long) event.totalLength() - captured - tail,
          event.tailOffset(), tail);
    }
    return !failed();
  }

  /**
   * The connection closed at {@code closedNanos}: a response delimited by the close completes, and
   * every request still unanswered becomes an exchange that ends there, with why it ended short
   * (a client that gave up on its call still made it, and a server span may already name its span
   * as parent). They are counted as incomplete too.
   */
  void onClose(long closedNanos) {
    int statusLineOnly = responses.partialStatus(); // a client that read the status line and no more
    responses.endOfStream();
    if (!pipelineOverflow) {
      for (Pending request : unanswered) {
        boolean answering = request == responseSide.matched;
        int status = !answering ? 0 : responseSide.response != null ? responseSide.response.status() : statusLineOnly;
        stats.exchanges++;
        sink.onExchange(new HttpExchange(peer, request.tid, version(request.head.minorVersion()), request.request,
            ResponseHead.http(status), status == 0 ? HttpExchange.CONNECTION_CLOSED : HttpExchange.RESPONSE_INCOMPLETE,
            false, request.startNanos, Math.max(closedNanos, request.startNanos), request.sequence));
      }
    }
    onEvicted();
  }

  /** The tracker gave up on the connection while it was still open: what is unfinished is counted, never completed. */
  void onEvicted() {
    stats.incompleteExchanges += unanswered.size();
    if (reading != null && reading.head == null) {
      stats.incompleteExchanges++; // closed in the middle of a request head
    }
    unanswered.clear();
    reading = null;
  }

  boolean failed() {
    return requests.failed() || responses.failed();
  }

  /** A request whose response switched the connection to HTTP/2 ({@code Upgrade: h2c}). */
  record H2cUpgrade(RequestHead request, long startNanos, long sequence, int tid) {}

  /** Set once a 101 switched the connection to HTTP/2: what follows is for an HTTP/2 decoder. */
  @Nullable H2cUpgrade upgrade() {
    return upgrade;
  }

  /** Where, in the last record, the HTTP/2 bytes after the 101 begin (-1: none in it). */
  long upgradedFrom() {
    return responses.opaqueFrom();
  }

  @Nullable String failure() {
    return requests.failed() ? "request: " + requests.failure() : responses.failed() ? "response: " + responses.failure() : null;
  }

  private static String version(int minor) {
    return switch (minor) {
      case 1 -> "1.1";
      case 0 -> "1.0";
      default -> "1." + minor;
    };
  }

  private final class RequestSide implements Http1Parser.Listener {
    @Override
    public void onMessageStart(long offsetInPiece) {
      // A server span starts when the request's first byte was there to read; a client span when
      // the application began to send it.
      long start = peer.role() == Peer.Role.SERVER ? eventExit : eventEnter;
      long onWire = insertedAt >= 0 && offsetInPiece >= insertedAt ? offsetInPiece + insertedLength : offsetInPiece;
      reading = new Pending(start, (eventSequence + onWire) & 0xffffffffL, eventTid);
    }

    @Override
    public void onHead(Http1Head head) {
      Pending request = reading;
      if (request == null) {
        return;
      }
      request.head = head;
      if (unanswered.size() >= MAX_PIPELINED) {
        stats.pipelineOverflows++;
        pipelineOverflow = true;
        requests.stop();
        responses.stop();
        return;
      }
      unanswered.addLast(request);
      request.request = new RequestHead(head.method(), head.target(), head.host(), scheme, head.userAgent(), null,
          head.traceparent(), head.tracestate());
      sink.onRequest(peer, request.tid, request.sequence, request.startNanos, request.request);
    }

    @Override
    public void onMessageEnd() {
      reading = null;
    }

    @Override
    public boolean answersHeadRequest() {
      return false;
    }
  }

  private final class ResponseSide implements Http1Parser.Listener {
    private @Nullable Pending matched;
    private @Nullable Http1Head response;

    @Override
    public void onMessageStart(long offsetInPiece) {
      matched = unanswered.peekFirst();
      response = null;
    }

    @Override
    public void onHead(Http1Head head) {
      if (matched == null) {
        stats.unmatchedResponses++;
        return;
      }
      if (head.isInterim()) {
        return; // 100 Continue and friends: the final response to the same request follows
      }
      response = head;
      if (head.status() == 101 || opensTunnel(matched, head)) {
        requests.stop(); // the connection now carries another protocol, or a tunnel
      }
    }

    @Override
    public void onMessageEnd() {
      Pending request = matched;
      Http1Head head = response;
      matched = null;
      response = null;
      if (request == null || head == null) {
        return;
      }
      unanswered.pollFirst();
      if (opensTunnel(request, head)) {
        responses.stop(); // the bytes after this head are the tunnel's, not HTTP/1
      }
      Http1Head sent = request.head;
      RequestHead what = request.request;
      if (head.status() == 101 && "h2c".equalsIgnoreCase(head.upgrade())) {
        // RFC 9113 §3.1 (RFC 7540 §3.2): the response to this request comes as HTTP/2 stream 1.
        upgrade = new H2cUpgrade(what, request.startNanos, request.sequence, request.tid);
        return;
      }
      stats.exchanges++;
      sink.onExchange(new HttpExchange(peer, request.tid, version(sent.minorVersion()), what,
          ResponseHead.http(head.status()), null, false, request.startNanos, eventExit, request.sequence));
    }

    @Override
    public boolean answersHeadRequest() {
      // No body follows a response to HEAD, nor a 2xx to CONNECT (RFC 9112 §6.3 rules 1 and 2).
      return matched != null && ("HEAD".equals(matched.head.method()) || opensTunnel(matched, response));
    }

    private static boolean opensTunnel(Pending request, @Nullable Http1Head response) {
      return response != null && "CONNECT".equals(request.head.method()) && response.status() / 100 == 2;
    }
  }
}
