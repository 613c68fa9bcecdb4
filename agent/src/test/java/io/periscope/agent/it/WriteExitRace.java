package io.periscope.agent.it;

/**
 * How much later than the peer's read of the last byte the writer's call may return.
 *
 * <p>A span that ends at a write ends when the write returns; the peer's span ends when its read
 * of those bytes returns, and that read can win: the writer's thread may wait to be run again after
 * queueing its bytes. On this host the gap is microseconds (about 4% of loopback exchanges, ~2 us).
 * In the kernel matrix's VMs, emulated without KVM, the scheduler is far slower: 4.8 ms was seen in
 * the 5.10 VM (plain HTTP) and 2.8 ms in the 6.12 VM (OpenSSL), so the VMs get a wider margin. The
 * matrix says it runs emulated with {@code -Dperiscope.emulated=true}. Starts get no such margin:
 * the client's write begins before the server can read anything.
 */
final class WriteExitRace {
  static final long NANOS = Boolean.getBoolean("periscope.emulated") ? 20_000_000L : 1_000_000L;

  private WriteExitRace() {}
}
