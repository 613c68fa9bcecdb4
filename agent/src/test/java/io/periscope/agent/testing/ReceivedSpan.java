package io.periscope.agent.testing;

import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One span as it arrived on the OTLP wire at {@link OtlpReceiver}, with the attributes of the
 * resource it was exported under.
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
    Map<String, Object> resourceAttributes) {

  private static final HexFormat HEX = HexFormat.of();

  public ReceivedSpan {
    Objects.requireNonNull(traceId, "traceId");
    Objects.requireNonNull(spanId, "spanId");
    Objects.requireNonNull(parentSpanId, "parentSpanId");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(statusCode, "statusCode");
    Objects.requireNonNull(statusMessage, "statusMessage");
    attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
    resourceAttributes = Collections.unmodifiableMap(new LinkedHashMap<>(resourceAttributes));
  }

  /** Converts one decoded span; {@code resourceAttributes} are shared by the spans of one resource. */
  static ReceivedSpan of(Span span, Map<String, Object> resourceAttributes) {
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
        resourceAttributes);
  }

  /** True when the span has no parent in its trace. */
  public boolean isRoot() {
    return parentSpanId.isEmpty();
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
