package io.periscope.agent.link;

import io.periscope.agent.pipeline.Peer;
import org.jspecify.annotations.Nullable;

/**
 * Requests started and not yet ended, by peer (equal peers, as a record's equality says) and
 * sequence number, in the order they started so that the oldest can make way. A hash table chained
 * through the nodes themselves, with the start order as a list through them too: unlike a
 * {@code LinkedHashMap} keyed by a (peer, sequence) record, adding, finding or removing a request
 * allocates nothing. Grows as needed; the linker bounds its size.
 */
final class InFlightRequests {
  private static final int INITIAL_BUCKETS = 64;

  private RequestNode[] buckets = new RequestNode[INITIAL_BUCKETS];
  private int size;
  private @Nullable RequestNode oldest;
  private @Nullable RequestNode newest;

  int size() {
    return size;
  }

  @Nullable RequestNode get(Peer peer, long sequence) {
    int hash = hash(peer, sequence);
    for (RequestNode n = buckets[hash & (buckets.length - 1)]; n != null; n = n.nextInBucket) {
      if (n.requestHash == hash && n.sequence == sequence && n.peer.equals(peer)) {
        return n;
      }
    }
    return null;
  }

  /** Adds the node as the newest, unless a node of the same request is in already: then nothing changes. */
  boolean addIfAbsent(RequestNode node) {
    if (get(node.peer, node.sequence) != null) {
      return false;
    }
    if (size >= buckets.length - (buckets.length >>> 2)) {
      grow();
    }
    node.requestHash = hash(node.peer, node.sequence);
    int index = node.requestHash & (buckets.length - 1);
    node.nextInBucket = buckets[index];
    buckets[index] = node;
    node.olderInFlight = newest;
    node.newerInFlight = null;
    if (newest != null) {
      newest.newerInFlight = node;
    } else {
      oldest = node;
    }
    newest = node;
    size++;
    return true;
  }

  /** Removes and returns the node of this request, or null when none is in. */
  @Nullable RequestNode remove(Peer peer, long sequence) {
    RequestNode node = get(peer, sequence);
    if (node != null) {
      unlink(node);
    }
    return node;
  }

  /** Removes this very node, when it is in. */
  void remove(RequestNode node) {
    if (get(node.peer, node.sequence) == node) {
      unlink(node);
    }
  }

  /** Removes and returns the request that started first, or null when there is none. */
  @Nullable RequestNode pollOldest() {
    RequestNode node = oldest;
    if (node != null) {
      unlink(node);
    }
    return node;
  }

  private void unlink(RequestNode node) {
    int index = node.requestHash & (buckets.length - 1);
    if (buckets[index] == node) {
      buckets[index] = node.nextInBucket;
    } else {
      RequestNode before = buckets[index];
      while (before.nextInBucket != node) {
        before = before.nextInBucket;
      }
      before.nextInBucket = node.nextInBucket;
    }
    if (node.olderInFlight != null) {
      node.olderInFlight.newerInFlight = node.newerInFlight;
    } else {
      oldest = node.newerInFlight;
    }
    if (node.newerInFlight != null) {
      node.newerInFlight.olderInFlight = node.olderInFlight;
    } else {
      newest = node.olderInFlight;
    }
    node.nextInBucket = null;
    node.olderInFlight = null;
    node.newerInFlight = null;
    size--;
  }

  private void grow() {
    RequestNode[] old = buckets;
    buckets = new RequestNode[old.length * 2];
    for (RequestNode chain : old) {
      while (chain != null) {
        RequestNode next = chain.nextInBucket;
        int index = chain.requestHash & (buckets.length - 1);
        chain.nextInBucket = buckets[index];
        buckets[index] = chain;
        chain = next;
      }
    }
  }

  private static int hash(Peer peer, long sequence) {
    int h = peer.hashCode() * 31 + Long.hashCode(sequence);
    return h ^ (h >>> 16);
  }
}
