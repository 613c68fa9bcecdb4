package io.periscope.bpf;

/**
 * The kernel side's counters, summed over CPUs (enum counter_id in periscope.h).
 *
 * @param events         records submitted to the ring buffer
 * @param ringBufferDrops records lost because the ring buffer was full
 * @param truncated      data records whose payload was cut at the capture limit
 * @param inflightDrops  syscalls not traced because the in-flight table was full
 * @param h2SyncLost     HTTP/2 syscalls whose frame boundaries the kernel lost (found again later)
 */
public record CaptureCounters(long events, long ringBufferDrops, long truncated, long inflightDrops, long h2SyncLost) {
  static final int COUNT = 5;
}
