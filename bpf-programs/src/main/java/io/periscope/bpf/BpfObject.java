package io.periscope.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One eBPF object file through its life: open (parse, nothing in the kernel yet) -> configure
 * (read-only data, map sizes) -> load (verifier) -> attach -> close. A failed step leaves the
 * object closable; {@link #close()} detaches every link and unloads everything, and must be called
 * by the owner.
 */
public final class BpfObject implements AutoCloseable {
  /** Verifier logs are only produced when a load fails; the kernel keeps the tail if this overflows. */
  private static final long VERIFIER_LOG_BYTES = 4L << 20;
  /** BPF_LOG_STATS: the verifier's closing lines only (time, stack depths, instructions processed). */
  private static final int LOG_STATS = 4;
  /** Room for those lines, or for the one error line that ends a rejected load at that level. */
  private static final long STATISTICS_LOG_BYTES = 64 << 10;

  private final MemorySegment object;
  private final List<MemorySegment> links = new ArrayList<>();
  private final List<String> attached = new ArrayList<>();
  /** Programs attachAll leaves alone: left out of the load, or attached by the caller to a cgroup or map. */
  private final Set<String> notAutoAttached = new HashSet<>();
  /** sk_msg-style attachments (program fd, map fd, type), detached at close. */
  private final List<int[]> mapAttachments = new ArrayList<>();
  private boolean recordStatistics;
  private List<VerifierStatistics> statistics = List.of();
  private boolean loaded;
  private boolean closed;

  private BpfObject(MemorySegment object) {
    this.object = object;
  }

  /** Parses an ELF object held in memory (a jar resource). */
  public static BpfObject open(byte[] elf) {
    Arena elfArena = Arena.ofConfined();
    try {
      MemorySegment copy = elfArena.allocate(elf.length, 8);
      copy.copyFrom(MemorySegment.ofArray(elf));
      // libbpf copies the ELF bytes while opening, so they need not outlive this call.
      return new BpfObject(Libbpf.openMem(copy));
    } finally {
      elfArena.close();
    }
  }

  /** The writable image of the object's {@code .rodata}: set {@code const volatile} globals here before {@link #load()}. */
  public MemorySegment readOnlyData() {
    checkState(!loaded, "read-only data can only be written before load");
    return Libbpf.initialValue(Libbpf.findMap(object, ".rodata"));
  }

  public void setMaxEntries(String map, int entries) {
    checkState(!loaded, "map sizes can only be set before load");
    Libbpf.setMaxEntries(Libbpf.findMap(object, map), entries);
  }

  /** Leaves a program out of load and attach: a feature that is switched off costs no verifier time. */
  public void exclude(String program) {
    checkState(!loaded, "programs can only be excluded before load");
    Libbpf.setAutoload(program(program), false);
    notAutoAttached.add(program);
  }

  /** Leaves a map out of the load: one only excluded programs use (creating some map types takes privileges). */
  public void excludeMap(String map) {
    checkState(!loaded, "maps can only be excluded before load");
    Libbpf.setAutocreate(Libbpf.findMap(object, map), false);
  }

  /** Loads the program but leaves its attachment to the caller ({@link #attachToCgroup}, {@link #attachToMap}). */
  public void attachManually(String program) {
    checkState(!loaded, "choose before load");
    notAutoAttached.add(program);
  }

  /** Attaches a cgroup program (sockops) to the cgroup open at {@code cgroupFd}, until close. */
  public void attachToCgroup(String program, int cgroupFd) {
    checkState(loaded, "load before attach");
    links.add(Libbpf.attachCgroup(program(program), cgroupFd));
    attached.add(program);
  }

  /**
   * Attaches a uprobe program to {@code function} in the ELF file {@code binary} (every process
   * mapping that file), until close.
   */
  public void attachUprobe(String program, String binary, String function, boolean retprobe) {
    checkState(loaded, "load before attach");
    links.add(Libbpf.attachUprobe(program(program), binary, function, 0, retprobe));
    if (!attached.contains(program)) {
      attached.add(program);
    }
  }

  /**
   * A uprobe on the instruction at {@code fileOffset} in the ELF file {@code binary}: inside a
   * function (a Go function's RET), or in a program without a symbol table.
   */
  public void attachUprobeAt(String program, String binary, long fileOffset) {
    checkState(loaded, "load before attach");
    links.add(Libbpf.attachUprobe(program(program), binary, null, fileOffset, false));
    if (!attached.contains(program)) {
      attached.add(program);
    }
  }

  /** Attaches a program to a map (sk_msg to a sockhash: {@code attachType} BPF_SK_MSG_VERDICT), until close. */
  public void attachToMap(String program, String map, int attachType) {
    checkState(loaded, "load before attach");
    MemorySegment p = program(program);
    int mapFd = Libbpf.mapFd(Libbpf.findMap(object, map));
    Libbpf.attachToMap(p, mapFd, attachType);
    mapAttachments.add(new int[] {Libbpf.programFd(p), mapFd, attachType});
    attached.add(program);
  }

  /**
   * Has {@link #load()} keep what the verifier reports of each program it accepts
   * ({@link #verifierStatistics()}). The price: a program it rejects is reported by the verifier's
   * last words alone, not its whole log (libbpf asks again with the full log only when none was
   * asked for).
   */
  public void recordVerifierStatistics() {
    checkState(!loaded, "choose before load");
    recordStatistics = true;
  }

  /** What the verifier reported of each loaded program, when {@link #recordVerifierStatistics()} asked for it. */
  public List<VerifierStatistics> verifierStatistics() {
    checkState(loaded, "load first");
    return statistics;
  }

  /** Loads every program and map into the kernel; a verifier rejection carries the verifier's log. */
  public void load() {
    checkState(!loaded, "already loaded");
    if (recordStatistics) {
      loadRecordingStatistics();
      return;
    }
    try (Arena logArena = Arena.ofConfined()) {
      // One buffer serves all programs: libbpf loads them in order and stops at the first failure.
      MemorySegment log = logArena.allocate(VERIFIER_LOG_BYTES);
      for (MemorySegment p : programs()) {
        Libbpf.setLogBuffer(p, log);
      }
      // libbpf reads the buffer only while loading (and refuses to change it afterwards), so
      // freeing it when this block ends is safe.
      int rc = Libbpf.load(object);
      if (rc < 0) {
        throw loadFailure(-rc, log.getString(0));
      }
    }
    loaded = true;
  }

  private void loadRecordingStatistics() {
    try (Arena logArena = Arena.ofConfined()) {
      // One buffer per program: each load writes its statistics over the buffer it was given.
      List<MemorySegment> programs = programs();
      List<MemorySegment> logs = new ArrayList<>();
      for (MemorySegment p : programs) {
        MemorySegment log = logArena.allocate(STATISTICS_LOG_BYTES);
        Libbpf.setLogBuffer(p, log);
        Libbpf.setLogLevel(p, LOG_STATS);
        logs.add(log);
      }
      int rc = Libbpf.load(object);
      if (rc < 0) {
        String lastWords = "";
        for (int i = 0; i < programs.size(); i++) {
          if (Libbpf.programFd(programs.get(i)) < 0 && !logs.get(i).getString(0).isBlank()) {
            lastWords = logs.get(i).getString(0);
            break;
          }
        }
        throw loadFailure(-rc, lastWords);
      }
      List<VerifierStatistics> all = new ArrayList<>();
      for (int i = 0; i < programs.size(); i++) {
        if (Libbpf.programFd(programs.get(i)) >= 0) {
          all.add(VerifierStatistics.parse(Libbpf.programName(programs.get(i)), logs.get(i).getString(0)));
        }
      }
      statistics = List.copyOf(all);
    }
    loaded = true;
  }

  private BpfException loadFailure(int errno, String verifierLog) {
    String failed = programs().stream()
        .filter(p -> Libbpf.programFd(p) < 0)
        .map(Libbpf::programName)
        .findFirst()
        .orElse("?");
    if (verifierLog.isBlank()) {
      return new BpfException("load eBPF object (first program not loaded: " + failed + ")", errno);
    }
    return new BpfException("load eBPF program " + failed + ": the verifier rejected it:\n"
        + verifierLog.strip() + "\nverifier result", errno);
  }

  /** Attaches every program at the hook its SEC() names; returns the program names. */
  public List<String> attachAll() {
    checkState(loaded, "load before attach");
    for (MemorySegment p : programs()) {
      String name = Libbpf.programName(p);
      if (!notAutoAttached.contains(name)) {
        links.add(Libbpf.attach(p));
        attached.add(name);
      }
    }
    return List.copyOf(attached);
  }

  public BpfMap map(String name) {
    checkState(loaded, "maps have file descriptors only after load");
    MemorySegment map = Libbpf.findMap(object, name);
    return new BpfMap(name, Libbpf.mapFd(map), Libbpf.maxEntries(map));
  }

  private MemorySegment program(String name) {
    for (MemorySegment p : programs()) {
      if (Libbpf.programName(p).equals(name)) {
        return p;
      }
    }
    throw new IllegalArgumentException("no program " + name + " in the object");
  }

  /** The names of the programs loaded into the kernel (attached or not). */
  public List<String> loadedPrograms() {
    checkState(loaded, "load first");
    return programs().stream().filter(p -> Libbpf.programFd(p) >= 0).map(Libbpf::programName).toList();
  }

  /** The names of the programs attached so far. */
  public List<String> attachedPrograms() {
    return List.copyOf(attached);
  }

  private List<MemorySegment> programs() {
    List<MemorySegment> all = new ArrayList<>();
    MemorySegment p = Libbpf.nextProgram(object, MemorySegment.NULL);
    while (!p.equals(MemorySegment.NULL)) {
      all.add(p);
      p = Libbpf.nextProgram(object, p);
    }
    return all;
  }

  private void checkState(boolean condition, String message) {
    if (closed) {
      throw new IllegalStateException("eBPF object is closed");
    }
    if (!condition) {
      throw new IllegalStateException(message);
    }
  }

  /** Detaches every link, then unloads programs and maps. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (MemorySegment link : links) {
      Libbpf.destroyLink(link);
    }
    links.clear();
    for (int[] a : mapAttachments) {
      Libbpf.detachFromMap(a[0], a[1], a[2]);
    }
    mapAttachments.clear();
    Libbpf.close(object);
  }
}
