package io.periscope.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/** Looks up native functions, optionally capturing {@code errno} for calls that report through it. */
final class Native {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO =
      CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

  private final SymbolLookup symbols;

  private Native(SymbolLookup symbols) {
    this.symbols = symbols;
  }

  static Native library(String name) {
    return new Native(SymbolLookup.libraryLookup(name, Arena.global()));
  }

  static Native libc() {
    return new Native(LINKER.defaultLookup());
  }

  /** A downcall that does not touch errno, or whose errors come back in the return value. */
  MethodHandle function(String name, FunctionDescriptor descriptor) {
    return LINKER.downcallHandle(find(name), descriptor);
  }

  /** A downcall whose first argument is a {@link #callState} segment that receives errno. */
  MethodHandle functionWithErrno(String name, FunctionDescriptor descriptor) {
    return LINKER.downcallHandle(find(name), descriptor, Linker.Option.captureCallState("errno"));
  }

  boolean has(String name) {
    return symbols.find(name).isPresent();
  }

  private MemorySegment find(String name) {
    Optional<MemorySegment> symbol = symbols.find(name);
    return symbol.orElseThrow(() -> new UnsatisfiedLinkError("native symbol not found: " + name));
  }

  static MemorySegment callState(Arena arena) {
    return arena.allocate(CALL_STATE);
  }

  static int errno(MemorySegment callState) {
    return (int) ERRNO.get(callState, 0L);
  }
}
