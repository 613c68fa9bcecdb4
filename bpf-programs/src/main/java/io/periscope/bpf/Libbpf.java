package io.periscope.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The slice of libbpf 1.x that Periscope uses, called through FFM. libbpf 1.x reports errors as
 * negative return codes, or as NULL with errno set for functions returning pointers; the
 * pointer-returning calls here capture errno and turn NULL into a {@link BpfException}.
 */
final class Libbpf {
  static final String LIBRARY = "libbpf.so.1";

  private static final Native LIB = load();

  private static final MethodHandle OPEN_MEM = LIB.functionWithErrno("bpf_object__open_mem",
      FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
  private static final MethodHandle LOAD = LIB.function("bpf_object__load",
      FunctionDescriptor.of(JAVA_INT, ADDRESS));
  private static final MethodHandle CLOSE = LIB.function("bpf_object__close",
      FunctionDescriptor.ofVoid(ADDRESS));
  private static final MethodHandle NEXT_PROGRAM = LIB.function("bpf_object__next_program",
      FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle PROGRAM_NAME = LIB.function("bpf_program__name",
      FunctionDescriptor.of(ADDRESS, ADDRESS));
  private static final MethodHandle PROGRAM_FD = LIB.function("bpf_program__fd",
      FunctionDescriptor.of(JAVA_INT, ADDRESS));
  private static final MethodHandle SET_LOG_BUF = LIB.function("bpf_program__set_log_buf",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
  private static final MethodHandle SET_LOG_LEVEL = LIB.function("bpf_program__set_log_level",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle ATTACH = LIB.functionWithErrno("bpf_program__attach",
      FunctionDescriptor.of(ADDRESS, ADDRESS));
  private static final MethodHandle SET_AUTOLOAD = LIB.function("bpf_program__set_autoload",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_BOOLEAN));
  private static final MethodHandle SET_AUTOCREATE = LIB.function("bpf_map__set_autocreate",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_BOOLEAN));
  private static final MethodHandle ATTACH_UPROBE = LIB.functionWithErrno("bpf_program__attach_uprobe_opts",
      FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
  private static final MethodHandle ATTACH_CGROUP = LIB.functionWithErrno("bpf_program__attach_cgroup",
      FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
  private static final MethodHandle PROG_ATTACH = LIB.function("bpf_prog_attach",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
  private static final MethodHandle PROG_DETACH = LIB.function("bpf_prog_detach2",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
  private static final MethodHandle LINK_DESTROY = LIB.function("bpf_link__destroy",
      FunctionDescriptor.of(JAVA_INT, ADDRESS));
  private static final MethodHandle FIND_MAP = LIB.function("bpf_object__find_map_by_name",
      FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle MAP_FD = LIB.function("bpf_map__fd",
      FunctionDescriptor.of(JAVA_INT, ADDRESS));
  private static final MethodHandle MAP_SET_MAX_ENTRIES = LIB.function("bpf_map__set_max_entries",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle MAP_MAX_ENTRIES = LIB.function("bpf_map__max_entries",
      FunctionDescriptor.of(JAVA_INT, ADDRESS));
  private static final MethodHandle MAP_INITIAL_VALUE = LIB.function("bpf_map__initial_value",
      FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
  private static final MethodHandle MAP_CREATE = LIB.function("bpf_map_create",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle MAP_UPDATE = LIB.function("bpf_map_update_elem",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
  private static final MethodHandle MAP_LOOKUP = LIB.function("bpf_map_lookup_elem",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle MAP_LOOKUP_AND_DELETE = LIB.function("bpf_map_lookup_and_delete_elem",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle MAP_DELETE = LIB.function("bpf_map_delete_elem",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle PROBE_HELPER = LIB.function("libbpf_probe_bpf_helper",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle PROBE_MAP_TYPE = LIB.function("libbpf_probe_bpf_map_type",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle PROBE_PROG_TYPE = LIB.function("libbpf_probe_bpf_prog_type",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle NUM_POSSIBLE_CPUS = LIB.function("libbpf_num_possible_cpus",
      FunctionDescriptor.of(JAVA_INT));

  private Libbpf() {}

  private static Native load() {
    try {
      return Native.library(LIBRARY);
    } catch (IllegalArgumentException e) {
      throw new BpfException(LIBRARY + " not found: install libbpf (apt-get install libbpf1)");
    }
  }

  static MemorySegment openMem(MemorySegment elf) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      MemorySegment obj = (MemorySegment) OPEN_MEM.invokeExact(state, elf, elf.byteSize(), MemorySegment.NULL);
      if (obj.equals(MemorySegment.NULL)) {
        throw new BpfException("open eBPF object", Native.errno(state));
      }
      return obj;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int load(MemorySegment obj) {
    try {
      return (int) LOAD.invokeExact(obj);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void close(MemorySegment obj) {
    try {
      CLOSE.invokeExact(obj);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** The program after {@code previous} (NULL: the first), or NULL at the end. */
  static MemorySegment nextProgram(MemorySegment obj, MemorySegment previous) {
    try {
      return (MemorySegment) NEXT_PROGRAM.invokeExact(obj, previous);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static String programName(MemorySegment program) {
    try {
      MemorySegment name = (MemorySegment) PROGRAM_NAME.invokeExact(program);
      return name.reinterpret(Long.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int programFd(MemorySegment program) {
    try {
      return (int) PROGRAM_FD.invokeExact(program);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void setLogBuffer(MemorySegment program, MemorySegment buffer) {
    try {
      int rc = (int) SET_LOG_BUF.invokeExact(program, buffer, buffer.byteSize());
      if (rc < 0) {
        throw new BpfException("set verifier log buffer", -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** The verifier's log level for this program's load (a bitmask: 1 the trace, 4 the statistics). */
  static void setLogLevel(MemorySegment program, int level) {
    try {
      int rc = (int) SET_LOG_LEVEL.invokeExact(program, level);
      if (rc < 0) {
        throw new BpfException("set verifier log level", -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Attaches by the program's SEC() name; returns the link. */
  static MemorySegment attach(MemorySegment program) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      MemorySegment link = (MemorySegment) ATTACH.invokeExact(state, program);
      if (link.equals(MemorySegment.NULL)) {
        throw new BpfException("attach program " + programName(program), Native.errno(state));
      }
      return link;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Whether {@link #load} loads the program (before load only). */
  static void setAutoload(MemorySegment program, boolean autoload) {
    try {
      int rc = (int) SET_AUTOLOAD.invokeExact(program, autoload);
      if (rc < 0) {
        throw new BpfException("set autoload of " + programName(program), -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Whether {@link #load} creates the map (before load only; a map no loaded program uses). */
  static void setAutocreate(MemorySegment map, boolean autocreate) {
    try {
      int rc = (int) SET_AUTOCREATE.invokeExact(map, autocreate);
      if (rc < 0) {
        throw new BpfException("set autocreate of a map", -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Attaches a cgroup program (sockops) to the cgroup open at {@code cgroupFd}; the link detaches it. */
  static MemorySegment attachCgroup(MemorySegment program, int cgroupFd) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      MemorySegment link = (MemorySegment) ATTACH_CGROUP.invokeExact(state, program, cgroupFd);
      if (link.equals(MemorySegment.NULL)) {
        throw new BpfException("attach program " + programName(program) + " to a cgroup", Native.errno(state));
      }
      return link;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /**
   * A uprobe (or uretprobe) on {@code function} of the ELF file at {@code binary}, {@code offset}
   * bytes into it, in every process that maps it (libbpf finds the symbol); with no function, at
   * that offset in the file. struct bpf_uprobe_opts of libbpf 1.x: sz, ref_ctr_offset, bpf_cookie,
   * retprobe (bool), func_name.
   */
  static MemorySegment attachUprobe(MemorySegment program, String binary, String function, long offset,
      boolean retprobe) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment opts = arena.allocate(40, 8);
      opts.set(JAVA_LONG, 0, 40);
      opts.set(ValueLayout.JAVA_BYTE, 24, (byte) (retprobe ? 1 : 0));
      opts.set(ADDRESS, 32, function == null ? MemorySegment.NULL : arena.allocateFrom(function));
      MemorySegment state = Native.callState(arena);
      MemorySegment link = (MemorySegment) ATTACH_UPROBE.invokeExact(state, program, -1, arena.allocateFrom(binary),
          offset, opts);
      if (link.equals(MemorySegment.NULL)) {
        String where = function == null ? "offset 0x" + Long.toHexString(offset)
            : function + (offset == 0 ? "" : "+" + offset);
        throw new BpfException("attach program " + programName(program) + " to " + where + " in " + binary,
            Native.errno(state));
      }
      return link;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** bpf_prog_attach: a program to a map (sk_msg to a sockhash), kept until detached or the map is freed. */
  static void attachToMap(MemorySegment program, int mapFd, int attachType) {
    try {
      int rc = (int) PROG_ATTACH.invokeExact(programFd(program), mapFd, attachType, 0);
      if (rc < 0) {
        throw new BpfException("attach program " + programName(program) + " to its map", -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void detachFromMap(int programFd, int mapFd, int attachType) {
    try {
      int ignored = (int) PROG_DETACH.invokeExact(programFd, mapFd, attachType);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void destroyLink(MemorySegment link) {
    try {
      int ignored = (int) LINK_DESTROY.invokeExact(link);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static MemorySegment findMap(MemorySegment obj, String name) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment map = (MemorySegment) FIND_MAP.invokeExact(obj, arena.allocateFrom(name));
      if (map.equals(MemorySegment.NULL)) {
        throw new BpfException("eBPF object has no map named " + name);
      }
      return map;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int mapFd(MemorySegment map) {
    try {
      return (int) MAP_FD.invokeExact(map);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int maxEntries(MemorySegment map) {
    try {
      return (int) MAP_MAX_ENTRIES.invokeExact(map);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void setMaxEntries(MemorySegment map, int entries) {
    try {
      int rc = (int) MAP_SET_MAX_ENTRIES.invokeExact(map, entries);
      if (rc < 0) {
        throw new BpfException("set max_entries to " + entries, -rc);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** The writable initial contents of a global-data map (such as .rodata), valid until load. */
  static MemorySegment initialValue(MemorySegment map) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment size = arena.allocate(JAVA_LONG);
      MemorySegment data = (MemorySegment) MAP_INITIAL_VALUE.invokeExact(map, size);
      if (data.equals(MemorySegment.NULL)) {
        throw new BpfException("map has no initial value");
      }
      return data.reinterpret(size.get(JAVA_LONG, 0));
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** bpf_map_update_elem; returns 0 or a negative errno. */
  /** bpf_map_create: a map of the loader's own, outside any object; the caller closes its fd. */
  static int createMap(int type, int keySize, int valueSize, int maxEntries) {
    try {
      int fd = (int) MAP_CREATE.invokeExact(type, MemorySegment.NULL, keySize, valueSize, maxEntries,
          MemorySegment.NULL);
      if (fd < 0) {
        throw new BpfException("create a map of type " + type, -fd);
      }
      return fd;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int mapUpdate(int fd, MemorySegment key, MemorySegment value, long flags) {
    try {
      return (int) MAP_UPDATE.invokeExact(fd, key, value, flags);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int mapLookup(int fd, MemorySegment key, MemorySegment value) {
    try {
      return (int) MAP_LOOKUP.invokeExact(fd, key, value);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** bpf_map_lookup_and_delete_elem: a queue's pop, with a null key. */
  static int mapLookupAndDelete(int fd, MemorySegment key, MemorySegment value) {
    try {
      return (int) MAP_LOOKUP_AND_DELETE.invokeExact(fd, key, value);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int mapDelete(int fd, MemorySegment key) {
    try {
      return (int) MAP_DELETE.invokeExact(fd, key);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static int possibleCpus() {
    try {
      int cpus = (int) NUM_POSSIBLE_CPUS.invokeExact();
      if (cpus <= 0) {
        throw new BpfException("count possible CPUs", -cpus);
      }
      return cpus;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Whether programs of {@code programType} may call {@code helper} here: libbpf loads a probe; 1 yes, 0 no, negative on error. */
  static int probeHelper(int programType, int helper) {
    try {
      return (int) PROBE_HELPER.invokeExact(programType, helper, MemorySegment.NULL);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Whether maps of {@code mapType} can be made here: 1 yes, 0 no, negative on error. */
  static int probeMapType(int mapType) {
    try {
      return (int) PROBE_MAP_TYPE.invokeExact(mapType, MemorySegment.NULL);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** Whether programs of {@code programType} can be loaded here: 1 yes, 0 no, negative on error. */
  static int probeProgramType(int programType) {
    try {
      return (int) PROBE_PROG_TYPE.invokeExact(programType, MemorySegment.NULL);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }
}
