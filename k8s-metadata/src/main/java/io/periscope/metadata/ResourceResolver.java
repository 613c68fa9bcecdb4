package io.periscope.metadata;

import io.opentelemetry.sdk.resources.Resource;
import java.net.InetAddress;

/**
 * Turns the process a kernel event came from into the {@link Resource} its spans are reported under.
 *
 * <p>Implementations are called on the pipeline's hot path, from any thread: they cache, never block
 * for long, and never throw for a process they cannot inspect (it may already have exited); they
 * return what they could learn from {@code comm} instead.
 */
public interface ResourceResolver {

  /**
   * The resource of a process.
   *
   * @param pid  the process id (the kernel's tgid, {@code bpf_get_current_pid_tgid() >> 32}) in the
   *             pid namespace of the proc filesystem the resolver reads
   * @param comm the command name the kernel reported with the event: the fallback when the process
   *             is gone. It is the <em>thread's</em> name (up to 15 characters), which a program can
   *             change, so resolvers prefer what the process itself shows
   */
  Resource resolve(int pid, String comm);

  /**
   * The resource of a process, which also knows the local address of the connection the event came
   * from: a process that is gone before it could be inspected can still be placed by it (on a
   * Kubernetes node, a pod's IP is that pod's alone). By default the address is not used.
   */
  default Resource resolve(int pid, String comm, InetAddress localAddress) {
    return resolve(pid, comm);
  }
}
