package io.periscope.agent.pipeline;

import org.jspecify.annotations.Nullable;

/**
 * The open streams of one HTTP/2 connection by id: open addressing on an int key (no boxing per
 * frame), and a list in creation order so that, at capacity, the oldest stream makes way.
 */
final class StreamTable {
  private final int capacity;
  private Http2Stream[] slots;
  private int size;
  private @Nullable Http2Stream oldest;
  private @Nullable Http2Stream newest;

  StreamTable(int capacity) {
    this.capacity = capacity;
    this.slots = new Http2Stream[8];
  }

  int size() {
    return size;
  }

  @Nullable Http2Stream get(int id) {
    for (int i = index(id); ; i = (i + 1) & (slots.length - 1)) {
      Http2Stream s = slots[i];
      if (s == null || s.id == id) {
        return s;
      }
    }
  }

  /** Adds a stream whose id is not in the table; returns the stream evicted to make room, or null. */
  @Nullable Http2Stream add(Http2Stream stream) {
    Http2Stream evicted = null;
    if (size == capacity) {
      evicted = oldest;
      remove(evicted.id);
    }
    if ((size + 1) * 2 > slots.length) {
      grow();
    }
    place(stream);
    size++;
    stream.older = newest;
    stream.newer = null;
    if (newest != null) {
      newest.newer = stream;
    }
    newest = stream;
    if (oldest == null) {
      oldest = stream;
    }
    return evicted;
  }

  /** Removes and returns the stream with this id, or null. */
  @Nullable Http2Stream remove(int id) {
    int mask = slots.length - 1;
    int i = index(id);
    while (slots[i] != null && slots[i].id != id) {
      i = (i + 1) & mask;
    }
    Http2Stream found = slots[i];
    if (found == null) {
      return null;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole.
    slots[i] = null;
    for (int j = (i + 1) & mask; slots[j] != null; j = (j + 1) & mask) {
      Http2Stream moved = slots[j];
      int home = index(moved.id);
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots[i] = moved;
        slots[j] = null;
        i = j;
      }
    }
    size--;
    if (found.older != null) {
      found.older.newer = found.newer;
    } else {
      oldest = found.newer;
    }
    if (found.newer != null) {
      found.newer.older = found.older;
    } else {
      newest = found.older;
    }
    found.older = null;
    found.newer = null;
    return found;
  }

  /** Streams in creation order, oldest first; the caller must not change the table while iterating. */
  @Nullable Http2Stream oldest() {
    return oldest;
  }

  void clear() {
    java.util.Arrays.fill(slots, null);
    size = 0;
    oldest = null;
    newest = null;
  }

  private void place(Http2Stream stream) {
    int i = index(stream.id);
    while (slots[i] != null) {
      i = (i + 1) & (slots.length - 1);
    }
    slots[i] = stream;
  }

  private void grow() {
    Http2Stream[] old = slots;
    slots = new Http2Stream[old.length * 2];
    for (Http2Stream s : old) {
      if (s != null) {
        place(s);
      }
    }
  }

  private int index(int id) {
    return (id * 0x9E3779B9) >>> (32 - Integer.numberOfTrailingZeros(slots.length)) & (slots.length - 1);
  }
}
