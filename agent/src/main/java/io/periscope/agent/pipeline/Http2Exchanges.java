package io.periscope.agent.pipeline;

import io.periscope.agent.http2.HeaderBlock;
import io.periscope.agent.http2.HeaderField;
import io.periscope.agent.http2.HpackDecoder;
import io.periscope.agent.http2.Http2FrameReader;
import io.periscope.bpf.SocketEvent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * The streams of one HTTP/2 connection as one process sees it: every stream becomes an
 * {@link HttpExchange} when its response ends, or when it is reset ({@code RST_STREAM}) or refused
 * by a {@code GOAWAY}, which end it with an error. Streams interleave freely.
 *
 * <p>Each direction has its own frame reader and HPACK decoder. Who is the server is known from the
 * preface (the client sends it) or the first SETTINGS (each side sends one first); on a connection
 * joined midway it is learned from the first header block that shows a {@code :method} (a request)
 * or a {@code :status} (a response), which the static table can name even when nothing else decodes.
 *
 * <p>Bounded: at most {@link #MAX_STREAMS} streams are open per connection; a new one beyond that
 * pushes out the oldest (counted). A broken frame or header block fails the whole connection
 * (counted); lost bytes only cost the streams they hid.
 */
final class Http2Exchanges {
  /** Open streams tracked per connection (peers usually allow 100 at once). */
  static final int MAX_STREAMS = 1024;
  /** Longest grpc-message kept. */
  static final int MAX_GRPC_MESSAGE = 256;
  /** What gRPC libraries make of a {@code grpc-status} that is not a decimal number: UNKNOWN, never OK. */
  private static final int GRPC_UNKNOWN = 2;
  private static final int INGRESS = SocketEvent.DIRECTION_INGRESS;
  private static final int EGRESS = SocketEvent.DIRECTION_EGRESS;

  private final ExchangeSink sink;
  private final PipelineStats stats;
  private final Peer endpoints;
  private @Nullable Peer peer;
  private final Http2FrameReader[] readers = new Http2FrameReader[2];
  private final @Nullable HpackDecoder[] decoders = new HpackDecoder[2];
  /** SETTINGS_HEADER_TABLE_SIZE the receiver of each direction advertised, before its decoder exists. */
  private final long[] tableLimits = {-1, -1};
  private final boolean[] settingsSeen = new boolean[2];
  private final HeaderBlock fields = new HeaderBlock();
  private final StreamTable streams = new StreamTable(MAX_STREAMS);
  private @Nullable String failure;

  /**
   * @param endpoints who is on the connection; its role is a placeholder until {@code role} says
   * @param role      who this process is, when the first bytes told (preface, SETTINGS), else null
   */
  Http2Exchanges(Peer endpoints, Peer.@Nullable Role role, ExchangeSink sink, PipelineStats stats,
      boolean seenOpening) {
    this.endpoints = endpoints;
    this.sink = sink;
    this.stats = stats;
    readers[INGRESS] = Http2FrameReader.awaitingStart(new Direction(INGRESS), seenOpening);
    readers[EGRESS] = Http2FrameReader.awaitingStart(new Direction(EGRESS), seenOpening);
    if (role != null) {
      learnRole(role);
    }
  }

  /**
   * A connection that switched from HTTP/1.1 ({@code Upgrade: h2c}): the upgraded request is stream 1,
   * and the server's next bytes are its first frames.
   */
  static Http2Exchanges upgraded(Peer peer, RequestHead request, long startNanos, long sequence, int tid,
      ExchangeSink sink, PipelineStats stats) {
    Http2Exchanges h2 = new Http2Exchanges(peer, null, sink, stats, true);
    h2.peer = peer; // the sink heard of this connection when it was HTTP/1
    int responses = peer.role() == Peer.Role.SERVER ? EGRESS : INGRESS;
    h2.readers[responses] = Http2FrameReader.atFrameBoundary(h2.new Direction(responses));
    h2.streams.add(new Http2Stream(1, request, false, startNanos, sequence, tid));
    return h2;
  }

  /** Feeds one data record; false once the connection can no longer be parsed. */
  boolean onData(SocketEvent event) {
    return onData(event, 0);
  }

  /** Feeds a raw record from {@code offset}: the HTTP/2 bytes after a 101 in the same record. */
  boolean onData(SocketEvent event, int offset) {
    Http2FrameReader reader = readers[event.direction() & 1];
    reader.feed(event, offset);
    if (reader.failed() && failure == null) {
      failure = (event.direction() == INGRESS ? "read: " : "written: ") + reader.failure();
    }
    return failure == null;
  }

  @Nullable String failure() {
    return failure;
  }

  /** Who is on the connection, once its role is known. */
  @Nullable Peer peer() {
    return peer;
  }

  /**
   * The connection closed at {@code closedNanos}: each stream still open becomes an exchange that
   * ends there, with why it ended short, and is counted as incomplete.
   */
  void onClose(long closedNanos) {
    if (peer != null) {
      for (Http2Stream s = streams.oldest(); s != null; s = s.newer) {
        stats.exchanges++;
        sink.onExchange(new HttpExchange(peer, s.tid, "2", s.request, ResponseHead.of(s.status, s.grpcStatus,
            s.grpcMessage), s.responded ? HttpExchange.RESPONSE_INCOMPLETE : HttpExchange.CONNECTION_CLOSED,
            s.incomplete, s.startNanos, Math.max(closedNanos, s.startNanos), s.requestSequence));
      }
    }
    onEvicted();
  }

  /** The tracker gave up on the connection while it was open: streams still open are counted, never completed. */
  void onEvicted() {
    stats.incompleteExchanges += streams.size();
    streams.clear();
  }

  private void learnRole(Peer.Role role) {
    peer = endpoints.withRole(role);
    sink.onConnection(peer);
  }

  private int requestDirection() {
    return peer.role() == Peer.Role.SERVER ? INGRESS : EGRESS;
  }

  private HpackDecoder decoder(int direction) {
    HpackDecoder decoder = decoders[direction];
    if (decoder == null) {
      decoder = new HpackDecoder(readers[direction].fromStart());
      if (tableLimits[direction] >= 0) {
        decoder.setProtocolLimit(tableLimits[direction]);
      }
      decoders[direction] = decoder;
    }
    return decoder;
  }

  /** The frames of one direction. */
  private final class Direction implements Http2FrameReader.Listener {
    private final int direction;

    Direction(int direction) {
      this.direction = direction;
    }

    private Http2FrameReader reader() {
      return readers[direction];
    }

    /**
     * Decodes a block into {@link #fields}; false when the block is corrupt (the connection fails).
     * Of a truncated block, the fields before the cut are decoded and the rest are unknown.
     */
    private boolean decode(byte[] block, int length, boolean truncated) {
      HpackDecoder decoder = decoder(direction);
      if (!decoder.decode(block, 0, length, fields, truncated)) {
        failure = "HPACK: " + decoder.failure();
        return false;
      }
      return true;
    }

    @Override
    public void onHeaders(int stream, boolean endStream, byte[] block, int length, boolean truncated) {
      if (!decode(block, length, truncated)) {
        return;
      }
      if (peer == null) {
        // A connection joined midway: a request shows :method, a response :status.
        if (fields.get(HeaderField.METHOD) != null || fields.get(HeaderField.PATH) != null) {
          learnRole(direction == INGRESS ? Peer.Role.SERVER : Peer.Role.CLIENT);
        } else if (fields.get(HeaderField.STATUS) != null) {
          learnRole(direction == INGRESS ? Peer.Role.CLIENT : Peer.Role.SERVER);
        } else {
          return;
        }
      }
      if (direction == requestDirection()) {
        onRequestHeaders(stream, endStream);
      } else {
        onResponseHeaders(stream, endStream);
      }
    }

    private void onRequestHeaders(int stream, boolean endStream) {
      if (streams.get(stream) != null || (stream & 1) == 0) {
        return; // request trailers, or a stream the client did not open
      }
      if (fields.get(HeaderField.METHOD) == null && fields.get(HeaderField.PATH) == null && !fields.incomplete()) {
        // Not a request's head (RFC 9113 §8.3.1): the trailers of a stream that began before the
        // agent looked, or garbage. No span; its response is counted as one without a request.
        return;
      }
      String authority = fields.get(HeaderField.AUTHORITY);
      RequestHead request = new RequestHead(fields.get(HeaderField.METHOD), fields.get(HeaderField.PATH),
          authority != null ? authority : fields.get(HeaderField.HOST), fields.get(HeaderField.SCHEME),
          fields.get(HeaderField.USER_AGENT), fields.get(HeaderField.CONTENT_TYPE),
          fields.get(HeaderField.TRACEPARENT), fields.get(HeaderField.TRACESTATE));
      Http2FrameReader r = reader();
      // A server span starts when the request was there to read; a client span when it began to leave.
      long start = peer.role() == Peer.Role.SERVER ? r.blockExitNanos() : r.blockEnterNanos();
      Http2Stream opened = new Http2Stream(stream, request, fields.incomplete(), start, r.blockSequence(), r.blockTid());
      if (streams.add(opened) != null) {
        stats.http2StreamsEvicted++;
      }
      sink.onRequest(peer, opened.tid, opened.requestSequence, start, request);
    }

    private void onResponseHeaders(int id, boolean endStream) {
      Http2Stream stream = streams.get(id);
      if (stream == null) {
        if (!pushed(id)) {
          stats.unmatchedResponses++; // its request came before the agent started, or was lost
        }
        return;
      }
      stream.incomplete |= fields.incomplete();
      if (!stream.responded) {
        int status = status(fields.get(HeaderField.STATUS));
        if (status >= 100 && status < 200 && !endStream) {
          return; // an interim response: the final one follows
        }
        stream.status = status;
        stream.responded = true;
      }
      String grpcStatus = fields.get(HeaderField.GRPC_STATUS);
      if (grpcStatus != null) {
        int code = decimal(grpcStatus);
        stream.grpcStatus = code >= 0 ? code : GRPC_UNKNOWN;
        stream.grpcMessage = percentDecoded(fields.get(HeaderField.GRPC_MESSAGE));
      }
      if (endStream) {
        complete(id, null);
      }
    }

    /** Ids of streams the server pushed are even: nothing of theirs is a request we saw. */
    private boolean pushed(int id) {
      return (id & 1) == 0;
    }

    @Override
    public void onPushPromise(int stream, byte[] block, int length, boolean truncated) {
      decode(block, length, truncated); // for the compression state only
    }

    @Override
    public void onData(int stream, boolean endStream) {
      if (endStream && peer != null && direction != requestDirection()) {
        complete(stream, null);
      }
    }

    @Override
    public void onReset(int stream, long errorCode) {
      complete(stream, errorName(errorCode));
    }

    @Override
    public void onSettings(int[] ids, long[] values, int count) {
      int other = direction ^ 1;
      if (!settingsSeen[direction]) {
        settingsSeen[direction] = true;
        if (reader().fromStart()) {
          // The receiver's first SETTINGS: frames to it may now be no larger than it allows.
          readers[other].setMaxFrameSize(Http2FrameReader.DEFAULT_MAX_FRAME_SIZE);
        }
      }
      for (int i = 0; i < count; i++) {
        if (ids[i] == Http2FrameReader.SETTINGS_HEADER_TABLE_SIZE) {
          tableLimits[other] = values[i];
          if (decoders[other] != null) {
            decoders[other].setProtocolLimit(values[i]);
          }
        } else if (ids[i] == Http2FrameReader.SETTINGS_MAX_FRAME_SIZE) {
          readers[other].setMaxFrameSize(values[i]);
        }
      }
    }

    @Override
    public void onGoAway(int lastStream, long errorCode) {
      if (peer == null || direction == requestDirection()) {
        return; // a client's GOAWAY concerns streams the server would push
      }
      // RFC 9113 §6.8: streams above the last one the server processed were refused.
      for (Http2Stream s = streams.oldest(); s != null; ) {
        Http2Stream next = s.newer;
        if (s.id > lastStream) {
          complete(s.id, "GOAWAY");
        }
        s = next;
      }
    }

    @Override
    public void onLost() {
      stats.http2Resyncs++;
      if (decoders[direction] != null) {
        decoders[direction].forgetHistory();
      }
    }

    /** The stream ended (its response, or an error): it becomes an exchange if its request was seen. */
    private void complete(int id, @Nullable String error) {
      Http2Stream stream = streams.remove(id);
      if (stream == null || peer == null) {
        return;
      }
      stats.exchanges++;
      sink.onExchange(new HttpExchange(peer, stream.tid, "2", stream.request,
          ResponseHead.of(stream.status, stream.grpcStatus, stream.grpcMessage), error, stream.incomplete,
          stream.startNanos, reader().recordExitNanos(), stream.requestSequence));
    }
  }

  /** A {@code :status}; 0 when it is not one. */
  private static int status(@Nullable String digits) {
    return digits == null ? 0 : Math.max(decimal(digits), 0);
  }

  /** The value of 1 to 9 decimal digits; -1 for anything else. */
  private static int decimal(String digits) {
    if (digits.isEmpty() || digits.length() > 9) {
      return -1;
    }
    int value = 0;
    for (int i = 0; i < digits.length(); i++) {
      char c = digits.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }

  /** RFC 9113 §7 error code names; others as their number. */
  static String errorName(long code) {
    String[] names = {"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
        "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
    return code >= 0 && code < names.length ? names[(int) code] : Long.toString(code);
  }

  /** gRPC percent-encodes grpc-message (UTF-8 bytes outside printable ASCII, and '%'). */
  static @Nullable String percentDecoded(@Nullable String message) {
    if (message == null) {
      return null;
    }
    if (message.indexOf('%') < 0) {
      return message.length() <= MAX_GRPC_MESSAGE ? message : message.substring(0, MAX_GRPC_MESSAGE);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(message.length());
    for (int i = 0; i < message.length() && out.size() < MAX_GRPC_MESSAGE; i++) {
      char c = message.charAt(i);
      int hi;
      int lo;
      if (c == '%' && i + 2 < message.length() && (hi = Character.digit(message.charAt(i + 1), 16)) >= 0
          && (lo = Character.digit(message.charAt(i + 2), 16)) >= 0) {
        out.write(hi << 4 | lo);
        i += 2;
      } else {
        out.write(c);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
