package io.periscope.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** The few libc calls the kernel interface needs. */
public final class Libc {
  static final int PROT_READ = 1;
  static final int PROT_WRITE = 2;
  static final int MAP_SHARED = 1;
  private static final int SC_PAGESIZE = 30;
  private static final int CLOCK_REALTIME = 0;
  private static final int CLOCK_MONOTONIC = 1;
  private static final MemorySegment MAP_FAILED = MemorySegment.ofAddress(-1L);

  private static final Native LIBC = Native.libc();
  private static final MethodHandle MMAP = LIBC.functionWithErrno("mmap",
      FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
  private static final MethodHandle MUNMAP = LIBC.function("munmap",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
  private static final MethodHandle SYSCONF = LIBC.function("sysconf",
      FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
  private static final MethodHandle CLOCK_GETTIME = LIBC.function("clock_gettime",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
  private static final MethodHandle GETEUID = LIBC.function("geteuid",
      FunctionDescriptor.of(JAVA_INT));
  private static final MethodHandle MOUNT = LIBC.functionWithErrno("mount",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));

  private static final MethodHandle OPEN = LIBC.functionWithErrno("open",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle CLOSE = LIBC.function("close",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT));
  private static final int O_RDONLY_DIRECTORY_CLOEXEC = 0 | 0200000 | 02000000;

  private static final MethodHandle CAPGET = LIBC.functionWithErrno("capget",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle CAPSET = LIBC.functionWithErrno("capset",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
  /** _LINUX_CAPABILITY_VERSION_3: 64-bit sets, as two 32-bit {effective, permitted, inheritable} structs. */
  private static final int CAPABILITY_VERSION_3 = 0x20080522;

  private Libc() {}

  /**
   * Makes every permitted capability of the calling thread effective. A binary given file
   * capabilities without the effective bit ({@code setcap ...+p}, as in the container image) starts
   * with them permitted but not effective, and must raise them itself; that way a capability the
   * container does not grant is merely absent (and reported by name), where with the effective bit
   * the kernel would refuse to exec the binary at all. Threads started afterwards inherit the set.
   * Does nothing when they are effective already (root, or ambient capabilities).
   */
  static void raiseEffectiveCapabilities() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment header = arena.allocate(8);
      header.set(JAVA_INT, 0, CAPABILITY_VERSION_3);
      header.set(JAVA_INT, 4, 0); // this thread
      MemorySegment data = arena.allocate(24); // two {effective, permitted, inheritable}
      MemorySegment state = Native.callState(arena);
      if ((int) CAPGET.invokeExact(state, header, data) != 0) {
        throw new BpfException("capget", Native.errno(state));
      }
      int low = data.get(JAVA_INT, 4);
      int high = data.get(JAVA_INT, 16);
      if (data.get(JAVA_INT, 0) == low && data.get(JAVA_INT, 12) == high) {
        return;
      }
      data.set(JAVA_INT, 0, low);
      data.set(JAVA_INT, 12, high);
      if ((int) CAPSET.invokeExact(state, header, data) != 0) {
        throw new BpfException("capset", Native.errno(state));
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static MemorySegment mmap(long length, int prot, int fd, long offset) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      MemorySegment address = (MemorySegment) MMAP.invokeExact(
          state, MemorySegment.NULL, length, prot, MAP_SHARED, fd, offset);
      if (address.equals(MAP_FAILED)) {
        throw new BpfException("mmap " + length + " bytes of fd " + fd, Native.errno(state));
      }
      return address.reinterpret(length);
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void munmap(MemorySegment mapping) {
    try {
      int ignored = (int) MUNMAP.invokeExact(mapping, mapping.byteSize());
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static long pageSize() {
    try {
      return (long) SYSCONF.invokeExact(SC_PAGESIZE);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  public static int effectiveUid() {
    try {
      return (int) GETEUID.invokeExact();
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** CLOCK_MONOTONIC in nanoseconds: the clock of {@code bpf_ktime_get_ns()}. */
  public static long monotonicNanos() {
    return clock(CLOCK_MONOTONIC);
  }

  public static long realtimeNanos() {
    return clock(CLOCK_REALTIME);
  }

  private static long clock(int id) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment timespec = arena.allocate(16, 8);
      int rc = (int) CLOCK_GETTIME.invokeExact(id, timespec);
      if (rc != 0) {
        throw new BpfException("clock_gettime(" + id + ")");
      }
      return timespec.get(JAVA_LONG, 0) * 1_000_000_000L + timespec.get(JAVA_LONG, 8);
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** mount(2) of a pseudo file system, such as tracefs. */
  static void mount(String source, String target, String type) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      int rc = (int) MOUNT.invokeExact(state, arena.allocateFrom(source), arena.allocateFrom(target),
          arena.allocateFrom(type), 0L, MemorySegment.NULL);
      if (rc != 0) {
        throw new BpfException("mount " + type + " at " + target, Native.errno(state));
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  /** open(2) of a directory, read-only (a cgroup, to attach programs to); the caller closes the fd. */
  static int openDirectory(String path) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), O_RDONLY_DIRECTORY_CLOEXEC);
      if (fd < 0) {
        throw new BpfException("open " + path, Native.errno(state));
      }
      return fd;
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }

  static void close(int fd) {
    try {
      int ignored = (int) CLOSE.invokeExact(fd);
    } catch (Throwable t) {
      throw new AssertionError(t);
    }
  }
}
