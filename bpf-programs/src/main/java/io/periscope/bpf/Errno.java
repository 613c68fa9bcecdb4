package io.periscope.bpf;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** errno values and their text, from libc's {@code strerror}. */
final class Errno {
  static final int ENOENT = 2;

  private static final MethodHandle STRERROR =
      Native.libc().function("strerror", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));

  private Errno() {}

  static String describe(int errno) {
    int positive = Math.abs(errno);
    try {
      MemorySegment text = (MemorySegment) STRERROR.invokeExact(positive);
      return text.reinterpret(256).getString(0) + " (errno " + positive + ")";
    } catch (Throwable t) {
      return "errno " + positive;
    }
  }
}
