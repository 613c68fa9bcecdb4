package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * The tracked connections by kernel socket address, least recently used first: what the
 * connection tracker looks up for every record. A {@code LinkedHashMap<Long, Connection>} in
 * access order did the same but boxed the socket address on every lookup, the one allocation per
 * record left on the pipeline. Here the key stays a {@code long}; an entry is made per connection,
 * never per record. Single-threaded, like the tracker; the tracker bounds its size.
 */
final class ConnectionTable {
  private static final int INITIAL_BUCKETS = 1024;

  private static final class Entry {
    final long sock;
    final Connection connection;
    @Nullable Entry nextInBucket;
    @Nullable Entry older;
    @Nullable Entry newer;

    Entry(long sock, Connection connection) {
      this.sock = sock;
      this.connection = connection;
    }
  }

  private Entry[] buckets = new Entry[INITIAL_BUCKETS];
  private int size;
  private @Nullable Entry eldest;
  private @Nullable Entry newest;

  int size() {
    return size;
  }

  /** The connection of this socket, now the most recently used; or null. */
  @Nullable Connection get(long sock) {
    Entry e = find(sock);
    if (e == null) {
      return null;
    }
    if (e != newest) {
      unlinkOrder(e);
      linkNewest(e);
    }
    return e.connection;
  }

  /** Adds the connection of a socket that has none here, as the most recently used. */
  void put(long sock, Connection connection) {
    if (size >= buckets.length - (buckets.length >>> 2)) {
      grow();
    }
    Entry e = new Entry(sock, connection);
    int index = index(sock, buckets.length);
    e.nextInBucket = buckets[index];
    buckets[index] = e;
    linkNewest(e);
    size++;
  }

  /** Removes and returns the socket's connection, or null. */
  @Nullable Connection remove(long sock) {
    Entry e = find(sock);
    if (e == null) {
      return null;
    }
    unlink(e);
    return e.connection;
  }

  /** The least recently used connection, or null when there is none. */
  @Nullable Connection eldest() {
    return eldest == null ? null : eldest.connection;
  }

  /** Removes and returns the least recently used connection, or null. */
  @Nullable Connection removeEldest() {
    Entry e = eldest;
    if (e == null) {
      return null;
    }
    unlink(e);
    return e.connection;
  }

  void clear() {
    buckets = new Entry[INITIAL_BUCKETS];
    size = 0;
    eldest = null;
    newest = null;
  }

  private @Nullable Entry find(long sock) {
    for (Entry e = buckets[index(sock, buckets.length)]; e != null; e = e.nextInBucket) {
      if (e.sock == sock) {
        return e;
      }
    }
    return null;
  }

  private void unlink(Entry e) {
    int index = index(e.sock, buckets.length);
    if (buckets[index] == e) {
      buckets[index] = e.nextInBucket;
    } else {
      Entry before = buckets[index];
      while (before.nextInBucket != e) {
        before = before.nextInBucket;
      }
      before.nextInBucket = e.nextInBucket;
    }
    e.nextInBucket = null;
    unlinkOrder(e);
    size--;
  }

  private void linkNewest(Entry e) {
    e.older = newest;
    e.newer = null;
    if (newest != null) {
      newest.newer = e;
    } else {
      eldest = e;
    }
    newest = e;
  }

  private void unlinkOrder(Entry e) {
    if (e.older != null) {
      e.older.newer = e.newer;
    } else {
      eldest = e.newer;
    }
    if (e.newer != null) {
      e.newer.older = e.older;
    } else {
      newest = e.older;
    }
    e.older = null;
    e.newer = null;
  }

  private void grow() {
    Entry[] old = buckets;
    buckets = new Entry[old.length * 2];
    for (Entry chain : old) {
      while (chain != null) {
        Entry next = chain.nextInBucket;
        int index = index(chain.sock, buckets.length);
        chain.nextInBucket = buckets[index];
        buckets[index] = chain;
        chain = next;
      }
    }
  }

  /** Socket addresses are kernel pointers, aligned and alike in their high bits: mix before masking. */
  private static int index(long sock, int buckets) {
    long h = sock * 0x9E3779B97F4A7C15L;
    return (int) (h >>> 40) & (buckets - 1);
  }
}
