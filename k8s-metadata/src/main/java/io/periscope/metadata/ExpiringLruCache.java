package io.periscope.metadata;

import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A bounded map whose entries also expire: at most {@code maxEntries} are kept, the least recently
 * used going first, and an entry is not returned at or after its expiry time. Expired entries are
 * dropped when they are looked up or pushed out by newer ones. Times are {@link System#nanoTime()}
 * values, compared overflow-safely. Thread-safe.
 */
final class ExpiringLruCache<K, V> {

  private record Expiring<V>(V value, long expiresAtNanos) {}

  private final LinkedHashMap<K, Expiring<V>> entries;

  ExpiringLruCache(int maxEntries) {
    // access order: get() moves an entry to the young end; removeEldestEntry trims the old end.
    this.entries = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<K, Expiring<V>> eldest) {
        return size() > maxEntries;
      }
    };
  }

  synchronized @Nullable V get(K key, long nowNanos) {
    Expiring<V> entry = entries.get(key);
    if (entry == null) {
      return null;
    }
    if (nowNanos - entry.expiresAtNanos() >= 0) {
      entries.remove(key);
      return null;
    }
    return entry.value();
  }

  synchronized void put(K key, V value, long expiresAtNanos) {
    entries.put(key, new Expiring<>(value, expiresAtNanos));
  }

  synchronized void remove(K key) {
    entries.remove(key);
  }

  synchronized int size() {
    return entries.size();
  }
}
