package io.periscope.bpf;

/**
 * The kernel side's counters, summed over CPUs (enum counter_id in periscope.h).
 *
 * @param events         records submitted to the ring buffer
 * @param ringBufferDrops records lost because the ring buffer was full
 * @param truncated      data records whose payload was cut at the capture limit
 * @param inflightDrops  syscalls not traced because the in-flight table was full
 * @param h2SyncLost     HTTP/2 syscalls whose frame boundaries the kernel lost (found again later)
 * @param traceparentsInjected requests the kernel inserted a traceparent into (injection on)
 * @param injectionsFailed     requests armed for a traceparent that left without one (their socket
 *                             was not tracked, or the head was not in the first piece of the write)
 * @param tlsCiphertext  syscalls on TLS connections, not copied (their plaintext comes from the TLS
 *                       library's probes, where the library is one Periscope probes)
 * @param tlsNoSocket    TLS library calls whose connection was not known: their plaintext was lost
 * @param headPieces     records that carried a later piece of an HTTP head longer than the capture
 * @param shedRecords    data records not made because their connection was shed under overload
 *                       (it lost a record, or began while the ring buffer was over half full)
 * @param shedConnections connections not followed from their start: the ring buffer was over half
 *                       full (each is followed from a later request once there is room)
 */
public record CaptureCounters(long events, long ringBufferDrops, long truncated, long inflightDrops, long h2SyncLost,
    long traceparentsInjected, long injectionsFailed, long tlsCiphertext, long tlsNoSocket, long headPieces,
    long shedRecords, long shedConnections) {
  static final int COUNT = 12;
}
