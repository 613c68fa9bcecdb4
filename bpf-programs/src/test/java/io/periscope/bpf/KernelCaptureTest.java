package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The capture on the real kernel. Needs root (or CAP_BPF + CAP_PERFMON); it fails, never skips,
 * where it cannot run. Peers are separate processes (the agent's own pid is never traced).
 */
@Tag("kernel")
class KernelCaptureTest {
  private static final int PORT = 18_131;

  record Seen(byte type, byte direction, int tgid, int localPort, int remotePort, int total, String payload, long sock) {}

  /** Both variants: the compat one loads on current kernels too, so it is proven here as well as on old ones. */
  @ParameterizedTest
  @EnumSource(value = CaptureVariant.class, names = {"FULL", "COMPAT"})
  void capturesBothEndsOfATcpExchangeBetweenTwoProcesses(CaptureVariant variant) throws Exception {
    KernelSupport.check();
    int self = (int) ProcessHandle.current().pid();
    CaptureConfig config = CaptureConfig.everything(self).withPorts(Set.of(PORT)).withVariant(variant);
    KernelFeatures features = KernelFeatures.probe();
    if (variant == CaptureVariant.FULL && !features.full()) {
      // A kernel without what the full variant needs (5.10: the kernel matrix) refuses it by name.
      assertThatThrownBy(() -> KernelCapture.start(config)).isInstanceOf(BpfException.class)
          .hasMessageContaining("the full capture variant needs " + String.join(", ", features.missingForFull()));
      return;
    }
    List<Seen> seen = new ArrayList<>();
    Process server;
    Process client;
    try (KernelCapture capture = KernelCapture.start(config)) {
      assertThat(capture.variant()).isEqualTo(variant);
      assertThat(capture.programs()).contains("exit_read", "enter_write", "exit_write", "exit_accept4", "sock_state");
      server = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
          s.bind(('127.0.0.1', %d)); s.listen(1); print('ready', flush=True)
          c, _ = s.accept(); data = c.recv(100); c.sendall(b'pong:' + data); c.close()
          """.formatted(PORT)).redirectErrorStream(true).start();
      assertThat(new String(server.getInputStream().readNBytes(6))).startsWith("ready");
      client = new ProcessBuilder("/usr/bin/python3", "-c", """
          import socket
          c = socket.create_connection(('127.0.0.1', %d)); c.sendall(b'ping'); print(c.recv(100)); c.close()
          """.formatted(PORT)).redirectErrorStream(true).start();
      assertThat(client.waitFor()).isZero();
      assertThat(server.waitFor()).isZero();

      SocketEvent view = new SocketEvent();
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (System.nanoTime() < deadline && seen.stream().filter(s -> s.type == SocketEvent.TYPE_CONN_CLOSE).count() < 2) {
        capture.poll((memory, offset, length) -> {
          assertThat(view.wrap(memory, offset, length)).isTrue();
          byte[] payload = new byte[view.capturedLength()];
          java.lang.foreign.MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, view.payloadOffset(), payload, 0, payload.length);
          seen.add(new Seen(view.type(), view.direction(), view.tgid(), view.localPort(), view.remotePort(),
              view.totalLength(), new String(payload, StandardCharsets.US_ASCII), view.sock()));
        });
        Thread.sleep(10);
      }
      assertThat(capture.counters().ringBufferDrops()).isZero();
      assertThat(capture.counters().events()).isGreaterThanOrEqualTo(seen.size());
    }
    int serverPid = (int) server.pid();
    int clientPid = (int) client.pid();
    assertThat(seen).as("events seen").anySatisfy(s -> {
      assertThat(s.type).isEqualTo(SocketEvent.TYPE_DATA);
      assertThat(s.tgid).isEqualTo(clientPid);
      assertThat(s.direction).isEqualTo(SocketEvent.DIRECTION_EGRESS);
      assertThat(s.remotePort).isEqualTo(PORT);
      assertThat(s.payload).isEqualTo("ping");
    });
    assertThat(seen).anySatisfy(s -> {
      assertThat(s.tgid).isEqualTo(serverPid);
      assertThat(s.direction).isEqualTo(SocketEvent.DIRECTION_INGRESS);
      assertThat(s.localPort).isEqualTo(PORT);
      assertThat(s.payload).isEqualTo("ping");
    });
    assertThat(seen).anySatisfy(s -> {
      assertThat(s.tgid).isEqualTo(serverPid);
      assertThat(s.direction).isEqualTo(SocketEvent.DIRECTION_EGRESS);
      assertThat(s.payload).isEqualTo("pong:ping");
    });
    assertThat(seen).anySatisfy(s -> {
      assertThat(s.type).isEqualTo(SocketEvent.TYPE_CONN_OPEN);
      assertThat(s.tgid).isEqualTo(serverPid);
    });
    assertThat(seen).anySatisfy(s -> {
      assertThat(s.type).isEqualTo(SocketEvent.TYPE_CONN_OPEN);
      assertThat(s.tgid).isEqualTo(clientPid);
    });
    assertThat(seen).noneMatch(s -> s.tgid == self);
    // Both sockets' ends are reported, keyed on the socket: the pipeline relies on it to finish connections.
    List<Long> dataSockets = seen.stream().filter(s -> s.type == SocketEvent.TYPE_DATA).map(Seen::sock).distinct().toList();
    assertThat(dataSockets).hasSize(2);
    assertThat(seen.stream().filter(s -> s.type == SocketEvent.TYPE_CONN_CLOSE).map(Seen::sock).distinct())
        .containsExactlyInAnyOrderElementsOf(dataSockets);
  }

  /**
   * A program the agent has not seen is probed for TLS as it execs: the kernel queues the pid
   * ({@code tls_execs}) and {@link KernelCapture#probeExecs()} takes it. No scan of /proc is asked
   * for here (the agent's is every 2 s), so only the queue can have found it.
   */
  @Test
  void aGoProgramIsProbedForTlsAtItsExec(@TempDir Path tmp) throws Exception {
    KernelSupport.check();
    Path go = GoPrograms.build("https_peer.go", tmp);
    try (KernelCapture capture = KernelCapture.start(CaptureConfig.everything((int) ProcessHandle.current().pid()))) {
      assertThat(capture.tlsLibraries()).noneMatch(f -> f.startsWith(go.toString()));
      // A client that waits a minute before its call: alive while the queue is looked at.
      Process waiting = new ProcessBuilder(go.toString(), "get", "https://127.0.0.1:1/", "h1", "1", "60").start();
      try {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (capture.tlsLibraries().stream().noneMatch(f -> f.startsWith(go.toString()))
            && System.nanoTime() < deadline) {
          capture.probeExecs();
          Thread.sleep(10);
        }
      } finally {
        waiting.destroyForcibly();
      }
      assertThat(capture.tlsLibraries()).anySatisfy(f -> assertThat(f).startsWith(go + " (go1."));
    }
  }

  /**
   * A library a running process loads late (python's ssl module on its first import; here a copy
   * of libssl, so a file no scan has seen) is found when every process is looked at again, every
   * {@link TlsProbes#RESCAN_EVERY} scans, and not before.
   */
  @Test
  void aLibraryLoadedLateIsFoundByTheNextFullRescan(@TempDir Path tmp) throws Exception {
    KernelSupport.check();
    Path copy = Files.copy(Path.of("/usr/lib/x86_64-linux-gnu/libssl.so.3"), tmp.resolve("libssl.so.3"));
    try (KernelCapture capture = KernelCapture.start(CaptureConfig.everything((int) ProcessHandle.current().pid()))) {
      Process python = new ProcessBuilder("/usr/bin/python3", "-c", """
          import ctypes, sys
          print("started", flush=True); sys.stdin.readline()
          ctypes.CDLL(sys.argv[1]); print("loaded", flush=True); sys.stdin.readline()
          """, copy.toString()).redirectErrorStream(true).start();
      try (var out = python.inputReader(); var in = python.outputWriter()) {
        assertThat(out.readLine()).isEqualTo("started");
        capture.refreshTls(); // the new process is scanned: no libssl in its maps yet
        in.write("\n");
        in.flush();
        assertThat(out.readLine()).isEqualTo("loaded");
        int scans = 0;
        while (!capture.tlsLibraries().contains(copy.toString()) && scans < TlsProbes.RESCAN_EVERY) {
          capture.refreshTls();
          scans++;
        }
        assertThat(capture.tlsLibraries()).contains(copy.toString());
        assertThat(scans).as("scans until found: only a full rescan looks at a process again").isGreaterThan(1);
      } finally {
        python.destroyForcibly();
      }
    }
  }

  @Test
  void closeDetachesEverything() throws IOException {
    KernelSupport.check();
    Set<String> before = ownPrograms();
    try (KernelCapture capture = KernelCapture.start(CaptureConfig.everything((int) ProcessHandle.current().pid()))) {
      assertThat(ownPrograms()).hasSizeGreaterThan(before.size());
    }
    assertThat(ownPrograms()).isEqualTo(before);
    assertThat(openBpfFds()).isZero();
  }

  @Test
  void closeDetachesInjectionFromTheCgroupToo() throws Exception {
    KernelSupport.check();
    String cgroup = KernelCapture.cgroup2Root();
    CaptureConfig config = CaptureConfig.everything((int) ProcessHandle.current().pid()).withTraceparentInjection(true)
        .withInjectionDespiteFionread(true);
    if (!KernelFeatures.probe().full()) {
      // Injection needs the full variant: refused before anything loads, nothing left attached.
      assertThatThrownBy(() -> KernelCapture.start(config)).isInstanceOf(BpfException.class)
          .hasMessageContaining("traceparent injection (--inject-traceparent) needs the full capture variant");
      assertThat(cgroupPrograms(cgroup)).doesNotContain("inject_track");
      assertThat(openBpfFds()).isZero();
      return;
    }
    try (KernelCapture capture = KernelCapture.start(config)) {
      assertThat(capture.programs()).contains("inject_track", "inject_traceparent", "exit_write");
      assertThat(cgroupPrograms(cgroup)).contains("inject_track");
    }
    assertThat(cgroupPrograms(cgroup)).doesNotContain("inject_track");
    assertThat(openBpfFds()).isZero();
  }

  /** What bpftool says is attached to the cgroup (sockops shows its program's name). */
  private static String cgroupPrograms(String cgroup) throws Exception {
    Process bpftool = new ProcessBuilder("bpftool", "cgroup", "show", cgroup).redirectErrorStream(true).start();
    String out = new String(bpftool.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(bpftool.waitFor()).as(out).isZero();
    return out;
  }

  /** Our process's bpf fds, from /proc/self/fdinfo: after close there must be none. */
  private static int openBpfFds() throws IOException {
    int count = 0;
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : fds.toList()) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.startsWith("anon_inode:bpf")) {
            count++;
          }
        } catch (IOException gone) {
          // the fd of the directory listing itself
        }
      }
    }
    return count;
  }

  private static Set<String> ownPrograms() throws IOException {
    Set<String> fds = new java.util.HashSet<>();
    try (var all = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : all.toList()) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.equals("anon_inode:bpf-prog")) {
            fds.add(fd.getFileName().toString());
          }
        } catch (IOException gone) {
          // raced with the listing
        }
      }
    }
    return fds;
  }
}
