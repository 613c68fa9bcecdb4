package io.periscope.exporter.otlp;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.AttributeType;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.KeyValue;
import io.opentelemetry.api.common.Value;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * Encodes spans as an OTLP {@code ExportTraceServiceRequest} (opentelemetry-proto
 * {@code collector/trace/v1}), byte for byte what OpenTelemetry's own marshaler writes for a batch
 * of one resource and scope (TraceRequestEncoderTest compares the two).
 *
 * <p>Why not the SDK's marshaler: exporting was two thirds of the agent's CPU under load, measured
 * with JFR. That marshaler sizes every message before writing it (each span's attributes walked
 * twice), groups spans in hash maps keyed by resource and scope, and caches id bytes in another
 * map. This encoder writes backwards ({@link ReverseProtoWriter}) in one pass, groups by identity
 * (a process's spans share one {@link Resource}), and decodes hex ids straight into the buffer.
 *
 * <p>Not thread-safe; reused: the bytes of one request stay valid until the next {@link #encode}.
 */
final class TraceRequestEncoder {
  // opentelemetry-proto field numbers.
  private static final int REQUEST_RESOURCE_SPANS = 1;
  private static final int RESOURCE_SPANS_RESOURCE = 1;
  private static final int RESOURCE_SPANS_SCOPE_SPANS = 2;
  private static final int RESOURCE_SPANS_SCHEMA_URL = 3;
  private static final int RESOURCE_ATTRIBUTES = 1;
  private static final int SCOPE_SPANS_SCOPE = 1;
  private static final int SCOPE_SPANS_SPANS = 2;
  private static final int SCOPE_SPANS_SCHEMA_URL = 3;
  private static final int SCOPE_NAME = 1;
  private static final int SCOPE_VERSION = 2;
  private static final int SCOPE_ATTRIBUTES = 3;
  private static final int SPAN_TRACE_ID = 1;
  private static final int SPAN_SPAN_ID = 2;
  private static final int SPAN_TRACE_STATE = 3;
  private static final int SPAN_PARENT_SPAN_ID = 4;
  private static final int SPAN_NAME = 5;
  private static final int SPAN_KIND = 6;
  private static final int SPAN_START = 7;
  private static final int SPAN_END = 8;
  private static final int SPAN_ATTRIBUTES = 9;
  private static final int SPAN_DROPPED_ATTRIBUTES = 10;
  private static final int SPAN_EVENTS = 11;
  private static final int SPAN_DROPPED_EVENTS = 12;
  private static final int SPAN_LINKS = 13;
  private static final int SPAN_DROPPED_LINKS = 14;
  private static final int SPAN_STATUS = 15;
  private static final int SPAN_FLAGS = 16;
  private static final int EVENT_TIME = 1;
  private static final int EVENT_NAME = 2;
  private static final int EVENT_ATTRIBUTES = 3;
  private static final int EVENT_DROPPED_ATTRIBUTES = 4;
  private static final int LINK_TRACE_ID = 1;
  private static final int LINK_SPAN_ID = 2;
  private static final int LINK_TRACE_STATE = 3;
  private static final int LINK_ATTRIBUTES = 4;
  private static final int LINK_DROPPED_ATTRIBUTES = 5;
  private static final int LINK_FLAGS = 6;
  private static final int STATUS_MESSAGE = 2;
  private static final int STATUS_CODE = 3;
  private static final int KEY_VALUE_KEY = 1;
  private static final int KEY_VALUE_VALUE = 2;
  private static final int ANY_STRING = 1;
  private static final int ANY_BOOL = 2;
  private static final int ANY_INT = 3;
  private static final int ANY_DOUBLE = 4;
  private static final int ANY_ARRAY = 5;
  private static final int ANY_KVLIST = 6;
  private static final int ANY_BYTES = 7;
  private static final int ARRAY_VALUES = 1;
  private static final int KVLIST_VALUES = 1;

  // Span.flags (SpanFlags in trace.proto): the low byte is the W3C trace flags.
  private static final int FLAG_HAS_IS_REMOTE = 0x100;
  private static final int FLAG_IS_REMOTE = 0x200;

  private final ReverseProtoWriter out;
  private final List<ResourceGroup> groups = new ArrayList<>();
  private final AttributeCollector attributes = new AttributeCollector();

  TraceRequestEncoder() {
    // About 400 bytes a span: room for 160 before the buffer first grows.
    this(new ReverseProtoWriter(64 * 1024));
  }

  TraceRequestEncoder(ReverseProtoWriter out) {
    this.out = out;
  }

  /** The writer holding the encoded request. */
  ReverseProtoWriter encode(Collection<SpanData> spans) {
    out.reset();
    try {
      group(spans);
      for (int r = groups.size() - 1; r >= 0; r--) {
        writeResourceSpans(groups.get(r));
      }
      return out;
    } finally {
      // Also after a span that could not be encoded: the next batch starts from nothing.
      groups.clear();
      attributes.release();
    }
  }

  private void group(Collection<SpanData> spans) {
    ResourceGroup last = null;
    for (SpanData span : spans) {
      Resource resource = span.getResource();
      if (last == null || last.resource != resource) {
        last = groupOf(resource);
      }
      last.add(span);
    }
  }

  private ResourceGroup groupOf(Resource resource) {
    for (ResourceGroup group : groups) {
      if (group.resource == resource) {
        return group;
      }
    }
    // Equal but distinct resources (rare: the agent shares one per process) still share a group.
    for (ResourceGroup group : groups) {
      if (group.resource.equals(resource)) {
        return group;
      }
    }
    ResourceGroup group = new ResourceGroup(resource);
    groups.add(group);
    return group;
  }

  private void writeResourceSpans(ResourceGroup group) {
    int end = out.mark();
    writeString(RESOURCE_SPANS_SCHEMA_URL, group.resource.getSchemaUrl());
    for (int s = group.scopes.size() - 1; s >= 0; s--) {
      writeScopeSpans(group.scopes.get(s));
    }
    int resourceEnd = out.mark();
    writeAttributes(RESOURCE_ATTRIBUTES, group.resource.getAttributes());
    out.endMessage(RESOURCE_SPANS_RESOURCE, resourceEnd);
    out.endMessage(REQUEST_RESOURCE_SPANS, end);
  }

  private void writeScopeSpans(ScopeGroup group) {
    int end = out.mark();
    InstrumentationScopeInfo scope = group.scope;
    writeString(SCOPE_SPANS_SCHEMA_URL, scope.getSchemaUrl());
    for (int i = group.spans.size() - 1; i >= 0; i--) {
      writeSpan(group.spans.get(i));
    }
    int scopeEnd = out.mark();
    writeAttributes(SCOPE_ATTRIBUTES, scope.getAttributes());
    writeString(SCOPE_VERSION, scope.getVersion());
    writeString(SCOPE_NAME, scope.getName());
    out.endMessage(SCOPE_SPANS_SCOPE, scopeEnd);
    out.endMessage(RESOURCE_SPANS_SCOPE_SPANS, end);
  }

  private void writeSpan(SpanData span) {
    int end = out.mark();
    SpanContext context = span.getSpanContext();
    SpanContext parent = span.getParentSpanContext();
    out.fixed32Field(SPAN_FLAGS, flags(context, parent.isRemote()));
    writeStatus(span.getStatus());

    List<LinkData> links = span.getLinks();
    writeCount(SPAN_DROPPED_LINKS, span.getTotalRecordedLinks() - links.size());
    for (int i = links.size() - 1; i >= 0; i--) {
      writeLink(links.get(i));
    }
    List<EventData> events = span.getEvents();
    writeCount(SPAN_DROPPED_EVENTS, span.getTotalRecordedEvents() - events.size());
    for (int i = events.size() - 1; i >= 0; i--) {
      writeEvent(events.get(i));
    }
    Attributes spanAttributes = span.getAttributes();
    writeCount(SPAN_DROPPED_ATTRIBUTES, span.getTotalAttributeCount() - spanAttributes.size());
    writeAttributes(SPAN_ATTRIBUTES, spanAttributes);

    writeFixed64(SPAN_END, span.getEndEpochNanos());
    writeFixed64(SPAN_START, span.getStartEpochNanos());
    // SpanKind's proto numbers are its ordinal + 1 (INTERNAL = 1 ... CONSUMER = 5).
    out.varintField(SPAN_KIND, span.getKind().ordinal() + 1);
    writeString(SPAN_NAME, span.getName());
    if (parent.isValid()) {
      out.hexField(SPAN_PARENT_SPAN_ID, parent.getSpanId());
    }
    writeTraceState(SPAN_TRACE_STATE, context.getTraceState());
    out.hexField(SPAN_SPAN_ID, context.getSpanId());
    out.hexField(SPAN_TRACE_ID, context.getTraceId());
    out.endMessage(SCOPE_SPANS_SPANS, end);
  }

  private static int flags(SpanContext context, boolean remote) {
    return (context.getTraceFlags().asByte() & 0xff) | FLAG_HAS_IS_REMOTE | (remote ? FLAG_IS_REMOTE : 0);
  }

  private void writeStatus(StatusData status) {
    int end = out.mark();
    StatusCode code = status.getStatusCode();
    int protoCode =
        switch (code) {
          case UNSET -> 0;
          case OK -> 1;
          case ERROR -> 2;
        };
    if (protoCode != 0) {
      out.varintField(STATUS_CODE, protoCode);
    }
    writeString(STATUS_MESSAGE, status.getDescription());
    out.endMessage(SPAN_STATUS, end);
  }

  private void writeLink(LinkData link) {
    int end = out.mark();
    SpanContext context = link.getSpanContext();
    out.fixed32Field(LINK_FLAGS, flags(context, context.isRemote()));
    Attributes linkAttributes = link.getAttributes();
    writeCount(LINK_DROPPED_ATTRIBUTES, link.getTotalAttributeCount() - linkAttributes.size());
    writeAttributes(LINK_ATTRIBUTES, linkAttributes);
    writeTraceState(LINK_TRACE_STATE, context.getTraceState());
    out.hexField(LINK_SPAN_ID, context.getSpanId());
    out.hexField(LINK_TRACE_ID, context.getTraceId());
    out.endMessage(SPAN_LINKS, end);
  }

  private void writeEvent(EventData event) {
    int end = out.mark();
    Attributes eventAttributes = event.getAttributes();
    writeCount(EVENT_DROPPED_ATTRIBUTES, event.getTotalAttributeCount() - eventAttributes.size());
    writeAttributes(EVENT_ATTRIBUTES, eventAttributes);
    writeString(EVENT_NAME, event.getName());
    writeFixed64(EVENT_TIME, event.getEpochNanos());
    out.endMessage(SPAN_EVENTS, end);
  }

  /** Attributes as repeated KeyValue, in the order the attributes iterate. */
  private void writeAttributes(int field, Attributes attributes) {
    if (attributes.isEmpty()) {
      return;
    }
    AttributeCollector collected = this.attributes.collect(attributes);
    for (int i = collected.size - 1; i >= 0; i--) {
      int end = out.mark();
      writeAnyValue(KEY_VALUE_VALUE, collected.keys[i].getType(), collected.values[i]);
      writeString(KEY_VALUE_KEY, collected.keys[i].getKey());
      out.endMessage(field, end);
    }
  }

  private void writeAnyValue(int field, AttributeType type, Object value) {
    int end = out.mark();
    switch (type) {
      case STRING -> out.stringField(ANY_STRING, (String) value);
      case BOOLEAN -> writeBool((Boolean) value);
      case LONG -> writeInt((Long) value);
      case DOUBLE -> writeDouble((Double) value);
      case STRING_ARRAY, BOOLEAN_ARRAY, LONG_ARRAY, DOUBLE_ARRAY -> writeArray(type, (List<?>) value);
      case VALUE -> writeValueContent((Value<?>) value);
    }
    out.endMessage(field, end);
  }

  private void writeArray(AttributeType type, List<?> elements) {
    AttributeType elementType =
        switch (type) {
          case STRING_ARRAY -> AttributeType.STRING;
          case BOOLEAN_ARRAY -> AttributeType.BOOLEAN;
          case LONG_ARRAY -> AttributeType.LONG;
          default -> AttributeType.DOUBLE;
        };
    int end = out.mark();
    for (int i = elements.size() - 1; i >= 0; i--) {
      writeAnyValue(ARRAY_VALUES, elementType, elements.get(i));
    }
    out.endMessage(ANY_ARRAY, end);
  }

  /** The fields of an AnyValue holding {@code value} (the caller closes the message). */
  @SuppressWarnings("unchecked")
  private void writeValueContent(Value<?> value) {
    switch (value.getType()) {
      case STRING -> out.stringField(ANY_STRING, (String) value.getValue());
      case BOOLEAN -> writeBool((Boolean) value.getValue());
      case LONG -> writeInt((Long) value.getValue());
      case DOUBLE -> writeDouble((Double) value.getValue());
      case ARRAY -> {
        List<Value<?>> elements = (List<Value<?>>) value.getValue();
        int end = out.mark();
        for (int i = elements.size() - 1; i >= 0; i--) {
          int elementEnd = out.mark();
          writeValueContent(elements.get(i));
          out.endMessage(ARRAY_VALUES, elementEnd);
        }
        out.endMessage(ANY_ARRAY, end);
      }
      case KEY_VALUE_LIST -> {
        List<KeyValue> entries = (List<KeyValue>) value.getValue();
        int end = out.mark();
        for (int i = entries.size() - 1; i >= 0; i--) {
          int entryEnd = out.mark();
          int valueEnd = out.mark();
          writeValueContent(entries.get(i).getValue());
          out.endMessage(KEY_VALUE_VALUE, valueEnd);
          writeString(KEY_VALUE_KEY, entries.get(i).getKey());
          out.endMessage(KVLIST_VALUES, entryEnd);
        }
        out.endMessage(ANY_KVLIST, end);
      }
      case BYTES -> {
        ByteBuffer bytes = ((ByteBuffer) value.getValue()).duplicate();
        byte[] copy = new byte[bytes.remaining()];
        bytes.get(copy);
        out.bytesField(ANY_BYTES, copy);
      }
      case EMPTY -> {}
    }
  }

  // A oneof's field is written even when it holds its default value: that is how AnyValue says
  // which kind of value it has.

  private void writeBool(boolean value) {
    out.varintField(ANY_BOOL, value ? 1 : 0);
  }

  private void writeInt(long value) {
    out.varintField(ANY_INT, value);
  }

  private void writeDouble(double value) {
    out.fixed64Field(ANY_DOUBLE, Double.doubleToRawLongBits(value));
  }

  // proto3 leaves fields at their default value out; so do these.

  private void writeString(int field, @Nullable String value) {
    if (value != null && !value.isEmpty()) {
      out.stringField(field, value);
    }
  }

  private void writeFixed64(int field, long value) {
    if (value != 0) {
      out.fixed64Field(field, value);
    }
  }

  private void writeCount(int field, int count) {
    if (count > 0) {
      out.varintField(field, count);
    }
  }

  /** W3C tracestate text ({@code k1=v1,k2=v2}), the form OTLP carries. */
  private void writeTraceState(int field, TraceState traceState) {
    if (traceState.isEmpty()) {
      return;
    }
    StringBuilder text = new StringBuilder();
    traceState.forEach(
        (key, value) -> {
          if (!text.isEmpty()) {
            text.append(',');
          }
          text.append(key).append('=').append(value);
        });
    out.stringField(field, text.toString());
  }

  private static final class ResourceGroup {
    final Resource resource;
    final List<ScopeGroup> scopes = new ArrayList<>(1);
    private @Nullable ScopeGroup last;

    ResourceGroup(Resource resource) {
      this.resource = resource;
    }

    void add(SpanData span) {
      InstrumentationScopeInfo scope = span.getInstrumentationScopeInfo();
      if (last == null || (last.scope != scope && !last.scope.equals(scope))) {
        last = scopeGroup(scope);
      }
      last.spans.add(span);
    }

    private ScopeGroup scopeGroup(InstrumentationScopeInfo scope) {
      for (ScopeGroup group : scopes) {
        if (group.scope == scope || group.scope.equals(scope)) {
          return group;
        }
      }
      ScopeGroup group = new ScopeGroup(scope);
      scopes.add(group);
      return group;
    }
  }

  private record ScopeGroup(InstrumentationScopeInfo scope, List<SpanData> spans) {
    ScopeGroup(InstrumentationScopeInfo scope) {
      this(scope, new ArrayList<>());
    }
  }

  /**
   * Takes one {@link Attributes} apart into arrays, since the protobuf is written backwards and
   * attributes only iterate forwards. Reused: one consumer, arrays grown to the largest set seen.
   */
  private static final class AttributeCollector implements BiConsumer<AttributeKey<?>, Object> {
    AttributeKey<?>[] keys = new AttributeKey<?>[32];
    Object[] values = new Object[32];
    int size;
    // The most slots any collect of this request filled: what release() must clear.
    private int used;

    AttributeCollector collect(Attributes attributes) {
      size = 0;
      attributes.forEach(this);
      used = Math.max(used, size);
      return this;
    }

    @Override
    public void accept(AttributeKey<?> key, Object value) {
      if (size == keys.length) {
        keys = Arrays.copyOf(keys, size * 2);
        values = Arrays.copyOf(values, size * 2);
      }
      keys[size] = key;
      values[size] = value;
      size++;
    }

    /** Lets go of the values collected, once per request rather than per span. */
    void release() {
      Arrays.fill(keys, 0, used, null);
      Arrays.fill(values, 0, used, null);
      size = used = 0;
    }
  }
}
