package io.periscope.agent.testing;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.opentelemetry.proto.trace.v1.Status.StatusCode;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Checks Periscope's spans, as they arrived at {@link OtlpReceiver}, against the OpenTelemetry
 * semantic conventions {@value #VERSION}: the stable HTTP conventions, and the (then experimental)
 * RPC conventions for gRPC ({@code rpc.system}, {@code rpc.service}, {@code rpc.method},
 * {@code rpc.grpc.status_code}).
 *
 * <p>Only spans of the instrumentation scope {@value #SCOPE} are checked: others come from the
 * OpenTelemetry SDKs of the traced programs, which answer for their own.
 *
 * <p>Two deliberate allowances, for what the agent could not see: a span marked
 * {@code periscope.http2.headers_incomplete} (HPACK state the agent never saw) may lack what only the
 * undecodable headers could tell ({@code url.path} or {@code url.full}, and
 * {@code http.request.method_original} of an unknown method, {@code rpc.grpc.status_code}); a gRPC
 * span marked {@code periscope.exchange.unfollowed} (an exchange the agent lost before its end) may
 * lack {@code rpc.grpc.status_code}. What such a span does carry is checked like any other span's.
 */
public final class SemanticConventions {
  /** The version of the conventions these rules follow. */
  public static final String VERSION = "1.37.0";
  /** The instrumentation scope of Periscope's spans. */
  public static final String SCOPE = "io.periscope";

  private static final String HEADERS_INCOMPLETE = "periscope.http2.headers_incomplete";
  private static final String UNFOLLOWED = "periscope.exchange.unfollowed";
  private static final Set<String> HTTP_METHODS =
      Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY");
  private static final Set<String> HTTP_SCHEMES = Set.of("http", "https");
  /** gRPC status codes by number. */
  private static final List<String> GRPC_CODES = List.of("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED");
  /** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the codes that fail a server span. */
  private static final Set<Long> GRPC_SERVER_FAULTS = Set.of(2L, 4L, 12L, 13L, 14L, 15L);

  private SemanticConventions() {}

  /**
   * What is wrong with the span by the conventions, one human-readable line per broken rule, each
   * naming the span; empty when it conforms or is not Periscope's.
   */
  public static List<String> violations(ReceivedSpan span) {
    if (!SCOPE.equals(span.scopeName())) {
      return List.of();
    }
    Checker check = new Checker(span);
    check.everySpan();
    Object rpcSystem = span.attributes().get("rpc.system");
    if (rpcSystem != null) {
      check.grpc(rpcSystem);
    } else if (span.attributes().containsKey("http.request.method")) {
      check.http();
    } else {
      check.fail("neither an HTTP span (http.request.method) nor an RPC span (rpc.system)");
    }
    return check.violations;
  }

  /** Throws an {@link AssertionError} listing every violation of every span, if there is one. */
  public static void assertConform(Collection<ReceivedSpan> spans) {
    List<String> all = new ArrayList<>();
    for (ReceivedSpan span : spans) {
      all.addAll(violations(span));
    }
    if (!all.isEmpty()) {
      throw new AssertionError(message(all.size() + " violations of the OpenTelemetry semantic conventions "
          + VERSION + " in " + spans.size() + " spans:", all));
    }
  }

  /**
   * Every Periscope span with a parent names as its parent one of {@code spans} (of any scope) or
   * one of {@code externalParents}: span ids the test itself put into {@code traceparent} headers,
   * or spans of an SDK that does not export to the receiver.
   */
  public static void assertNoDanglingParents(Collection<ReceivedSpan> spans, Set<String> externalParents) {
    Set<String> known = new HashSet<>(externalParents);
    for (ReceivedSpan span : spans) {
      known.add(span.spanId());
    }
    List<String> dangling = new ArrayList<>();
    for (ReceivedSpan span : spans) {
      if (SCOPE.equals(span.scopeName()) && !span.isRoot() && !known.contains(span.parentSpanId())) {
        dangling.add(describe(span) + ": its parent " + span.parentSpanId()
            + " is neither a received span nor an external parent");
      }
    }
    if (!dangling.isEmpty()) {
      throw new AssertionError(message(dangling.size() + " spans with a parent that does not exist:", dangling));
    }
  }

  private static String message(String headline, List<String> lines) {
    StringBuilder message = new StringBuilder(headline);
    for (String line : lines) {
      message.append("\n  ").append(line);
    }
    return message.toString();
  }

  static String describe(ReceivedSpan span) {
    String kind = span.kind().name().startsWith("SPAN_KIND_")
        ? span.kind().name().substring("SPAN_KIND_".length()) : span.kind().name();
    return String.format(Locale.ROOT, "%s span \"%s\" %s (trace %s, pid %s, service %s)", kind, span.name(),
        span.spanId(), span.traceId(), span.resourceAttributes().get("process.pid"),
        span.resourceAttributes().get("service.name"));
  }

  /** The rules, applied to one span; every broken one adds a line. */
  private static final class Checker {
    private final ReceivedSpan span;
    private final Map<String, Object> attributes;
    private final boolean server;
    private final boolean client;
    private final boolean error;
    private final List<String> violations = new ArrayList<>();

    Checker(ReceivedSpan span) {
      this.span = span;
      this.attributes = span.attributes();
      this.server = span.kind() == SpanKind.SPAN_KIND_SERVER;
      this.client = span.kind() == SpanKind.SPAN_KIND_CLIENT;
      this.error = span.statusCode() == StatusCode.STATUS_CODE_ERROR;
    }

    void fail(String rule) {
      violations.add(describe(span) + ": " + rule);
    }

    void everySpan() {
      if (!server && !client) {
        fail("kind must be SERVER or CLIENT, is " + span.kind() + " (the rules of either kind are not applied)");
      }
      optional("thread.id", Long.class);
      String peerAddress = optional("network.peer.address", String.class);
      Long peerPort = optional("network.peer.port", Long.class);
      if (attributes.containsKey("network.peer.address") != attributes.containsKey("network.peer.port")) {
        fail("network.peer.port must be present if and only if network.peer.address is (address "
            + peerAddress + ", port " + peerPort + ")");
      }
      Map<String, Object> resource = span.resourceAttributes();
      Object serviceName = resource.get("service.name");
      if (!(serviceName instanceof String name) || name.isEmpty()) {
        fail("resource attribute service.name must be a non-empty string, is " + show(serviceName));
      }
      if (!(resource.get("process.pid") instanceof Long)) {
        fail("resource attribute process.pid must be an int, is " + show(resource.get("process.pid")));
      }
      for (String key : List.of("telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version")) {
        if (!(resource.get(key) instanceof String value) || value.isEmpty()) {
          fail("resource attribute " + key + " is required (a non-empty string), is " + show(resource.get(key)));
        }
      }
      String errorType = optional("error.type", String.class);
      if (attributes.containsKey("error.type") && !error) {
        fail("error.type (" + errorType + ") is set but the status is " + span.statusCode() + ", not ERROR");
      }
      if (error && !attributes.containsKey("error.type")) {
        fail("the status is ERROR but error.type is not set");
      }
      if (!span.statusMessage().isEmpty() && !error) {
        fail("a status message (\"" + span.statusMessage() + "\") is only for status ERROR, the status is "
            + span.statusCode());
      }
    }

    void http() {
      boolean incomplete = Boolean.TRUE.equals(attributes.get(HEADERS_INCOMPLETE));
      String method = optional("http.request.method", String.class);
      String original = optional("http.request.method_original", String.class);
      if (method != null && !HTTP_METHODS.contains(method) && !method.equals("_OTHER")) {
        fail("http.request.method must be a known method or _OTHER, is " + show(method));
      }
      if ("_OTHER".equals(method) && original == null && !incomplete) {
        fail("http.request.method _OTHER requires http.request.method_original");
      }
      if (original != null && original.equals(method)) {
        fail("http.request.method_original is only for a method other than http.request.method, is " + original);
      }
      String route = optional("http.route", String.class);
      if (method != null) {
        String base = method.equals("_OTHER") ? "HTTP" : method;
        String expected = route != null ? base + " " + route : base;
        if (!span.name().equals(expected)) {
          fail("the name must be \"" + expected + "\"");
        }
      }
      Long status = optional("http.response.status_code", Long.class);
      if (status != null && (status < 100 || status > 599)) {
        fail("http.response.status_code must be in 100..599, is " + status);
      }
      optional("network.protocol.version", String.class);
      optional("user_agent.original", String.class);
      String scheme = optional("url.scheme", String.class);
      if (scheme != null && !HTTP_SCHEMES.contains(scheme)) {
        fail("url.scheme must be http or https, is " + show(scheme));
      }
      if (server) {
        httpServer(incomplete, scheme);
        httpStatus(status);
      } else if (client) {
        httpClient(incomplete, scheme, route);
        httpStatus(status);
      }
    }

    private void httpServer(boolean incomplete, @Nullable String scheme) {
      String path = incomplete ? optional("url.path", String.class) : required("url.path", String.class);
      if (path != null && !path.startsWith("/")) {
        fail("url.path must start with \"/\", is " + show(path));
      }
      if (scheme == null) {
        fail("url.scheme is required on a SERVER span");
      }
      optional("url.query", String.class);
      absent("url.full", "a SERVER span names url.path and url.query, not url.full");
      optional("server.address", String.class);
      optional("server.port", Long.class);
      optional("client.address", String.class);
      optional("client.port", Long.class);
    }

    private void httpClient(boolean incomplete, @Nullable String scheme, @Nullable String route) {
      String full = incomplete ? optional("url.full", String.class) : required("url.full", String.class);
      if (full != null) {
        checkUrlFull(full, scheme);
      }
      required("server.address", String.class);
      required("server.port", Long.class);
      for (String key : List.of("url.path", "url.query", "client.address", "client.port")) {
        absent(key, "a CLIENT span does not carry " + key);
      }
      if (route != null) {
        fail("http.route is for SERVER spans only");
      }
    }

    private void checkUrlFull(String full, @Nullable String scheme) {
      URI uri;
      try {
        uri = new URI(full);
      } catch (URISyntaxException e) {
        fail("url.full must be an absolute URL, is " + show(full) + " (" + e.getMessage() + ")");
        return;
      }
      if (!uri.isAbsolute() || !HTTP_SCHEMES.contains(uri.getScheme())) {
        fail("url.full must be an absolute http or https URL, is " + show(full));
        return;
      }
      if (scheme != null && !scheme.equals(uri.getScheme())) {
        fail("url.scheme (" + scheme + ") must be the scheme of url.full (" + full + ")");
      }
      if (uri.getHost() == null) {
        fail("url.full must name a host, is " + show(full));
      }
      if (uri.getRawUserInfo() != null) {
        fail("url.full must not carry credentials (userinfo), is " + show(full));
      }
    }

    /**
     * A SERVER span fails on a 5xx, a CLIENT span on a 4xx or 5xx, and then error.type is the code;
     * either fails when the exchange itself failed, which error.type then names (a response cut
     * short after a 200 is still an error, as the conventions say).
     */
    private void httpStatus(@Nullable Long status) {
      Object errorType = attributes.get("error.type");
      long threshold = server ? 500 : 400;
      if (status != null && status >= threshold) {
        if (!error) {
          fail("status code " + status + " makes a " + (server ? "SERVER" : "CLIENT")
              + " span an error, the status is " + span.statusCode());
        }
        if (!Long.toString(status).equals(errorType)) {
          fail("error.type must be the status code \"" + status + "\" that made the span an error, is "
              + show(errorType));
        }
      } else if (status != null && Long.toString(status).equals(errorType)) {
        fail("error.type names the status code " + status + ", which is not an error for a "
            + (server ? "SERVER" : "CLIENT") + " span");
      }
    }

    void grpc(Object system) {
      if (!"grpc".equals(system)) {
        fail("rpc.system must be grpc, is " + show(system));
        return;
      }
      for (String key : attributes.keySet()) {
        if (key.startsWith("http.") || key.startsWith("url.")) {
          fail("a gRPC span carries no http.* or url.* attribute, has " + key);
        }
      }
      String service = optional("rpc.service", String.class);
      String method = optional("rpc.method", String.class);
      if (service != null && method != null && !span.name().equals(service + "/" + method)) {
        fail("the name must be \"" + service + "/" + method + "\"");
      }
      boolean hasErrorType = attributes.containsKey("error.type");
      boolean unknowable = Boolean.TRUE.equals(attributes.get(UNFOLLOWED))
          || Boolean.TRUE.equals(attributes.get(HEADERS_INCOMPLETE));
      Long code = hasErrorType || unknowable ? optional("rpc.grpc.status_code", Long.class)
          : required("rpc.grpc.status_code", Long.class);
      if (code != null && (code < 0 || code > 16)) {
        fail("rpc.grpc.status_code must be in 0..16, is " + code);
        code = null;
      }
      if (server) {
        optional("server.address", String.class);
        optional("server.port", Long.class);
        optional("client.address", String.class);
        optional("client.port", Long.class);
      } else if (client) {
        required("server.address", String.class);
        required("server.port", Long.class);
      } else {
        return;
      }
      boolean codeIsError = code != null && (server ? GRPC_SERVER_FAULTS.contains(code) : code != 0);
      boolean shouldBeError = codeIsError || (code == null && hasErrorType);
      if (shouldBeError != error) {
        fail("the status must be " + (shouldBeError ? "ERROR" : "UNSET") + " for "
            + (code == null ? "no rpc.grpc.status_code" : "rpc.grpc.status_code " + code)
            + (hasErrorType && code == null ? " and error.type " + show(attributes.get("error.type")) : "")
            + " on a " + (server ? "SERVER" : "CLIENT") + " span, is " + span.statusCode());
      }
      if (codeIsError && !GRPC_CODES.get(code.intValue()).equals(attributes.get("error.type"))) {
        fail("error.type must be the name of the status code that made the span an error, "
            + GRPC_CODES.get(code.intValue()) + ", is " + show(attributes.get("error.type")));
      }
    }

    private <T> @Nullable T optional(String key, Class<T> type) {
      Object value = attributes.get(key);
      if (value == null) {
        return null;
      }
      if (!type.isInstance(value)) {
        fail(key + " must be " + typeName(type) + ", is " + show(value));
        return null;
      }
      return type.cast(value);
    }

    private <T> @Nullable T required(String key, Class<T> type) {
      if (!attributes.containsKey(key)) {
        fail(key + " is required on a " + (server ? "SERVER" : "CLIENT") + " span");
        return null;
      }
      return optional(key, type);
    }

    private void absent(String key, String rule) {
      if (attributes.containsKey(key)) {
        fail(rule + " (" + key + " = " + show(attributes.get(key)) + ")");
      }
    }
  }

  private static String typeName(Class<?> type) {
    return type == Long.class ? "an int" : type == String.class ? "a string" : type.getSimpleName();
  }

  private static String show(@Nullable Object value) {
    if (value == null) {
      return "absent";
    }
    String text = value instanceof String s ? "\"" + s + "\"" : Objects.toString(value);
    return value instanceof String ? text : text + " (" + value.getClass().getSimpleName() + ")";
  }
}
