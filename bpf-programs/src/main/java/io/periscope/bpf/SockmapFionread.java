package io.periscope.bpf;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;

/**
 * Asks the kernel what {@code ioctl(FIONREAD)} says on a TCP connection in a sockhash: one byte
 * sent over loopback to a socket put in the map, then the question. Some stable kernels since 6.6.128,
 * 6.12.75 and 6.18.14 answer it from the sockmap's own receive queue, which only a verdict program
 * fills, so a map with sk_msg alone makes them say 0; older ones count the TCP queue. Asked, not
 * read off the version: distributions backport, and the next stable release may change it again.
 */
final class SockmapFionread {
  private static final int MAP_SOCKHASH = 18;
  private static final int AF_INET = 2;
  private static final int SOCK_STREAM_CLOEXEC = 1 | 02000000;
  private static final long FIONREAD = 0x541B;
  private static final short POLLIN = 1;
  private static final int LOOPBACK = 0x7f000001;
  /** The probe's key in the map: socket cookies, the map's real keys, start at 1. */
  private static final long PROBE_KEY = 0;

  private static final Native LIBC = Native.libc();
  private static final MethodHandle SOCKET = LIBC.functionWithErrno("socket",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
  private static final MethodHandle BIND = LIBC.functionWithErrno("bind",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle LISTEN = LIBC.functionWithErrno("listen",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
  private static final MethodHandle GETSOCKNAME = LIBC.functionWithErrno("getsockname",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle CONNECT = LIBC.functionWithErrno("connect",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
  private static final MethodHandle ACCEPT = LIBC.functionWithErrno("accept",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
  private static final MethodHandle WRITE = LIBC.functionWithErrno("write",
      FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
  private static final MethodHandle POLL = LIBC.functionWithErrno("poll",
      FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
  private static final MethodHandle IOCTL = LIBC.functionWithErrno("ioctl",
      FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));

  private SockmapFionread() {}

  /** True when FIONREAD counts the bytes waiting on a connection in a sockhash (of the probe's own, bare). */
  static boolean countsWaitingBytesInABareSockhash() {
    int fd = Libbpf.createMap(MAP_SOCKHASH, 8, 8, 1);
    try {
      return countsWaitingBytes(new BpfMap("fionread_probe", fd, 1));
    } finally {
      Libc.close(fd);
    }
  }

  /** True when FIONREAD counts the byte waiting on a loopback connection while it sits in {@code sockhash}. */
  private static boolean countsWaitingBytes(BpfMap sockhash) {
    int listener = -1;
    int client = -1;
    int server = -1;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = Native.callState(arena);
      MemorySegment address = arena.allocate(16, 4); // struct sockaddr_in, port 0: any
      address.set(JAVA_SHORT, 0, (short) AF_INET);
      address.set(JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN), 4, LOOPBACK);
      listener = check("socket", (int) SOCKET.invokeExact(state, AF_INET, SOCK_STREAM_CLOEXEC, 0), state);
      check("bind", (int) BIND.invokeExact(state, listener, address, 16), state);
      check("listen", (int) LISTEN.invokeExact(state, listener, 1), state);
      MemorySegment length = arena.allocateFrom(JAVA_INT, 16);
      check("getsockname", (int) GETSOCKNAME.invokeExact(state, listener, address, length), state);
      client = check("socket", (int) SOCKET.invokeExact(state, AF_INET, SOCK_STREAM_CLOEXEC, 0), state);
      check("connect", (int) CONNECT.invokeExact(state, client, address, 16), state);
      server = check("accept", (int) ACCEPT.invokeExact(state, listener, MemorySegment.NULL, MemorySegment.NULL),
          state);

      MemorySegment key = arena.allocateFrom(JAVA_LONG, PROBE_KEY);
      sockhash.put(key, arena.allocateFrom(JAVA_LONG, client));
      try {
        MemorySegment one = arena.allocateFrom(JAVA_BYTE, (byte) 'x');
        if ((long) WRITE.invokeExact(state, server, one, 1L) != 1) {
          throw new BpfException("write to the FIONREAD probe's socket", Native.errno(state));
        }
        MemorySegment pollfd = arena.allocate(8, 4); // struct pollfd
        pollfd.set(JAVA_INT, 0, client);
        pollfd.set(JAVA_SHORT, 4, POLLIN);
        check("poll", (int) POLL.invokeExact(state, pollfd, 1L, 1000), state);
        MemorySegment waiting = arena.allocateFrom(JAVA_INT, -1);
        check("ioctl FIONREAD", (int) IOCTL.invokeExact(state, client, FIONREAD, waiting), state);
        return waiting.get(JAVA_INT, 0) == 1;
      } finally {
        sockhash.remove(key);
      }
    } catch (BpfException e) {
      throw e;
    } catch (Throwable t) {
      throw new AssertionError(t);
    } finally {
      for (int fd : new int[] {server, client, listener}) {
        if (fd >= 0) {
          Libc.close(fd);
        }
      }
    }
  }

  private static int check(String call, int rc, MemorySegment state) {
    if (rc < 0) {
      throw new BpfException(call + " for the FIONREAD probe", Native.errno(state));
    }
    return rc;
  }
}
