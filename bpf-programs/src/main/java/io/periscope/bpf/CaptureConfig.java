package io.periscope.bpf;

import java.util.Objects;
import java.util.Set;

/**
 * What the kernel programs capture. Empty pid and comm sets trace every process; an empty port set
 * traces every port. A process is traced when its pid or its command name is listed; a socket when
 * its local or remote port is listed.
 *
 * @param agentPid       the agent's own pid: never traced, and its export connections are hidden from peers
 * @param captureBytes   payload bytes copied per syscall, 1 to {@link SocketEvent#MAX_CAPTURE}
 * @param ringBufferBytes ring buffer size: a power of two, at least one page
 * @param injectTraceparent insert a traceparent into the plaintext HTTP/1 requests traced clients
 *                          write without one (sockops on the cgroup v2 root, sk_msg)
 * @param samplingRatio     the share of the traces the kernel starts (injecting) that are sampled,
 *                          as the agent's ratio sampler decides it for the same trace id
 * @param variant           which build of the kernel programs to load ({@link CaptureVariant#AUTO}: by the kernel's features)
 */
public record CaptureConfig(int agentPid, int captureBytes, int ringBufferBytes,
    Set<Integer> pids, Set<String> comms, Set<Integer> ports, boolean injectTraceparent, double samplingRatio,
    CaptureVariant variant, boolean injectDespiteFionread) {

  public static final int DEFAULT_CAPTURE_BYTES = SocketEvent.MAX_CAPTURE;
  public static final int DEFAULT_RING_BUFFER_BYTES = 8 << 20;
  /** Longest command name the kernel keeps (TASK_COMM_LEN - 1). */
  public static final int MAX_COMM_LENGTH = 15;

  public CaptureConfig {
    Objects.requireNonNull(pids, "pids");
    Objects.requireNonNull(comms, "comms");
    Objects.requireNonNull(ports, "ports");
    Objects.requireNonNull(variant, "variant");
    if (captureBytes < 1 || captureBytes > SocketEvent.MAX_CAPTURE) {
      throw new IllegalArgumentException("captureBytes must be 1 to " + SocketEvent.MAX_CAPTURE + ": " + captureBytes);
    }
    if (ringBufferBytes < 4096 || Integer.bitCount(ringBufferBytes) != 1) {
      throw new IllegalArgumentException("ringBufferBytes must be a power of two >= 4096: " + ringBufferBytes);
    }
    if (!(samplingRatio >= 0 && samplingRatio <= 1)) {
      throw new IllegalArgumentException("samplingRatio must be from 0 to 1: " + samplingRatio);
    }
    for (String comm : comms) {
      if (comm.isEmpty() || comm.length() > MAX_COMM_LENGTH) {
        throw new IllegalArgumentException("process names are 1 to 15 characters (the kernel's comm): " + comm);
      }
    }
    for (int port : ports) {
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("ports are 1 to 65535: " + port);
      }
    }
    pids = Set.copyOf(pids);
    comms = Set.copyOf(comms);
    ports = Set.copyOf(ports);
  }

  public CaptureConfig(int agentPid, int captureBytes, int ringBufferBytes, Set<Integer> pids, Set<String> comms,
      Set<Integer> ports) {
    this(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, false, 1.0, CaptureVariant.AUTO, false);
  }

  /** Traces everything but the agent itself, with the default sizes. */
  public static CaptureConfig everything(int agentPid) {
    return new CaptureConfig(agentPid, DEFAULT_CAPTURE_BYTES, DEFAULT_RING_BUFFER_BYTES, Set.of(), Set.of(), Set.of());
  }

  public CaptureConfig withTraceparentInjection(boolean inject, double samplingRatio) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, inject, samplingRatio, variant,
        injectDespiteFionread);
  }

  public CaptureConfig withTraceparentInjection(boolean inject) {
    return withTraceparentInjection(inject, samplingRatio);
  }

  /**
   * Injection also where this kernel answers FIONREAD wrongly on the sockets it tracks
   * ({@link KernelCapture}): refused there unless asked for.
   */
  public CaptureConfig withInjectionDespiteFionread(boolean despite) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, injectTraceparent, samplingRatio,
        variant, despite);
  }

  public CaptureConfig withPorts(Set<Integer> ports) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, injectTraceparent, samplingRatio, variant,
        injectDespiteFionread);
  }

  public CaptureConfig withPids(Set<Integer> pids) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, injectTraceparent, samplingRatio, variant,
        injectDespiteFionread);
  }

  public CaptureConfig withComms(Set<String> comms) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, injectTraceparent, samplingRatio, variant,
        injectDespiteFionread);
  }

  public CaptureConfig withVariant(CaptureVariant variant) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, comms, ports, injectTraceparent, samplingRatio,
        variant, injectDespiteFionread);
  }
}
