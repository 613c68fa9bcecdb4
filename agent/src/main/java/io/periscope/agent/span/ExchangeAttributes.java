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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * The attributes of an exchange span: a fixed set of keys, one slot each. The SDK's
 * {@code Attributes.builder()} sorts and de-duplicates its entries on every build, which showed as
 * a tenth of the capture thread's time; these keys are known and unique, so there is nothing to sort.
 * A span keeps only the values it has (about half the slots), with a bit per slot saying which.
 */
final class ExchangeAttributes implements Attributes {
  /** Each slot's key, in the order the slots are declared below (before KEYS): a slot's index is its place here. */
  private static final List<AttributeKey<?>> DECLARED = new ArrayList<>();

  static final Slot<String> HTTP_REQUEST_METHOD = slot(HttpAttributes.HTTP_REQUEST_METHOD);
  static final Slot<String> HTTP_REQUEST_METHOD_ORIGINAL = slot(HttpAttributes.HTTP_REQUEST_METHOD_ORIGINAL);
  static final Slot<Long> HTTP_RESPONSE_STATUS_CODE = slot(HttpAttributes.HTTP_RESPONSE_STATUS_CODE);
  static final Slot<String> NETWORK_PROTOCOL_VERSION = slot(NetworkAttributes.NETWORK_PROTOCOL_VERSION);
  static final Slot<String> NETWORK_PEER_ADDRESS = slot(NetworkAttributes.NETWORK_PEER_ADDRESS);
  static final Slot<Long> NETWORK_PEER_PORT = slot(NetworkAttributes.NETWORK_PEER_PORT);
  static final Slot<Long> THREAD_ID = slot(AttributeKey.longKey("thread.id"));
  static final Slot<String> URL_PATH = slot(UrlAttributes.URL_PATH);
  static final Slot<String> URL_QUERY = slot(UrlAttributes.URL_QUERY);
  static final Slot<String> URL_SCHEME = slot(UrlAttributes.URL_SCHEME);
  static final Slot<String> URL_FULL = slot(UrlAttributes.URL_FULL);
  static final Slot<String> SERVER_ADDRESS = slot(ServerAttributes.SERVER_ADDRESS);
  static final Slot<Long> SERVER_PORT = slot(ServerAttributes.SERVER_PORT);
  static final Slot<String> CLIENT_ADDRESS = slot(ClientAttributes.CLIENT_ADDRESS);
  static final Slot<Long> CLIENT_PORT = slot(ClientAttributes.CLIENT_PORT);
  static final Slot<String> USER_AGENT_ORIGINAL = slot(UserAgentAttributes.USER_AGENT_ORIGINAL);
  static final Slot<String> ERROR_TYPE = slot(ErrorAttributes.ERROR_TYPE);
  // The RPC conventions are incubating; their keys are spelled here rather than taken from the
  // incubating artifact, which is not meant for a stable dependency.
  static final Slot<String> RPC_SYSTEM = slot(AttributeKey.stringKey("rpc.system"));
  static final Slot<String> RPC_SERVICE = slot(AttributeKey.stringKey("rpc.service"));
  static final Slot<String> RPC_METHOD = slot(AttributeKey.stringKey("rpc.method"));
  static final Slot<Long> RPC_GRPC_STATUS_CODE = slot(AttributeKey.longKey("rpc.grpc.status_code"));
  /** Some HTTP/2 header fields could not be decoded (compression state the agent never saw): they are missing. */
  static final Slot<Boolean> HEADERS_INCOMPLETE = slot(AttributeKey.booleanKey("periscope.http2.headers_incomplete"));
  /** The agent lost the exchange before its end: its span exists because another names it as parent. */
  static final Slot<Boolean> UNFOLLOWED = slot(AttributeKey.booleanKey("periscope.exchange.unfollowed"));
  /** Why a span that could have had a parent on this node has none (TraceLinker). */
  static final Slot<String> LINK_UNLINKED = slot(AttributeKey.stringKey("periscope.link.unlinked"));
  /** The request's stitch key, when configured: see SpanFactory#stitchKey. */
  static final Slot<String> STITCH_KEY = slot(AttributeKey.stringKey("periscope.stitch_key"));

  private static final AttributeKey<?>[] KEYS = DECLARED.toArray(new AttributeKey<?>[0]);

  static {
    if (KEYS.length > Integer.SIZE) {
      throw new AssertionError("more slots than bits in the presence mask: " + KEYS.length);
    }
  }

  /**
   * One of the keys, with the index of its value: a span's attributes are put by slot, so putting
   * one is an array store, not a search among the keys.
   */
  static final class Slot<T> {
    final AttributeKey<T> key;
    final int index;

    private Slot(AttributeKey<T> key, int index) {
      this.key = key;
      this.index = index;
    }
  }

  private static <T> Slot<T> slot(AttributeKey<T> key) {
    DECLARED.add(key);
    return new Slot<>(key, DECLARED.size() - 1);
  }

  /** Bit i set: slot i has a value. */
  private final int present;
  /** The values of the slots present, in slot order. */
  private final Object[] values;

  private ExchangeAttributes(int present, Object[] values) {
    this.present = present;
    this.values = values;
  }

  static Builder builder() {
    return new Builder();
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T> @Nullable T get(AttributeKey<T> key) {
    int slot = indexOf(key);
    if (slot < 0 || (present & (1 << slot)) == 0) {
      return null;
    }
    return (T) values[Integer.bitCount(present & ((1 << slot) - 1))];
  }

  @Override
  public void forEach(BiConsumer<? super AttributeKey<?>, ? super Object> consumer) {
    int value = 0;
    for (int bits = present; bits != 0; bits &= bits - 1) {
      consumer.accept(KEYS[Integer.numberOfTrailingZeros(bits)], values[value++]);
    }
  }

  @Override
  public int size() {
    return values.length;
  }

  @Override
  public boolean isEmpty() {
    return values.length == 0;
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

  /** For readers (exporters) that ask by key. */
  private static int indexOf(AttributeKey<?> key) {
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

  /**
   * Collects the values of one span, each slot at most once; after {@link #build} it is empty
   * again, so one builder serves span after span (the span factory keeps one).
   */
  static final class Builder {
    private final Object[] slots = new Object[KEYS.length];
    private int present;

    <T> Builder put(Slot<T> slot, T value) {
      slots[slot.index] = value;
      present |= 1 << slot.index;
      return this;
    }

    /** Forgets what was put since the last build (a span given up halfway must leave nothing). */
    Builder clear() {
      for (int bits = present; bits != 0; bits &= bits - 1) {
        slots[Integer.numberOfTrailingZeros(bits)] = null;
      }
      present = 0;
      return this;
    }

    ExchangeAttributes build() {
      Object[] values = new Object[Integer.bitCount(present)];
      int value = 0;
      for (int bits = present; bits != 0; bits &= bits - 1) {
        int slot = Integer.numberOfTrailingZeros(bits);
        values[value++] = slots[slot];
        slots[slot] = null;
      }
      ExchangeAttributes built = new ExchangeAttributes(present, values);
      present = 0;
      return built;
    }
  }
}
