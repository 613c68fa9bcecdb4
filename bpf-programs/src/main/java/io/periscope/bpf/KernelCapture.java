package io.periscope.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The socket capture running in the kernel: the variant of the programs that fits this kernel
 * ({@link CaptureVariant}) loaded, configured and attached, and its ring buffer mapped.
 * {@link #start} either returns a fully attached capture or leaves nothing behind; the caller owns
 * the result and must {@link #close()} it, which detaches and unloads every program.
 */
public final class KernelCapture implements AutoCloseable {
  /** sizeof(struct periscope_config): the only variable in the object's .rodata. */
  static final int CONFIG_SIZE = 24;
  /** The programs of traceparent injection: loaded and attached only when it is on. */
  static final List<String> INJECTION_PROGRAMS = List.of("inject_track", "inject_traceparent");
  private static final int BPF_SK_MSG_VERDICT = 7;
  static final System.Logger LOG = System.getLogger(KernelCapture.class.getName());

  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.nativeOrder());
  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG.withOrder(ByteOrder.nativeOrder());

  private final BpfObject object;
  private final RingBuffer ring;
  private final BpfMap counters;
  private final int cpus;
  private final List<String> programs;
  private final List<String> loadedPrograms;
  private final List<VerifierStatistics> verifierStatistics;
  private final CaptureVariant variant;
  private final String variantDescription;
  private final TlsProbes tls;
  private @Nullable CaptureCounters finalCounters;

  private KernelCapture(BpfObject object, RingBuffer ring, BpfMap counters, List<String> programs,
      List<String> loadedPrograms, CaptureVariant variant, String variantDescription, TlsProbes tls) {
    this.object = object;
    this.ring = ring;
    this.counters = counters;
    this.cpus = Libbpf.possibleCpus();
    this.programs = programs;
    this.loadedPrograms = loadedPrograms;
    this.verifierStatistics = object.verifierStatistics();
    this.variant = variant;
    this.variantDescription = variantDescription;
    this.tls = tls;
  }

  public static KernelCapture start(CaptureConfig config) {
    String kernel = KernelSupport.kernelRelease();
    KernelFeatures features = KernelFeatures.probe();
    CaptureVariant variant = CaptureVariant.choose(config.variant(), features, kernel);
    if (config.injectTraceparent()) {
      requireInjection(variant, features, kernel);
      requireFionread(config, kernel);
    }
    BpfObject object = loaded(config, variant);
    RingBuffer ring = null;
    try {
      fillFilters(object, config);
      ring = new RingBuffer(object.map("events"));
      object.attachAll();
      if (config.injectTraceparent()) {
        attachInjection(object);
      }
      TlsProbes tls = new TlsProbes(object, Path.of("/proc"));
      tls.start();
      List<String> programs = object.attachedPrograms();
      return new KernelCapture(object, ring, object.map("counters"), programs, object.loadedPrograms(), variant,
          CaptureVariant.describe(variant, features), tls);
    } catch (RuntimeException e) {
      if (ring != null) {
        ring.close();
      }
      object.close();
      throw e;
    }
  }

  /**
   * The object configured for {@code config} and loaded, with the verifier's statistics. A
   * rejection is loaded once more without them, for the verifier's whole log in the error.
   */
  private static BpfObject loaded(CaptureConfig config, CaptureVariant variant) {
    BpfObject object = configured(config, variant);
    try {
      object.recordVerifierStatistics();
      object.load();
      return object;
    } catch (RuntimeException e) {
      object.close();
    }
    object = configured(config, variant);
    try {
      object.load();
      return object;
    } catch (RuntimeException e) {
      object.close();
      throw e;
    }
  }

  /**
   * The object opened and configured for {@code config}, not yet loaded: the caller owns it. The
   * programs and maps of a feature that is off are left out of the load.
   */
  static BpfObject configured(CaptureConfig config, CaptureVariant variant) {
    BpfObject object = BpfObject.open(objectBytes(variant));
    try {
      writeConfig(object.readOnlyData(), config);
      object.setMaxEntries("events", config.ringBufferBytes());
      for (String program : TlsProbes.PROGRAMS) {
        object.attachManually(program); // to each TLS library found (TlsProbes)
      }
      if (variant == CaptureVariant.COMPAT) {
        return object; // built without injection
      }
      for (String program : INJECTION_PROGRAMS) {
        if (config.injectTraceparent()) {
          object.attachManually(program);
        } else {
          object.exclude(program);
        }
      }
      if (!config.injectTraceparent()) {
        object.excludeMap("inject_socks"); // a sockhash: creating one takes CAP_NET_ADMIN
      }
      return object;
    } catch (RuntimeException e) {
      object.close();
      throw e;
    }
  }

  /**
   * sk_msg first, so no socket joins inject_socks before it can act there; then sockops on the
   * cgroup v2 root, which covers every process on the host (all cgroups descend from it).
   */
  private static void attachInjection(BpfObject object) {
    object.attachToMap("inject_traceparent", "inject_socks", BPF_SK_MSG_VERDICT);
    String root = cgroup2Root();
    int fd = Libc.openDirectory(root);
    try {
      object.attachToCgroup("inject_track", fd);
    } finally {
      Libc.close(fd); // the link holds the cgroup
    }
  }

  /** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1 controllers). */
  static String cgroup2Root() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
        String[] f = line.split(" ");
        if (f.length > 2 && f[2].equals("cgroup2")) {
          return f[1];
        }
      }
    } catch (IOException e) {
      throw new BpfException("read /proc/self/mounts: " + e.getMessage());
    }
    throw new BpfException("traceparent injection needs cgroup v2, and none is mounted (/proc/self/mounts)");
  }

  /**
   * Injection needs the full variant (its scans use bpf_loop, its per-thread context task storage)
   * and the socket program types; refused before anything loads, never half-loaded.
   */
  private static void requireInjection(CaptureVariant variant, KernelFeatures features, String kernel) {
    KernelSupport.requireInjectionCapability();
    if (variant != CaptureVariant.FULL) {
      throw new BpfException("traceparent injection (--inject-traceparent) needs the full capture variant"
          + (features.full() ? " (capture.variant is compat)"
              : ", which needs " + String.join(", ", features.missingForFull()) + ": kernel " + kernel + " lacks them")
          + "; turn injection off");
    }
    if (!features.injection()) {
      throw new BpfException("traceparent injection (--inject-traceparent) needs sockops and sk_msg programs with"
          + " bpf_msg_push_data and a sockhash, which kernel " + kernel + " does not allow; turn injection off");
    }
  }

  /**
   * Some stable kernels since 6.6.128, 6.12.75 and 6.18.14 answer ioctl(FIONREAD), on a socket in a
   * sockmap, from the sockmap's own receive queue, which only a verdict program fills: on the
   * connections injection puts in its sockhash they say 0 while an answer waits, and programs that
   * size their reads by FIONREAD stall or take the connection for closed. A pass-through verdict
   * would make FIONREAD right, but a socket leaving the sockmap (the agent stopping, or killed)
   * drops what waits in that queue: silently cut streams. So where the kernel is asked
   * ({@link SockmapFionread}) and says 0, injection is refused unless the user accepts the hazard.
   */
  private static void requireFionread(CaptureConfig config, String kernel) {
    if (SockmapFionread.countsWaitingBytesInABareSockhash()) {
      return;
    }
    if (!config.injectDespiteFionread()) {
      throw new BpfException("traceparent injection (--inject-traceparent) refused: kernel " + kernel
          + " answers ioctl(FIONREAD) with 0 on connections in a sockhash (a sockmap change in some stable kernels"
          + " since 6.6.128, 6.12.75 and 6.18.14), so programs that size their reads by it would stall on the"
          + " connections injection tracks; turn injection off, or set --inject-despite-fionread to inject anyway");
    }
    LOG.log(System.Logger.Level.WARNING, "traceparent injection despite kernel {0}: ioctl(FIONREAD) says 0 on the"
        + " connections it tracks (--inject-despite-fionread)", kernel);
  }

  static byte[] objectBytes(CaptureVariant variant) {
    String resource = variant.resource();
    try (InputStream in = KernelCapture.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new BpfException(resource + " is not on the class path: the build did not compile the eBPF programs");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new BpfException("read " + resource + ": " + e.getMessage());
    }
  }

  private static void writeConfig(MemorySegment rodata, CaptureConfig config) {
    if (rodata.byteSize() != CONFIG_SIZE) {
      throw new BpfException(".rodata is " + rodata.byteSize() + " bytes, expected " + CONFIG_SIZE
          + ": a constant other than the config struct was added to periscope.bpf.c");
    }
    rodata.fill((byte) 0);
    rodata.set(INT, 0, config.agentPid());
    rodata.set(INT, 4, config.captureBytes());
    rodata.set(ValueLayout.JAVA_BYTE, 8, (byte) (config.pids().isEmpty() ? 0 : 1));
    rodata.set(ValueLayout.JAVA_BYTE, 9, (byte) (config.comms().isEmpty() ? 0 : 1));
    rodata.set(ValueLayout.JAVA_BYTE, 10, (byte) (config.ports().isEmpty() ? 0 : 1));
    rodata.set(ValueLayout.JAVA_BYTE, 11, (byte) (config.injectTraceparent() ? 1 : 0));
    rodata.set(ValueLayout.JAVA_BYTE, 12, (byte) (config.samplingRatio() == 1.0 ? 1 : 0));
    rodata.set(LONG, 16, sampleBound(config.samplingRatio()));
  }

  /** OpenTelemetry's TraceIdRatioBased bound: a trace is sampled when |its lower 64 bits| is below it. */
  static long sampleBound(double ratio) {
    if (ratio == 0.0) {
      return Long.MIN_VALUE;
    }
    if (ratio == 1.0) {
      return Long.MAX_VALUE;
    }
    return (long) (ratio * Long.MAX_VALUE);
  }

  private static void fillFilters(BpfObject object, CaptureConfig config) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment one = arena.allocate(1);
      one.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
      BpfMap pids = object.map("filter_pids");
      MemorySegment pidKey = arena.allocate(4);
      for (int pid : config.pids()) {
        pidKey.set(INT, 0, pid);
        pids.put(pidKey, one);
      }
      BpfMap comms = object.map("filter_comms");
      MemorySegment commKey = arena.allocate(16);
      for (String comm : config.comms()) {
        commKey.fill((byte) 0);
        byte[] name = comm.getBytes(StandardCharsets.UTF_8);
        MemorySegment.copy(name, 0, commKey, ValueLayout.JAVA_BYTE, 0, Math.min(name.length, 15));
        comms.put(commKey, one);
      }
      BpfMap ports = object.map("filter_ports");
      MemorySegment portKey = arena.allocate(2);
      for (int port : config.ports()) {
        portKey.set(SHORT, 0, (short) port);
        ports.put(portKey, one);
      }
    }
  }

  /** Hands every record waiting in the ring buffer to {@code handler}; returns how many. */
  public int poll(RingBuffer.RecordHandler handler) {
    return ring.drain(handler);
  }

  /** The kernel counters, summed over CPUs; after {@link #close()}, their last values. */
  public synchronized CaptureCounters counters() {
    if (finalCounters != null) {
      return finalCounters;
    }
    long[] totals = new long[CaptureCounters.COUNT];
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment key = arena.allocate(4);
      MemorySegment perCpu = arena.allocate(8L * cpus, 8);
      for (int id = 0; id < totals.length; id++) {
        key.set(INT, 0, id);
        if (counters.get(key, perCpu)) {
          for (int cpu = 0; cpu < cpus; cpu++) {
            totals[id] += perCpu.get(LONG, 8L * cpu);
          }
        }
      }
    }
    return new CaptureCounters(totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6], totals[7],
        totals[8], totals[9], totals[10], totals[11]);
  }

  /** The programs attached when the capture started. */
  public List<String> programs() {
    return programs;
  }

  /**
   * The programs loaded: those attached, and the TLS ones that wait for a program they probe (Go's
   * are attached when a Go program that links crypto/tls is found).
   */
  public List<String> loadedPrograms() {
    return loadedPrograms;
  }

  /**
   * Probes the TLS libraries of the processes started since the last call: those that were running
   * before the agent, and any the exec queue of {@link #probeExecs()} overflowed. The capture
   * thread calls it every few seconds.
   */
  public void refreshTls() {
    tls.refresh();
  }

  /** Probes the TLS libraries of the traced processes that exec'd since the last call: cheap when none did. */
  public void probeExecs() {
    tls.probeExecs();
  }

  /** Files with TLS code found but not probed (past the limit, or Go programs that cannot be read). */
  public int tlsSkipped() {
    return tls.skipped();
  }

  /** The TLS library files whose plaintext is captured. */
  public List<String> tlsLibraries() {
    return tls.libraries();
  }

  /** The variant loaded. */
  public CaptureVariant variant() {
    return variant;
  }

  /** For the startup banner: "full capture", or "compat capture (no bpf_loop, ...)". */
  public String variantDescription() {
    return variantDescription;
  }

  /** What the verifier reported of each program (empty when the load took a second try). */
  public List<VerifierStatistics> verifierStatistics() {
    return verifierStatistics;
  }

  /** Detaches and unloads everything. Idempotent; the caller must stop polling first. */
  @Override
  public synchronized void close() {
    if (finalCounters != null) {
      return;
    }
    finalCounters = counters();
    ring.close();
    object.close();
  }
}
