package io.periscope.agent.span;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.trace.IdGenerator;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.opentelemetry.semconv.ClientAttributes;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import io.opentelemetry.semconv.UserAgentAttributes;
import io.periscope.agent.http1.Http1Head;
import io.periscope.agent.pipeline.ExchangeSink;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.trace.TraceParent;
import io.periscope.exporter.SpanSink;
import io.periscope.metadata.PeerNames;
import io.periscope.metadata.ResourceResolver;
import java.util.Set;

/**
 * Turns an observed exchange into an OpenTelemetry span with the stable HTTP semantic conventions:
 * a SERVER span for the process that answered, a CLIENT span for the one that asked. A server
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
  private final IdGenerator ids = IdGenerator.random();

  /** @param queryValues export query parameter values as sent; by default they are replaced by REDACTED */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, SpanSink sink, boolean queryValues) {
    this(clock, resources, PeerNames.NONE, sink, queryValues);
  }

  /** @param peers names for peer addresses (Kubernetes Services and pods), used in server.address and client.address */
  public SpanFactory(ClockAnchor clock, ResourceResolver resources, PeerNames peers, SpanSink sink,
      boolean queryValues) {
    this.clock = clock;
    this.resources = resources;
    this.peers = peers;
    this.sink = sink;
    this.queryValues = queryValues;
  }

  /** Spans every exchange on its own: a server with a valid {@code traceparent} joins the caller's trace. */
  @Override
  public void onExchange(HttpExchange exchange) {
    SpanContext parent = incomingParent(exchange);
    emit(exchange, childOf(parent), parent);
  }

  /** The caller's span context from a server request's {@code traceparent}, or the invalid context. */
  public static SpanContext incomingParent(HttpExchange exchange) {
    Http1Head request = exchange.request();
    if (exchange.peer().role() != Peer.Role.SERVER || request.traceparent() == null) {
      return SpanContext.getInvalid();
    }
    SpanContext incoming = TraceParent.parse(request.traceparent(), request.tracestate());
    return incoming != null ? incoming : SpanContext.getInvalid();
  }

  /** A new span's context: in the parent's trace, or (invalid parent) at the root of a new one. */
  public SpanContext childOf(SpanContext parent) {
    return parent.isValid()
        ? SpanContext.create(parent.getTraceId(), ids.generateSpanId(), parent.getTraceFlags(), parent.getTraceState())
        : SpanContext.create(ids.generateTraceId(), ids.generateSpanId(), TraceFlags.getSampled(), TraceState.getDefault());
  }

  /** Builds the span and hands it to the export queue (which counts what it must drop). */
  public void emit(HttpExchange exchange, SpanContext context, SpanContext parent) {
    sink.offer(toSpan(exchange, context, parent));
  }

  ExchangeSpan toSpan(HttpExchange exchange, SpanContext context, SpanContext parent) {
    Peer peer = exchange.peer();
    Http1Head request = exchange.request();
    Http1Head response = exchange.response();
    boolean server = peer.role() == Peer.Role.SERVER;

    String method = request.method();
    boolean known = KNOWN_METHODS.contains(method);
    ExchangeAttributes.Builder attributes = ExchangeAttributes.builder()
        .put(HttpAttributes.HTTP_REQUEST_METHOD, known ? method : "_OTHER")
        .put(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, response.status())
        // network.protocol.name and network.transport are left out: the conventions want them only
        // when they are not "http" and "tcp".
        .put(NetworkAttributes.NETWORK_PROTOCOL_VERSION, protocolVersion(request.minorVersion()))
        .put(NetworkAttributes.NETWORK_PEER_ADDRESS, peer.remoteHost())
        .put(NetworkAttributes.NETWORK_PEER_PORT, peer.remotePort())
        .put(ExchangeAttributes.THREAD_ID, exchange.tid());
    if (!known) {
      attributes.put(HttpAttributes.HTTP_REQUEST_METHOD_ORIGINAL, method);
    }
    RequestTarget target = RequestTarget.parse(request.target());
    if (target.path() != null) {
      attributes.put(UrlAttributes.URL_PATH, target.path());
    }
    if (target.query() != null) {
      attributes.put(UrlAttributes.URL_QUERY, queryValues ? target.query() : redactValues(target.query()));
    }
    attributes.put(UrlAttributes.URL_SCHEME, target.scheme() != null ? target.scheme() : "http");
    serverAddress(attributes, request, target, peer, server);
    if (server) {
      attributes.put(ClientAttributes.CLIENT_ADDRESS, peerName(peer));
      attributes.put(ClientAttributes.CLIENT_PORT, peer.remotePort());
    }
    if (request.userAgent() != null) {
      attributes.put(UserAgentAttributes.USER_AGENT_ORIGINAL, request.userAgent());
    }
    // Server spans fail on 5xx only (a 4xx is the client's mistake); client spans on 4xx and 5xx.
    int status = response.status();
    boolean error = status >= 500 || (!server && status >= 400);
    if (error) {
      attributes.put(ErrorAttributes.ERROR_TYPE, Integer.toString(status));
    }
    return new ExchangeSpan(
        known ? method : "HTTP",
        server ? SpanKind.SERVER : SpanKind.CLIENT,
        context,
        parent,
        error ? StatusData.create(StatusCode.ERROR, null) : StatusData.unset(),
        clock.toEpochNanos(exchange.startNanos()),
        clock.toEpochNanos(Math.max(exchange.endNanos(), exchange.startNanos())),
        attributes.build(),
        resources.resolve(peer.tgid(), peer.comm(), peer.localAddress()),
        SCOPE);
  }

  /**
   * server.address and server.port: the Host the client asked for, else the socket's server end. A
   * client that asked for the very address it is connected to (an IP, no name) gets the name the
   * metadata knows for it ({@code orders.shop} for a Service's cluster IP) instead.
   */
  private void serverAddress(ExchangeAttributes.Builder attributes, Http1Head request, RequestTarget target, Peer peer,
      boolean server) {
    String authority = target.authority() != null ? target.authority() : request.host();
    HostAndPort host = authority == null ? null : HostAndPort.parse(authority);
    if (host != null) {
      boolean peerAddress = !server && host.host().equals(peer.remoteHost());
      attributes.put(ServerAttributes.SERVER_ADDRESS, peerAddress ? peerName(peer) : host.host());
      attributes.put(ServerAttributes.SERVER_PORT, host.port() > 0 ? host.port() : server ? peer.localPort() : peer.remotePort());
    } else {
      attributes.put(ServerAttributes.SERVER_ADDRESS, server ? peer.localHost() : peerName(peer));
      attributes.put(ServerAttributes.SERVER_PORT, server ? peer.localPort() : peer.remotePort());
    }
  }

  /** The other end's name from metadata, else its address (network.peer.address always keeps the address). */
  private String peerName(Peer peer) {
    String name = peers.nameOf(peer.remoteAddress());
    return name != null ? name : peer.remoteHost();
  }

  private static String protocolVersion(int minor) {
    return switch (minor) {
      case 1 -> "1.1";
      case 0 -> "1.0";
      default -> "1." + minor;
    };
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
