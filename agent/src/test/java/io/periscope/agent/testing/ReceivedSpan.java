package io.periscope.agent.testing;

import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One span as it arrived on the OTLP wire at {@link OtlpReceiver}, with the attributes of the
 * resource it was exported under and the name of its instrumentation scope ({@code io.periscope}
 * for the agent's own spans; an OpenTelemetry SDK names its instrumentation library).
 *
 * <p>Ids are lowercase hex, as in {@code traceparent}; {@code parentSpanId} is the empty string for
 * a root span. Attribute values are {@link String}, {@link Long}, {@link Double} or {@link Boolean};
 * OTLP arrays arrive as {@code List<Object>}, key-value lists as {@code Map<String, Object>} and
 * bytes as {@code byte[]}. Maps keep the order of the wire.
 */
public record ReceivedSpan(
    String traceId,
    String spanId,
    String parentSpanId,
    String name,
    Span.SpanKind kind,
    long startEpochNanos,
    long endEpochNanos,
    Status.StatusCode statusCode,
    String statusMessage,
    Map<String, Object> attributes,
    Map<String, Object> resourceAttributes,
    String scopeName) {

  private static final HexFormat HEX = HexFormat.of();

  public ReceivedSpan {
    Objects.requireNonNull(traceId, "traceId");
    Objects.requireNonNull(spanId, "spanId");
    Objects.requireNonNull(parentSpanId, "parentSpanId");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(statusCode, "statusCode");
    Objects.requireNonNull(statusMessage, "statusMessage");
    Objects.requireNonNull(scopeName, "scopeName");
    attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
    resourceAttributes = Collections.unmodifiableMap(new LinkedHashMap<>(resourceAttributes));
  }

  /**
   * Converts one decoded span; {@code resourceAttributes} are shared by the spans of one resource,
   * {@code scopeName} is the name of the instrumentation scope of its {@code ScopeSpans}.
   */
  static ReceivedSpan of(Span span, Map<String, Object> resourceAttributes, String scopeName) {
    return new ReceivedSpan(
        HEX.formatHex(span.getTraceId().toByteArray()),
        HEX.formatHex(span.getSpanId().toByteArray()),
        HEX.formatHex(span.getParentSpanId().toByteArray()),
        span.getName(),
        span.getKind(),
        span.getStartTimeUnixNano(),
        span.getEndTimeUnixNano(),
        span.getStatus().getCode(),
        span.getStatus().getMessage(),
        attributes(span.getAttributesList()),
        resourceAttributes,
        scopeName);
  }

  /** True when the span has no parent in its trace. */
  public boolean isRoot() {
    return parentSpanId.isEmpty();
  }

  /**
   * The request's path whatever the span's kind: {@code url.path} (a SERVER span's), else the path
   * of {@code url.full} (a CLIENT span's, by the stable HTTP conventions: "/" when the URL has
   * none), else null. The path is raw, percent-encoded as sent, like {@code url.path}.
   */
  public @Nullable String urlPath() {
    if (attributes.get("url.path") instanceof String path) {
      return path;
    }
    if (attributes.get("url.full") instanceof String full) {
      String path = UrlParts.of(full).path();
      return path.isEmpty() ? "/" : path;
    }
    return null;
  }

  /**
   * The request's query whatever the span's kind: {@code url.query}, else the raw query of
   * {@code url.full} (without the "?"), else null. Values are as the agent exported them
   * (redacted unless configured otherwise).
   */
  public @Nullable String urlQuery() {
    if (attributes.get("url.query") instanceof String query) {
      return query;
    }
    if (attributes.get("url.full") instanceof String full) {
      return UrlParts.of(full).query();
    }
    return null;
  }

  /**
   * The raw path ("" when none) and raw query (null when none) of an absolute URL, by
   * {@link URI}; a URL that it refuses (a client may send a target with characters a URI must
   * escape, and the agent exports it as sent) is split by hand at the first '/', '?' and '#' after
   * the authority.
   */
  private record UrlParts(String path, @Nullable String query) {
    static UrlParts of(String url) {
      try {
        URI uri = new URI(url);
        if (!uri.isOpaque()) {
          return new UrlParts(uri.getRawPath() == null ? "" : uri.getRawPath(), uri.getRawQuery());
        }
      } catch (URISyntaxException e) {
        // split by hand below
      }
      int schemeEnd = url.indexOf("://");
      int start = schemeEnd < 0 ? 0 : schemeEnd + 3;
      int fragment = url.indexOf('#', start);
      String rest = fragment < 0 ? url.substring(start) : url.substring(start, fragment);
      int pathStart = indexOfAny(rest, "/?");
      if (pathStart < 0) {
        return new UrlParts("", null);
      }
      int queryStart = rest.indexOf('?', pathStart);
      return queryStart < 0
          ? new UrlParts(rest.substring(pathStart), null)
          : new UrlParts(rest.substring(pathStart, queryStart), rest.substring(queryStart + 1));
    }
  }

  private static int indexOfAny(String s, String chars) {
    for (int i = 0; i < s.length(); i++) {
      if (chars.indexOf(s.charAt(i)) >= 0) {
        return i;
      }
    }
    return -1;
  }

  static Map<String, Object> attributes(List<KeyValue> keyValues) {
    Map<String, Object> attributes = new LinkedHashMap<>();
    for (KeyValue keyValue : keyValues) {
      Object value = value(keyValue.getValue());
      // OTLP allows an attribute without a value; the SDK never sends one. Leave it out rather than
      // hand tests a null.
      if (value != null) {
        attributes.put(keyValue.getKey(), value);
      }
    }
    return attributes;
  }

  private static Object value(AnyValue value) {
    return switch (value.getValueCase()) {
      case STRING_VALUE -> value.getStringValue();
      case BOOL_VALUE -> value.getBoolValue();
      case INT_VALUE -> value.getIntValue();
      case DOUBLE_VALUE -> value.getDoubleValue();
      case BYTES_VALUE -> value.getBytesValue().toByteArray();
      case ARRAY_VALUE -> {
        List<Object> values = new ArrayList<>();
        for (AnyValue element : value.getArrayValue().getValuesList()) {
          values.add(value(element));
        }
        yield Collections.unmodifiableList(values);
      }
      case KVLIST_VALUE -> Collections.unmodifiableMap(attributes(value.getKvlistValue().getValuesList()));
      // A string-table index only means something in profiles, which have the table; traces do not.
      case STRING_VALUE_STRINDEX, VALUE_NOT_SET -> null;
    };
  }
}
