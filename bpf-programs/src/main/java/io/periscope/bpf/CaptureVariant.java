package io.periscope.bpf;

import java.util.List;

/**
 * The two builds of the kernel programs, from one source: the same records and behaviour for the
 * Java side, different kernel features underneath. {@link #AUTO} picks by {@link KernelFeatures}.
 */
public enum CaptureVariant {
  /** Choose from the kernel's features: {@link #FULL} where it loads, else {@link #COMPAT}. */
  AUTO(""),
  /**
   * Task storage, saved registers, {@code bpf_loop} (5.17+, or older kernels with those backported):
   * reads blocked before the agent started are captured, HTTP/2 walks follow 4096 pieces per
   * syscall, traceparent injection is available.
   */
  FULL("/bpf/periscope.bpf.o"),
  /**
   * 5.10+: per-thread state in bounded LRU hashes, arguments saved by entry programs, HTTP/2
   * walks of up to 1024 pieces per syscall (a longer one loses the frame boundaries, counted), no
   * traceparent injection.
   */
  COMPAT("/bpf/periscope_compat.bpf.o");

  private final String resource;

  CaptureVariant(String resource) {
    this.resource = resource;
  }

  String resource() {
    return resource;
  }

  /** The variant to load for {@code requested} on a kernel with {@code features}; throws naming what is missing. */
  static CaptureVariant choose(CaptureVariant requested, KernelFeatures features, String kernel) {
    if (!features.ringBuffer()) {
      throw new BpfException("kernel " + kernel + " has no BPF ring buffer: Periscope needs Linux 5.10 or newer"
          + " (the ring buffer came in 5.8)");
    }
    return switch (requested) {
      case AUTO -> features.full() ? FULL : COMPAT;
      case COMPAT -> COMPAT;
      case FULL -> {
        if (!features.full()) {
          throw new BpfException("the full capture variant needs " + String.join(", ", features.missingForFull())
              + ", which kernel " + kernel + " lacks: use the compat variant (capture.variant auto or compat)");
        }
        yield FULL;
      }
    };
  }

  /** For the startup banner: "full capture" or "compat capture (no bpf_loop, no task storage)". */
  static String describe(CaptureVariant variant, KernelFeatures features) {
    if (variant == FULL) {
      return "full capture";
    }
    List<String> missing = features.missingForFull();
    return missing.isEmpty() ? "compat capture (as configured)"
        : "compat capture (no " + String.join(", no ", missing) + ")";
  }
}
