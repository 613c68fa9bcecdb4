package io.periscope.agent.span;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.trace.IdGenerator;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.periscope.agent.pipeline.ExchangeSink;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.trace.TraceParent;
import io.periscope.exporter.SpanSink;
import io.periscope.metadata.PeerNames;
import io.periscope.metadata.ResourceResolver;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Turns an observed exchange into an OpenTelemetry span with the stable HTTP semantic conventions
 * (or, for a gRPC call, the RPC ones): a SERVER span for the process that answered, a CLIENT span
 * for the one that asked. A server
 * request carrying a valid W3C {@code traceparent} makes the span a child of the caller's span in
 * the caller's trace.
 */
public final class SpanFactory implements ExchangeSink {
  static final InstrumentationScopeInfo SCOPE = InstrumentationScopeInfo.builder("io.periscope")
      .setVersion(SpanFactory.class.getPackage().getImplementationVersion() == null
          ? "dev" : SpanFactory.class.getPackage().getImplementationVersion())
      .build();
  static final String REDACTED = "REDACTED";

  /** Methods the semantic conventions know; others are reported as _OTHER (http.request.method). */
  private static final Set<String> KNOWN_METHODS =
      Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY");

  private final ClockAnchor clock;
  private final ResourceResolver resources;
  private final PeerNames peers;
  private final SpanSink sink;
  private final boolean queryValues;
  private final TraceSampler sampler;
  private final boolean stitchKeys;
  private final IdGenerator ids = IdGenerator.random();
  private final AttributeBoxes boxes = new AttributeBoxes();
  private final RecentParses<HostAndPort> authorities = new RecentParses<>(HostAndPort::parse);
  private final RecentParses<GrpcMethod> grpcMethods = new RecentParses<>(GrpcMethod::parse);
  private long parentsDropped;
  /** Reused span after span: the pipeline thread builds one span at a time. */
  private final ExchangeAttributes.Builder attributeBuilder = ExchangeAttributes.builder();

  /** @param queryValues export query parameter values as sent; by default they are replaced by REDACTED */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, SpanSink sink, boolean queryValues) {
    this(clock, resources, PeerNames.NONE, sink, queryValues, TraceSampler.ALWAYS);
  }

  /** @param sampler which new traces are kept; spans with a parent follow the parent's sampled flag */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, SpanSink sink, boolean queryValues,
      TraceSampler sampler) {
    this(clock, resources, PeerNames.NONE, sink, queryValues, sampler);
  }

  /**
   * @param peers   names for peer addresses (Kubernetes Services and pods), used in server.address and client.address
   * @param sampler which new traces are kept; spans with a parent follow the parent's sampled flag
   */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, PeerNames peers, SpanSink sink,
      boolean queryValues, TraceSampler sampler) {
    this(clock, resources, peers, sink, queryValues, sampler, false);
  }

  /**
   * @param stitchKeys put {@code periscope.stitch_key} on every span: the client's endpoint and the
   *                   TCP sequence number of the request's first byte, the same on both ends, so
   *                   that spans of one request seen by agents on two nodes can be joined
   */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, PeerNames peers, SpanSink sink,
      boolean queryValues, TraceSampler sampler, boolean stitchKeys) {
    this.stitchKeys = stitchKeys;
    this.clock = clock;
    this.resources = resources;
    this.peers = peers;
    this.sink = sink;
    this.queryValues = queryValues;
    this.sampler = sampler;
  }

  /**
   * Looks the process up as soon as one of its connections is recognised, while it surely runs: a
   * short-lived client (a one-shot curl) may be gone by the time its span is built, and the
   * resolver's cache then still knows it.
   */
  @Override
  public void onConnection(Peer peer) {
    resources.resolve(peer.tgid(), peer.comm(), peer.localAddress());
  }

  /** Spans every exchange on its own: a server with a valid {@code traceparent} joins the caller's trace. */
  @Override
  public void onExchange(HttpExchange exchange) {
    SpanContext parent = incomingParent(exchange);
    emit(exchange, childOf(parent), parent);
  }

  /** The caller's span context from a server request's {@code traceparent}, or the invalid context. */
  public static SpanContext incomingParent(HttpExchange exchange) {
    RequestHead request = exchange.request();
    if (exchange.peer().role() != Peer.Role.SERVER || request.traceparent() == null) {
      return SpanContext.getInvalid();
    }
    SpanContext incoming = TraceParent.parse(request.traceparent(), request.tracestate());
    return incoming != null ? incoming : SpanContext.getInvalid();
  }

  /**
   * A new span's context: in the parent's trace with the parent's sampled flag, or (invalid parent)
   * at the root of a new trace, sampled as the sampler decides.
   */
  public SpanContext childOf(SpanContext parent) {
    if (parent.isValid()) {
      return SpanContext.create(parent.getTraceId(), ids.generateSpanId(), parent.getTraceFlags(),
          parent.getTraceState());
    }
    String traceId = ids.generateTraceId();
    TraceFlags flags = sampler.sampleNewTrace(traceId) ? TraceFlags.getSampled() : TraceFlags.getDefault();
    return SpanContext.create(traceId, ids.generateSpanId(), flags, TraceState.getDefault());
  }

  /** A root span's context in a trace whose id was chosen already (by the kernel, for injection). */
  public SpanContext rootIn(String traceId) {
    TraceFlags flags = sampler.sampleNewTrace(traceId) ? TraceFlags.getSampled() : TraceFlags.getDefault();
    return SpanContext.create(traceId, ids.generateSpanId(), flags, TraceState.getDefault());
  }

  /**
   * Builds the span and hands it to the export queue (which counts what it must drop), unless its
   * trace is not sampled: then it is only counted. (The context is still used for linking, so the
   * server span of an unsampled client is dropped too.)
   */
  public void emit(HttpExchange exchange, SpanContext context, SpanContext parent) {
    emit(exchange, context, parent, null);
  }

  /** @param unlinked why a span that could have had a parent on this node has none, or null */
  public void emit(HttpExchange exchange, SpanContext context, SpanContext parent, @Nullable String unlinked) {
    emit(exchange, context, parent, unlinked, false);
  }

  /**
   * @param parentOfOthers spans on this node name this one as their parent: the export queue keeps
   *     room for it ({@link SpanSink#offerParent}), and its loss is counted apart
   */
  public void emit(HttpExchange exchange, SpanContext context, SpanContext parent, @Nullable String unlinked,
      boolean parentOfOthers) {
    if (!context.isSampled()) {
      sampler.notSampled++;
      return;
    }
    ExchangeSpan span = toSpan(exchange, context, parent, unlinked);
    if (!parentOfOthers) {
      sink.offer(span);
    } else if (!sink.offerParent(span)) {
      parentsDropped++;
    }
  }

  /** Spans other spans named as parent, dropped by a full export queue: their children's parents are missing. */
  public long parentsDropped() {
    return parentsDropped;
  }

  ExchangeSpan toSpan(HttpExchange exchange, SpanContext context, SpanContext parent) {
    return toSpan(exchange, context, parent, null);
  }

  ExchangeSpan toSpan(HttpExchange exchange, SpanContext context, SpanContext parent, @Nullable String unlinked) {
    Peer peer = exchange.peer();
    boolean server = peer.role() == Peer.Role.SERVER;
    Long remotePort = boxes.of(peer.remotePort());
    ExchangeAttributes.Builder attributes = attributeBuilder.clear()
        .put(ExchangeAttributes.NETWORK_PEER_ADDRESS, peer.remoteHost())
        .put(ExchangeAttributes.NETWORK_PEER_PORT, remotePort)
        .put(ExchangeAttributes.THREAD_ID, boxes.of(exchange.tid()));
    if (server) {
      attributes.put(ExchangeAttributes.CLIENT_ADDRESS, peerName(peer));
      attributes.put(ExchangeAttributes.CLIENT_PORT, remotePort);
    }
    if (exchange.headersIncomplete()) {
      attributes.put(ExchangeAttributes.HEADERS_INCOMPLETE, true);
    }
    if (unlinked != null) {
      attributes.put(ExchangeAttributes.LINK_UNLINKED, unlinked);
    }
    if (stitchKeys) {
      attributes.put(ExchangeAttributes.STITCH_KEY, stitchKey(exchange));
    }
    RequestHead request = exchange.request();
    RequestTarget target = RequestTarget.parse(request.target());
    HostAndPort authority = serverAddress(attributes, request, target, peer, server);
    String name;
    StatusData status;
    if (request.isGrpc()) {
      GrpcMethod method = request.target() == null ? null : grpcMethods.parse(request.target());
      name = method != null ? method.spanName() : request.method() != null ? request.method() : "grpc";
      status = grpc(exchange, method, attributes, server);
    } else {
      String method = request.method();
      boolean known = method != null && KNOWN_METHODS.contains(method);
      name = known ? method : "HTTP";
      status = http(exchange, known, target, authority, attributes, server);
    }
    return new ExchangeSpan(
        name,
        server ? SpanKind.SERVER : SpanKind.CLIENT,
        context,
        parent,
        status,
        clock.toEpochNanos(exchange.startNanos()),
        clock.toEpochNanos(Math.max(exchange.endNanos(), exchange.startNanos())),
        attributes.build(),
        resources.resolve(peer.tgid(), peer.comm(), peer.localAddress()),
        SCOPE);
  }

  /** The stable HTTP conventions: HTTP/1.x, and HTTP/2 requests that are not gRPC. Returns the span's status. */
  private StatusData http(HttpExchange exchange, boolean knownMethod, RequestTarget target,
      @Nullable HostAndPort authority, ExchangeAttributes.Builder attributes, boolean server) {
    RequestHead request = exchange.request();
    String method = request.method();
    attributes.put(ExchangeAttributes.HTTP_REQUEST_METHOD, knownMethod ? method : "_OTHER");
    if (!knownMethod && method != null) {
      attributes.put(ExchangeAttributes.HTTP_REQUEST_METHOD_ORIGINAL, method);
    }
    // network.protocol.name and network.transport are left out: the conventions want them only
    // when they are not "http" and "tcp".
    if (exchange.protocolVersion() != null) {
      attributes.put(ExchangeAttributes.NETWORK_PROTOCOL_VERSION, exchange.protocolVersion());
    }
    String given = target.scheme() != null ? target.scheme() : request.scheme();
    String scheme = given != null ? given : "http";
    String query = target.query() == null ? null : queryValues ? target.query() : redactValues(target.query());
    attributes.put(ExchangeAttributes.URL_SCHEME, scheme);
    if (server) {
      // A server span says where the request went by path and query; a client span by its whole URL.
      if (target.path() != null) {
        attributes.put(ExchangeAttributes.URL_PATH, target.path());
      }
      if (query != null) {
        attributes.put(ExchangeAttributes.URL_QUERY, query);
      }
    } else if (request.target() != null) {
      // (Not when the target could not be decoded: a URL is never made up.)
      attributes.put(ExchangeAttributes.URL_FULL, urlFull(scheme, authority, exchange.peer(), target, query));
    }
    if (request.userAgent() != null) {
      attributes.put(ExchangeAttributes.USER_AGENT_ORIGINAL, request.userAgent());
    }
    int status = exchange.response().status();
    if (status > 0) {
      attributes.put(ExchangeAttributes.HTTP_RESPONSE_STATUS_CODE, boxes.of(status));
    }
    // Server spans fail on 5xx only (a 4xx is the client's mistake); client spans on 4xx and 5xx.
    if (status >= 500 || (!server && status >= 400)) {
      attributes.put(ExchangeAttributes.ERROR_TYPE, Integer.toString(status));
      return StatusData.error();
    }
    return streamError(exchange, attributes);
  }

  /**
   * The gRPC conventions: named {@code package.Service/Method}, with {@code rpc.*} attributes. A
   * client span fails on every status but OK; a server span only on the codes that say the server
   * failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), as the
   * OpenTelemetry gRPC instrumentations do: NOT_FOUND or INVALID_ARGUMENT is the caller's problem.
   * Returns the span's status.
   */
  private StatusData grpc(HttpExchange exchange, @Nullable GrpcMethod method, ExchangeAttributes.Builder attributes,
      boolean server) {
    attributes.put(ExchangeAttributes.RPC_SYSTEM, "grpc");
    if (method != null) {
      attributes.put(ExchangeAttributes.RPC_SERVICE, method.service());
      attributes.put(ExchangeAttributes.RPC_METHOD, method.method());
    }
    int code = exchange.response().grpcStatus();
    if (HttpExchange.UNFOLLOWED.equals(exchange.streamError())) {
      return streamError(exchange, attributes); // no status was seen, and no error either
    }
    if (code == ResponseHead.NO_GRPC_STATUS && exchange.streamError() != null) {
      code = GrpcMethod.statusOfStreamError(exchange.streamError());
    } else if (code == ResponseHead.NO_GRPC_STATUS && exchange.response().status() > 0) {
      code = GrpcMethod.statusOfHttpStatus(exchange.response().status());
    }
    if (code == ResponseHead.NO_GRPC_STATUS) {
      return StatusData.unset();
    }
    attributes.put(ExchangeAttributes.RPC_GRPC_STATUS_CODE, boxes.of(code));
    if (code == 0 || (server && !GrpcMethod.isServerFault(code))) {
      return StatusData.unset();
    }
    attributes.put(ExchangeAttributes.ERROR_TYPE, GrpcMethod.statusName(code));
    String message = exchange.response().grpcMessage();
    return message == null ? StatusData.error() : StatusData.create(StatusCode.ERROR, message);
  }

  /**
   * Why the exchange ended without a complete response, as its {@code error.type}; or, for an
   * exchange the agent did not follow to its end, only that it did not (no error is known).
   */
  private static StatusData streamError(HttpExchange exchange, ExchangeAttributes.Builder attributes) {
    String error = exchange.streamError();
    if (error == null) {
      return StatusData.unset();
    }
    if (error.equals(HttpExchange.UNFOLLOWED)) {
      attributes.put(ExchangeAttributes.UNFOLLOWED, true);
      return StatusData.unset();
    }
    attributes.put(ExchangeAttributes.ERROR_TYPE, error);
    return StatusData.error();
  }

  /**
   * server.address and server.port: the Host the client asked for, else the socket's server end. A
   * client that asked for the very address it is connected to (an IP, no name) gets the name the
   * metadata knows for it ({@code orders.shop} for a Service's cluster IP) instead.
   */
  private @Nullable HostAndPort serverAddress(ExchangeAttributes.Builder attributes, RequestHead request,
      RequestTarget target, Peer peer, boolean server) {
    String authority = target.authority() != null ? target.authority() : request.authority();
    HostAndPort host = authority == null ? null : authorities.parse(authority);
    if (host != null) {
      boolean peerAddress = !server && host.host().equals(peer.remoteHost());
      attributes.put(ExchangeAttributes.SERVER_ADDRESS, peerAddress ? peerName(peer) : host.host());
      attributes.put(ExchangeAttributes.SERVER_PORT,
          boxes.of(host.port() > 0 ? host.port() : server ? peer.localPort() : peer.remotePort()));
    } else {
      attributes.put(ExchangeAttributes.SERVER_ADDRESS, server ? peer.localHost() : peerName(peer));
      attributes.put(ExchangeAttributes.SERVER_PORT, boxes.of(server ? peer.localPort() : peer.remotePort()));
    }
    return host;
  }

  /**
   * A client span's {@code url.full}: the URL the client asked for, {@code scheme://host[:port]path[?query]},
   * with the host as the request named it (its Host or {@code :authority}, never userinfo), else the
   * address it connected to; the port only when it is not the scheme's default; query values as
   * {@code url.query} would carry them (redacted unless configured).
   */
  static String urlFull(String scheme, @Nullable HostAndPort authority, Peer peer, RequestTarget target,
      @Nullable String query) {
    String host = authority != null ? authority.host() : peer.remoteHost();
    int port = authority != null ? authority.port() : peer.remotePort();
    StringBuilder url = new StringBuilder(64).append(scheme).append("://");
    if (host.indexOf(':') >= 0) {
      url.append('[').append(host).append(']');
    } else {
      url.append(host);
    }
    if (port > 0 && port != defaultPort(scheme)) {
      url.append(':').append(port);
    }
    if (target.path() != null) {
      url.append(target.path()); // none for CONNECT's host:port and OPTIONS' *
    }
    if (query != null) {
      url.append('?').append(query);
    }
    return url.toString();
  }

  private static int defaultPort(String scheme) {
    return switch (scheme) {
      case "http" -> 80;
      case "https" -> 443;
      default -> -1;
    };
  }

  /** The other end's name from metadata, else its address (network.peer.address always keeps the address). */
  private String peerName(Peer peer) {
    String name = peers.nameOf(peer.remoteAddress());
    return name != null ? name : peer.remoteHost();
  }

  /**
   * The client's endpoint and the request's first TCP sequence number, {@code 10.0.0.7:41234/3021187}:
   * what both ends of one request share, whichever node each is traced on and whatever NAT lies
   * between (DNAT rewrites the server's address, not the client's, nor the sequence numbers).
   */
  static String stitchKey(HttpExchange exchange) {
    Peer peer = exchange.peer();
    boolean server = peer.role() == Peer.Role.SERVER;
    String host = server ? peer.remoteHost() : peer.localHost();
    int port = server ? peer.remotePort() : peer.localPort();
    return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port + "/" + exchange.requestSequence();
  }

  /** "a=1&b=2" becomes "a=REDACTED&b=REDACTED": names stay useful, values may be secrets. */
  static String redactValues(String query) {
    StringBuilder out = new StringBuilder(query.length());
    int start = 0;
    while (start <= query.length()) {
      int amp = query.indexOf('&', start);
      int end = amp < 0 ? query.length() : amp;
      int eq = query.indexOf('=', start);
      if (eq >= 0 && eq < end) {
        out.append(query, start, eq + 1).append(REDACTED);
      } else {
        out.append(query, start, end);
      }
      if (amp < 0) {
        break;
      }
      out.append('&');
      start = amp + 1;
    }
    return out.toString();
  }
}
