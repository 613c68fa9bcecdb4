package io.periscope.agent.it;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real program run as a separate process for a kernel test: a server we wait for, or a client we
 * run to completion. Output is collected for failure messages. Closing kills what still runs.
 */
final class PeerProcess implements AutoCloseable {
  /** Debian's python, which has the Debian python packages; the one first on PATH may not. */
  static final String PYTHON = "/usr/bin/python3";

  private final Process process;
  private final String command;
  private final ByteSink output = new ByteSink();

  private PeerProcess(Process process, String command) {
    this.process = process;
    this.command = command;
    Thread.ofVirtual().start(() -> output.drain(process.getInputStream()));
  }

  static PeerProcess start(Path dir, String... command) throws IOException {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    return new PeerProcess(p, String.join(" ", command));
  }

  /** Starts a server and waits until it accepts connections on the port. */
  static PeerProcess server(Path dir, int port, String... command) throws IOException, InterruptedException {
    return serverOn(dir, "127.0.0.1", port, command);
  }

  /** Starts a server and waits until it accepts connections on that address and port. */
  static PeerProcess serverOn(Path dir, String host, int port, String... command)
      throws IOException, InterruptedException {
    PeerProcess peer = start(dir, command);
    // Generous: in the kernel matrix's emulated VMs, python importing grpcio took over 15 s on a busy host.
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      if (!peer.process.isAlive()) {
        throw new AssertionError(peer.command + " exited early: " + peer.output());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(host, port), 200);
        return peer;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    peer.close();
    throw new AssertionError(peer.command + " did not listen on port " + port + ": " + peer.output());
  }

  /** Runs a client to completion; fails the test when it fails. Returns its output. */
  static String run(Path dir, String... command) throws IOException, InterruptedException {
    return run(dir, 0, command);
  }

  /** Runs a client to completion; fails the test unless it exits with {@code expectedExit}. Returns its output. */
  static String run(Path dir, int expectedExit, String... command) throws IOException, InterruptedException {
    try (PeerProcess peer = start(dir, command)) {
      if (!peer.process.waitFor(60, TimeUnit.SECONDS)) {
        throw new AssertionError(peer.command + " did not finish: " + peer.output());
      }
      peer.output.awaitEnd();
      if (peer.process.exitValue() != expectedExit) {
        throw new AssertionError(peer.command + " exited with " + peer.process.exitValue() + ": " + peer.output());
      }
      return peer.output();
    }
  }

  /** A client that ran to completion: its own pid (the one its spans carry) and what it printed. */
  record Ran(long pid, String output) {}

  /**
   * Runs a client to completion like {@link #run}, through a shell that prints its pid and then
   * execs the command, so the pid printed is the client's own. Fails the test when the client fails.
   */
  static Ran runWithPid(Path dir, String... command) throws IOException, InterruptedException {
    return runWithPid(dir, 0, command);
  }

  /** Like {@link #runWithPid(Path, String...)}, for a client expected to exit with {@code expectedExit}. */
  static Ran runWithPid(Path dir, int expectedExit, String... command) throws IOException, InterruptedException {
    StringBuilder script = new StringBuilder("echo $$; exec");
    for (String arg : command) {
      script.append(" '").append(arg.replace("'", "'\\''")).append("'");
    }
    String output = run(dir, expectedExit, "/bin/sh", "-c", script.toString());
    int newline = output.indexOf('\n');
    return new Ran(Long.parseLong(output.substring(0, newline).strip()), output.substring(newline + 1));
  }

  /** Closes each of these that was started (nulls are skipped), in order. */
  static void closeAll(AutoCloseable... started) {
    for (AutoCloseable c : started) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }
  }

  long pid() {
    return process.pid();
  }

  /** Pids of this process and every descendant (nginx workers, forked servers). */
  List<Long> pids() {
    List<Long> pids = new ArrayList<>();
    pids.add(process.pid());
    process.descendants().forEach(d -> pids.add(d.pid()));
    return pids;
  }

  String output() {
    return output.text();
  }

  /** Waits until the output contains {@code text}; fails the test when it does not in time. */
  void awaitOutput(String text, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!output().contains(text)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(command + " did not print '" + text + "' within " + timeout + ": " + output());
      }
      if (!process.isAlive()) {
        output.awaitEnd();
        if (output().contains(text)) {
          return;
        }
        throw new AssertionError(command + " exited with " + process.exitValue() + " before printing '" + text
            + "': " + output());
      }
      Thread.sleep(20);
    }
  }

  /** Waits for the process to end and returns its exit status; fails the test when it does not in time. */
  int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError(command + " did not finish within " + timeout + ": " + output());
    }
    output.awaitEnd();
    return process.exitValue();
  }

  @Override
  public void close() {
    process.descendants().forEach(ProcessHandle::destroy);
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static final class ByteSink {
    private final StringBuilder text = new StringBuilder();
    private boolean ended;

    void drain(InputStream in) {
      byte[] buf = new byte[8192];
      try (in) {
        int n;
        while ((n = in.read(buf)) > 0) {
          synchronized (this) {
            text.append(new String(buf, 0, n, StandardCharsets.UTF_8));
          }
        }
      } catch (IOException ignored) {
        // the process went away
      }
      synchronized (this) {
        ended = true;
        notifyAll();
      }
    }

    synchronized void awaitEnd() throws InterruptedException {
      long deadline = System.currentTimeMillis() + 5_000;
      while (!ended && System.currentTimeMillis() < deadline) {
        wait(100);
      }
    }

    synchronized String text() {
      return text.toString();
    }
  }
}
