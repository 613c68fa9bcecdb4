package io.periscope.bpf;

import java.lang.foreign.MemorySegment;

/** A loaded map, addressed by its file descriptor; owned by the {@link BpfObject} it came from. */
public record BpfMap(String name, int fd, int maxEntries) {

  public void put(MemorySegment key, MemorySegment value) {
    int rc = Libbpf.mapUpdate(fd, key, value, 0);
    if (rc < 0) {
      throw new BpfException("update map " + name, -rc);
    }
  }

  /** Fills {@code value}; false when the key is absent. */
  public boolean get(MemorySegment key, MemorySegment value) {
    int rc = Libbpf.mapLookup(fd, key, value);
    if (rc == -Errno.ENOENT) {
      return false;
    }
    if (rc < 0) {
      throw new BpfException("look up map " + name, -rc);
    }
    return true;
  }

  /** A queue's oldest value, taken out into {@code value}; false when the queue is empty. */
  public boolean pop(MemorySegment value) {
    int rc = Libbpf.mapLookupAndDelete(fd, MemorySegment.NULL, value);
    if (rc == -Errno.ENOENT) {
      return false;
    }
    if (rc < 0) {
      throw new BpfException("pop from map " + name, -rc);
    }
    return true;
  }

  public void remove(MemorySegment key) {
    int rc = Libbpf.mapDelete(fd, key);
    if (rc < 0 && rc != -Errno.ENOENT) {
      throw new BpfException("delete from map " + name, -rc);
    }
  }
}
