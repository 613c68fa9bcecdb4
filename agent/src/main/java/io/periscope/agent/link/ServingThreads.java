package io.periscope.agent.link;

import org.jspecify.annotations.Nullable;

/**
 * The server requests each thread is serving now, by process and thread id: a hash table chained
 * through the nodes themselves, so that serving a request allocates no thread key, map entry or
 * list. Nodes of different threads may share a chain; lookups compare the thread. Grows as needed;
 * holds only requests in flight, which the linker bounds.
 */
final class ServingThreads {
  private static final int INITIAL_BUCKETS = 64;

  private RequestNode[] buckets = new RequestNode[INITIAL_BUCKETS];
  private int size;

  static long key(int tgid, int tid) {
    return ((long) tgid << 32) | (tid & 0xffffffffL);
  }

  /** Requests being served, on all threads. */
  int size() {
    return size;
  }

  void add(RequestNode node) {
    if (size >= buckets.length - (buckets.length >>> 2)) {
      grow();
    }
    int index = index(node.thread());
    node.nextOnThread = buckets[index];
    buckets[index] = node;
    size++;
  }

  /** Takes the node off its thread, when it is on it. */
  void remove(RequestNode node) {
    int index = index(node.thread());
    RequestNode before = null;
    for (RequestNode n = buckets[index]; n != null; before = n, n = n.nextOnThread) {
      if (n == node) {
        if (before == null) {
          buckets[index] = n.nextOnThread;
        } else {
          before.nextOnThread = n.nextOnThread;
        }
        n.nextOnThread = null;
        size--;
        return;
      }
    }
  }

  /** How many requests the thread serves, counted up to {@code atMost}. */
  int count(int tgid, int tid, int atMost) {
    long thread = key(tgid, tid);
    int count = 0;
    for (RequestNode n = buckets[index(thread)]; n != null && count < atMost; n = n.nextOnThread) {
      if (n.thread() == thread) {
        count++;
      }
    }
    return count;
  }

  /** A request the thread serves, or null. */
  @Nullable RequestNode any(int tgid, int tid) {
    long thread = key(tgid, tid);
    for (RequestNode n = buckets[index(thread)]; n != null; n = n.nextOnThread) {
      if (n.thread() == thread) {
        return n;
      }
    }
    return null;
  }

  /**
   * How many requests the process serves that came with a traceparent of this span id (a proxy
   * passes it on unchanged), counted up to {@code atMost}.
   */
  int countIncoming(int tgid, String spanId, int atMost) {
    int count = 0;
    for (RequestNode chain : buckets) {
      for (RequestNode n = chain; n != null && count < atMost; n = n.nextOnThread) {
        if (n.peer.tgid() == tgid && spanId.equals(n.incomingSpanId)) {
          count++;
        }
      }
    }
    return count;
  }

  /** A request the process serves that came with a traceparent of this span id, or null. */
  @Nullable RequestNode anyIncoming(int tgid, String spanId) {
    for (RequestNode chain : buckets) {
      for (RequestNode n = chain; n != null; n = n.nextOnThread) {
        if (n.peer.tgid() == tgid && spanId.equals(n.incomingSpanId)) {
          return n;
        }
      }
    }
    return null;
  }

  private void grow() {
    RequestNode[] old = buckets;
    buckets = new RequestNode[old.length * 2];
    for (RequestNode chain : old) {
      while (chain != null) {
        RequestNode next = chain.nextOnThread;
        int index = index(chain.thread());
        chain.nextOnThread = buckets[index];
        buckets[index] = chain;
        chain = next;
      }
    }
  }

  private int index(long thread) {
    int h = Long.hashCode(thread * 0x9E3779B97F4A7C15L);
    return (h ^ (h >>> 16)) & (buckets.length - 1);
  }
}
