package io.periscope.agent.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code io.periscope.agent.Main} in a JVM of its own, with stdout and stderr kept apart. The
 * child gets this environment without any {@code OTEL_*} variable, plus what the test adds.
 */
final class AgentProcess implements AutoCloseable {
  /** The line the agent prints once every program is loaded and attached. */
  static final Pattern SUMMARY =
      Pattern.compile("periscope \\S+: tracing HTTP/1\\.x, HTTP/2 and gRPC on kernel \\S+, "
          + "(\\d+)(?: of (\\d+))? eBPF programs attached(?: \\(.+\\))?");

  private final Process process;
  private final StringBuffer stdout = new StringBuffer();
  private final StringBuffer stderr = new StringBuffer();
  private final Thread[] readers;

  private AgentProcess(Process process) {
    this.process = process;
    this.readers = new Thread[] {
      Thread.ofVirtual().start(() -> drain(process.getInputStream(), stdout)),
      Thread.ofVirtual().start(() -> drain(process.getErrorStream(), stderr)),
    };
  }

  /** This JVM's java executable. */
  static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** The launcher's JVM and flags, on the given class path, running Main. */
  static List<String> javaCommand(String classPath) {
    return List.of(java(),
        "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xms32m", "-Xmx192m", "-cp", classPath, "io.periscope.agent.Main");
  }

  /** Main from this test's class path, with these options, in {@code dir}. */
  static AgentProcess start(Map<String, String> env, Path dir, String... args) throws IOException {
    List<String> command = new ArrayList<>(javaCommand(System.getProperty("java.class.path")));
    command.addAll(List.of(args));
    return start(command, env, dir);
  }

  static AgentProcess start(List<String> command, Map<String, String> env, Path dir) throws IOException {
    ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
    builder.environment().keySet().removeIf(k -> k.startsWith("OTEL_"));
    builder.environment().putAll(env);
    return new AgentProcess(builder.start());
  }

  long pid() {
    return process.pid();
  }

  String stdout() {
    return stdout.toString();
  }

  String stderr() {
    return stderr.toString();
  }

  /** Waits until stdout has a line matching {@code line}; returns the match (offsets into {@link #stdout()}). */
  Matcher awaitStdout(Pattern line, Duration timeout) throws InterruptedException {
    Pattern anchored = Pattern.compile("(?m)^" + line.pattern() + "$");
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      Matcher m = anchored.matcher(stdout());
      if (m.find()) {
        return m;
      }
      if (!process.isAlive()) {
        joinReaders();
        m = anchored.matcher(stdout());
        if (m.find()) {
          return m;
        }
        throw new AssertionError("the agent exited with " + process.exitValue() + " before printing a line like '"
            + line + "'\nstdout:\n" + stdout() + "\nstderr:\n" + stderr());
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the agent printed no line like '" + line + "' within " + timeout + "\nstdout:\n"
            + stdout() + "\nstderr:\n" + stderr());
      }
      Thread.sleep(20);
    }
  }

  /** Sends SIGTERM and waits for the exit; returns the exit status. */
  int stop(Duration timeout) throws InterruptedException {
    // Through the handle: Process.destroy() also closes our ends of the pipes, losing what the
    // agent prints while it stops.
    process.toHandle().destroy();
    return awaitExit(timeout);
  }

  /**
   * Sends SIGKILL, as the OOM killer or an impatient node does: the agent runs none of its shutdown.
   * Waits for the exit; returns the exit status.
   */
  int kill(Duration timeout) throws InterruptedException {
    process.toHandle().destroyForcibly();
    return awaitExit(timeout);
  }

  int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("the agent did not exit within " + timeout + "\nstdout:\n" + stdout() + "\nstderr:\n"
          + stderr());
    }
    joinReaders();
    return process.exitValue();
  }

  private void joinReaders() throws InterruptedException {
    for (Thread reader : readers) {
      reader.join(Duration.ofSeconds(5));
    }
  }

  private static void drain(InputStream in, StringBuffer into) {
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      char[] buf = new char[4096];
      int n;
      while ((n = reader.read(buf)) > 0) {
        into.append(buf, 0, n);
      }
    } catch (IOException e) {
      // the process went away
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
  }
}
