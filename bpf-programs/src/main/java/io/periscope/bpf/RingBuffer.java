package io.periscope.bpf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * Reads a BPF_MAP_TYPE_RINGBUF through its memory mapping: no syscall and no copy per record.
 *
 * <p>Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (we write it), page 1 the
 * producer position, then the data area mapped twice in a row so a record that wraps around is
 * still contiguous. Each record has an 8-byte header: a 32-bit length with the BUSY bit (still being
 * written) and the DISCARD bit, then the page offset; the data follows, the whole rounded up to 8.
 *
 * <p>Not thread-safe: one reader thread owns it. The owner must call {@link #close()}.
 */
public final class RingBuffer implements AutoCloseable {
  private static final int BUSY_BIT = 1 << 31;
  private static final int DISCARD_BIT = 1 << 30;
  private static final int HEADER_SIZE = 8;
  private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
  private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

  /**
   * Receives one record as a window {@code [offset, offset + length)} of {@code memory}, valid only
   * during the call. Passing the window instead of a slice keeps the read path allocation-free.
   */
  @FunctionalInterface
  public interface RecordHandler {
    void onRecord(MemorySegment memory, long offset, int length);
  }

  private final MemorySegment consumerPage;
  private final MemorySegment producerPages;
  private final MemorySegment data;
  private final long mask;
  private boolean closed;

  public RingBuffer(BpfMap map) {
    long size = map.maxEntries();
    long page = Libc.pageSize();
    this.consumerPage = Libc.mmap(page, Libc.PROT_READ | Libc.PROT_WRITE, map.fd(), 0);
    try {
      this.producerPages = Libc.mmap(page + 2 * size, Libc.PROT_READ, map.fd(), page);
    } catch (BpfException e) {
      Libc.munmap(consumerPage);
      throw e;
    }
    this.data = producerPages.asSlice(page);
    this.mask = size - 1;
  }

  /**
   * Hands every committed record to {@code handler}, in order, and releases their space.
   *
   * @return the number of records handed over (discarded ones are not counted)
   */
  public int drain(RecordHandler handler) {
    long consumer = (long) LONG.getAcquire(consumerPage, 0L);
    long producer = (long) LONG.getAcquire(producerPages, 0L);
    int records = 0;
    while (consumer < producer) {
      long offset = consumer & mask;
      int header = (int) INT.getAcquire(data, offset);
      if ((header & BUSY_BIT) != 0) {
        break; // reserved but not yet committed; everything after it must wait too
      }
      int length = header & ~(BUSY_BIT | DISCARD_BIT);
      if ((header & DISCARD_BIT) == 0) {
        handler.onRecord(data, offset + HEADER_SIZE, length);
        records++;
      }
      consumer += (length + HEADER_SIZE + 7) & ~7L;
      // Release each record as soon as it is handled so producers get the space back early.
      LONG.setRelease(consumerPage, 0L, consumer);
      if (consumer >= producer) {
        producer = (long) LONG.getAcquire(producerPages, 0L);
      }
    }
    return records;
  }

  /** Unmaps the ring. Idempotent; the reader must have stopped. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Libc.munmap(producerPages);
    Libc.munmap(consumerPage);
  }
}
