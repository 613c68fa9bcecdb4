package io.periscope.agent.span;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.semconv.ClientAttributes;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import io.opentelemetry.semconv.UserAgentAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * The attributes of an exchange span: a fixed set of keys, one slot each. The SDK's
 * {@code Attributes.builder()} sorts and de-duplicates its entries on every build, which showed as
 * a tenth of the capture thread's time; these keys are known and unique, so there is nothing to sort.
 */
final class ExchangeAttributes implements Attributes {
  static final AttributeKey<Long> THREAD_ID = AttributeKey.longKey("thread.id");
  // The RPC conventions are incubating; their keys are spelled here rather than taken from the
  // incubating artifact, which is not meant for a stable dependency.
  static final AttributeKey<String> RPC_SYSTEM = AttributeKey.stringKey("rpc.system");
  static final AttributeKey<String> RPC_SERVICE = AttributeKey.stringKey("rpc.service");
  static final AttributeKey<String> RPC_METHOD = AttributeKey.stringKey("rpc.method");
  static final AttributeKey<Long> RPC_GRPC_STATUS_CODE = AttributeKey.longKey("rpc.grpc.status_code");
  /** Some HTTP/2 header fields could not be decoded (compression state the agent never saw): they are missing. */
  static final AttributeKey<Boolean> HEADERS_INCOMPLETE = AttributeKey.booleanKey("periscope.http2.headers_incomplete");
  /** Why a span that could have had a parent on this node has none (TraceLinker). */
  static final AttributeKey<String> LINK_UNLINKED = AttributeKey.stringKey("periscope.link.unlinked");
  /** The request's stitch key, when configured: see SpanFactory#stitchKey. */
  static final AttributeKey<String> STITCH_KEY = AttributeKey.stringKey("periscope.stitch_key");

  private static final AttributeKey<?>[] KEYS = {
    HttpAttributes.HTTP_REQUEST_METHOD,
    HttpAttributes.HTTP_REQUEST_METHOD_ORIGINAL,
    HttpAttributes.HTTP_RESPONSE_STATUS_CODE,
    NetworkAttributes.NETWORK_PROTOCOL_VERSION,
    NetworkAttributes.NETWORK_PEER_ADDRESS,
    NetworkAttributes.NETWORK_PEER_PORT,
    THREAD_ID,
    UrlAttributes.URL_PATH,
    UrlAttributes.URL_QUERY,
    UrlAttributes.URL_SCHEME,
    ServerAttributes.SERVER_ADDRESS,
    ServerAttributes.SERVER_PORT,
    ClientAttributes.CLIENT_ADDRESS,
    ClientAttributes.CLIENT_PORT,
    UserAgentAttributes.USER_AGENT_ORIGINAL,
    ErrorAttributes.ERROR_TYPE,
    RPC_SYSTEM,
    RPC_SERVICE,
    RPC_METHOD,
    RPC_GRPC_STATUS_CODE,
    HEADERS_INCOMPLETE,
    LINK_UNLINKED,
    STITCH_KEY,
  };

  private final Object[] values;
  private final int size;

  private ExchangeAttributes(Object[] values, int size) {
    this.values = values;
    this.size = size;
  }

  static Builder builder() {
    return new Builder();
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T> @Nullable T get(AttributeKey<T> key) {
    int slot = slot(key);
    return slot < 0 ? null : (T) values[slot];
  }

  @Override
  public void forEach(BiConsumer<? super AttributeKey<?>, ? super Object> consumer) {
    for (int i = 0; i < KEYS.length; i++) {
      if (values[i] != null) {
        consumer.accept(KEYS[i], values[i]);
      }
    }
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public boolean isEmpty() {
    return size == 0;
  }

  @Override
  public Map<AttributeKey<?>, Object> asMap() {
    Map<AttributeKey<?>, Object> map = new LinkedHashMap<>();
    forEach(map::put);
    return map;
  }

  @Override
  public AttributesBuilder toBuilder() {
    return Attributes.builder().putAll(this);
  }

  @Override
  public String toString() {
    return asMap().toString();
  }

  private static int slot(AttributeKey<?> key) {
    for (int i = 0; i < KEYS.length; i++) {
      if (KEYS[i] == key) {
        return i;
      }
    }
    for (int i = 0; i < KEYS.length; i++) {
      if (KEYS[i].equals(key)) {
        return i; // an equal key made elsewhere
      }
    }
    return -1;
  }

  /** Collects the values; each key at most once. */
  static final class Builder {
    private final Object[] values = new Object[KEYS.length];
    private int size;

    <T> Builder put(AttributeKey<T> key, T value) {
      int slot = slot(key);
      if (slot < 0) {
        throw new IllegalArgumentException("not an exchange attribute: " + key);
      }
      if (values[slot] == null) {
        size++;
      }
      values[slot] = value;
      return this;
    }

    Builder put(AttributeKey<Long> key, long value) {
      return put(key, (Long) value);
    }

    Builder put(AttributeKey<Boolean> key, boolean value) {
      return put(key, (Boolean) value);
    }

    ExchangeAttributes build() {
      return new ExchangeAttributes(values.clone(), size);
    }
  }
}
