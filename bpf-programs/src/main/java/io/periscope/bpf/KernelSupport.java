package io.periscope.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks, before anything is loaded, that this host can run the capture, and says what to do when
 * it cannot. Mounts tracefs when it is missing (libbpf attaches tracepoints through it).
 */
public final class KernelSupport {
  static final Path BTF = Path.of("/sys/kernel/btf/vmlinux");
  static final Path TRACEFS = Path.of("/sys/kernel/tracing");
  private static final int CAP_SYS_ADMIN = 21;
  private static final int CAP_PERFMON = 38;
  private static final int CAP_BPF = 39;
  private static final int CAP_NET_ADMIN = 12;

  private KernelSupport() {}

  /** Throws {@link BpfException} naming the first missing requirement and its fix; returns the kernel release. */
  public static String check() {
    requireCapabilities();
    if (!Files.isReadable(BTF)) {
      throw new BpfException("this kernel has no BTF (" + BTF + " is missing): Periscope needs a kernel"
          + " built with CONFIG_DEBUG_INFO_BTF=y (every major distribution since 2020 ships one)");
    }
    ensureTracefs();
    try {
      Libbpf.possibleCpus();
    } catch (ExceptionInInitializerError | NoClassDefFoundError e) {
      throw new BpfException(Libbpf.LIBRARY + " could not be loaded: install libbpf (apt-get install libbpf1)");
    }
    return kernelRelease();
  }

  private static void requireCapabilities() {
    Libc.raiseEffectiveCapabilities();
    long effective = effectiveCapabilities();
    boolean admin = (effective & (1L << CAP_SYS_ADMIN)) != 0;
    boolean bpf = (effective & (1L << CAP_BPF)) != 0 && (effective & (1L << CAP_PERFMON)) != 0;
    if (!admin && !bpf) {
      String who = Libc.effectiveUid() == 0 ? "root without the needed capabilities" : "not root";
      throw new BpfException("running as " + who + ": Periscope loads eBPF programs, which needs root"
          + " (sudo ./periscope) or the capabilities CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)");
    }
  }

  /**
   * Traceparent injection loads sockops and sk_msg programs and attaches one to a cgroup: the
   * kernel asks for CAP_NET_ADMIN (or CAP_SYS_ADMIN) for those program types.
   */
  static void requireInjectionCapability() {
    long effective = effectiveCapabilities();
    if ((effective & (1L << CAP_NET_ADMIN)) == 0 && (effective & (1L << CAP_SYS_ADMIN)) == 0) {
      throw new BpfException("traceparent injection (--inject-traceparent) needs the capability CAP_NET_ADMIN"
          + " (or root): it loads sockops and sk_msg programs; grant it, or turn injection off");
    }
  }

  /** This thread's: /proc/self/status shows the main thread's, which is not the one running Java's main. */
  static long effectiveCapabilities() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
        if (line.startsWith("CapEff:")) {
          return Long.parseUnsignedLong(line.substring("CapEff:".length()).strip(), 16);
        }
      }
    } catch (IOException | NumberFormatException e) {
      throw new BpfException("read capabilities from /proc/thread-self/status: " + e.getMessage());
    }
    return 0;
  }

  private static void ensureTracefs() {
    if (Files.isDirectory(TRACEFS.resolve("events"))) {
      return;
    }
    try {
      Libc.mount("tracefs", TRACEFS.toString(), "tracefs");
    } catch (BpfException e) {
      throw new BpfException("tracefs is not mounted at " + TRACEFS + " and mounting it failed (" + e.getMessage()
          + "): mount it with 'mount -t tracefs tracefs " + TRACEFS + "'");
    }
  }

  static String kernelRelease() {
    try {
      return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
    } catch (IOException e) {
      return "unknown";
    }
  }
}
