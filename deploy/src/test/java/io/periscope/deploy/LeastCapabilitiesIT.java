package io.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The distribution's agent run as the container image runs it: as a user other than root, with the
 * chart's four capabilities and nothing else (the bounding set holds only those), on the real
 * kernel. Once through ambient capabilities (how a process manager such as systemd would grant
 * them), once through the image's own mechanism: file capabilities {@code +p} on the runtime's
 * java binary, raised by the agent, with the runtime's libraries in the linker cache (in a mount
 * namespace of the test's own, so the host's cache is untouched). And without each capability, to
 * show what it is for.
 */
@Tag("kernel")
class LeastCapabilitiesIT {
  private static final int SERVER_PORT = 19_210;
  private static final int HEALTH_PORT = 19_211;
  private static final int OTLP_PORT = 19_212;
  private static final String NOBODY = "65534";

  @TempDir
  static Path root;
  private static Path home;
  private static Process server;

  @BeforeAll
  static void unpack() throws Exception {
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
    DistributionIT.run(List.of("tar", "-xzf", DistributionIT.ARCHIVE.toString(), "-C", root.toString()), root);
    home = root.resolve("periscope");
    DistributionIT.openUp(home);
    Files.writeString(root.resolve("hello.txt"), "hello\n");
    // The traced server runs as root: reading its /proc/PID/exe as another user takes CAP_SYS_PTRACE.
    server = new ProcessBuilder("/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(SERVER_PORT)).directory(root.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    awaitListening(SERVER_PORT);
  }

  @AfterAll
  static void stopServer() {
    if (server != null) {
      server.destroy();
    }
  }

  @Test
  void nobodyWithTheFourCapabilitiesTracesEveryProcess() throws Exception {
    List<String> caps = ChartTest.CAPABILITIES;
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(setpriv(caps, true), receiver)) {
      agent.awaitReady();
      assertRunsAsNobodyWithExactly(agent.pid(), caps);
      List<SpanReceiver.Received> spans = traceOneRequest(receiver);
      SpanReceiver.Received serverSpan = spans.stream().filter(s -> s.kind() == Span.SpanKind.SPAN_KIND_SERVER)
          .findFirst().orElseThrow();
      assertThat(serverSpan.resource()).containsEntry("service.name", "http.server")
          .containsEntry("process.executable.path", Files.readSymbolicLink(Path.of("/proc/" + server.pid() + "/exe"))
              .toString());
      assertThat(agent.stop()).as(agent.output()).isZero();
    }
  }

  @Test
  void theImagesFileCapabilitiesGiveANonRootAgentItsCapabilities(@TempDir Path copy) throws Exception {
    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
    DistributionIT.run(List.of("cp", "-a", home.toString(), copy.toString()), copy);
    Path image = copy.resolve("periscope");
    Path java = image.resolve("runtime/bin/java");
    // What deploy/Dockerfile does, on a copy.
    DistributionIT.run(List.of("setcap", "cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search+p", java.toString()),
        copy);
    Path conf = copy.resolve("ld.so.conf");
    Files.writeString(conf, "include /etc/ld.so.conf\n" + image.resolve("runtime/lib") + "\n"
        + image.resolve("runtime/lib/server") + "\n");
    Path cache = copy.resolve("ld.so.cache");
    String script = "ldconfig -f " + conf + " -C " + cache + " && mount --bind " + cache + " /etc/ld.so.cache && exec "
        + String.join(" ", setpriv(ChartTest.CAPABILITIES, false)).replace(home.toString(), image.toString());
    List<String> command = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", script);
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(command, receiver)) {
      agent.awaitReady();
      assertRunsAsNobodyWithExactly(agent.javaPid(), ChartTest.CAPABILITIES);
      assertThat(traceOneRequest(receiver)).hasSize(2);
      assertThat(agent.stop()).as(agent.output()).isZero();
    }
  }

  @ParameterizedTest(name = "without {0}")
  @CsvSource(delimiter = '|', textBlock = """
      BPF             | periscope: cannot start: running as not root: Periscope loads eBPF programs, which needs root (sudo ./periscope) or the capabilities CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)
      PERFMON         | periscope: cannot start: running as not root: Periscope loads eBPF programs, which needs root (sudo ./periscope) or the capabilities CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)
      DAC_READ_SEARCH | periscope: cannot start: tracefs is not mounted at /sys/kernel/tracing and mounting it failed
      """)
  void withoutACapabilityTheAgentDoesNotStartAndSaysWhy(String missing, String message) throws Exception {
    List<String> caps = new ArrayList<>(ChartTest.CAPABILITIES);
    caps.remove(missing);
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(setpriv(caps, true), receiver)) {
      assertThat(agent.awaitExit()).as(agent.output()).isEqualTo(1);
      assertThat(agent.output()).startsWith(message);
    }
  }

  @Test
  void withoutSysPtraceOtherUsersProcessesLoseTheirExecutable() throws Exception {
    List<String> caps = new ArrayList<>(ChartTest.CAPABILITIES);
    caps.remove("SYS_PTRACE");
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(setpriv(caps, true), receiver)) {
      agent.awaitReady();
      SpanReceiver.Received serverSpan = traceOneRequest(receiver).stream()
          .filter(s -> s.kind() == Span.SpanKind.SPAN_KIND_SERVER).findFirst().orElseThrow();
      assertThat(serverSpan.resource()).containsEntry("service.name", "http.server")
          .doesNotContainKey("process.executable.path");
    }
  }

  @Test
  void traceparentInjectionTakesNetAdminToo() throws Exception {
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(setpriv(ChartTest.CAPABILITIES, true, "--inject-traceparent"), receiver)) {
      assertThat(agent.awaitExit()).as(agent.output()).isEqualTo(1);
      assertThat(agent.output()).startsWith("periscope: cannot start: traceparent injection (--inject-traceparent)"
          + " needs the capability CAP_NET_ADMIN");
    }
    List<String> caps = new ArrayList<>(ChartTest.CAPABILITIES);
    caps.add("NET_ADMIN");
    try (SpanReceiver receiver = new SpanReceiver(OTLP_PORT);
        AgentRun agent = AgentRun.start(setpriv(caps, true, "--inject-traceparent", "--inject-despite-fionread"),
            receiver)) {
      agent.awaitReady();
      assertRunsAsNobodyWithExactly(agent.pid(), caps);
      assertThat(traceOneRequest(receiver)).hasSize(2);
      assertThat(agent.stop()).as(agent.output()).isZero();
      assertThat(agent.output()).contains("traceparent injection: 1 requests given one");
    }
  }

  // ---- helpers ----

  /** setpriv as nobody with only these capabilities in the bounding set (and, if asked, ambient). */
  private static List<String> setpriv(List<String> caps, boolean ambient, String... options) {
    String set = caps.stream().map(c -> "+" + c.toLowerCase(Locale.ROOT)).collect(Collectors.joining(","));
    List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY,
        "--clear-groups", "--bounding-set=-all," + set));
    if (ambient) {
      command.addAll(List.of("--inh-caps=-all," + set, "--ambient-caps=-all," + set));
    } else {
      command.add("--inh-caps=-all");
    }
    command.addAll(List.of("--", home.resolve("bin/periscope").toString(), "--port", Integer.toString(SERVER_PORT),
        "--health-address", "127.0.0.1:" + HEALTH_PORT, "--otlp-endpoint", "http://127.0.0.1:" + OTLP_PORT));
    command.addAll(List.of(options));
    return command;
  }

  private static List<SpanReceiver.Received> traceOneRequest(SpanReceiver receiver) throws Exception {
    Process curl = new ProcessBuilder("curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + SERVER_PORT + "/hello.txt")
        .redirectErrorStream(true).start();
    long curlPid = curl.pid();
    assertThat(curl.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(curl.exitValue()).isZero();
    List<String> ours = List.of(Long.toString(server.pid()), Long.toString(curlPid));
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (true) {
      List<SpanReceiver.Received> spans = receiver.spans().stream()
          .filter(s -> ours.contains(s.resource().get("process.pid"))).toList();
      if (spans.size() >= 2) {
        return spans;
      }
      assertThat(System.nanoTime()).as("the request's two spans within 20 s; got " + receiver.spans())
          .isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  private static void assertRunsAsNobodyWithExactly(long pid, List<String> caps) throws IOException {
    String status = Files.readString(Path.of("/proc/" + pid + "/status"));
    assertThat(status).containsPattern("(?m)^Uid:\\s+" + NOBODY + "\\s");
    long expected = 0;
    for (String cap : caps) {
      expected |= 1L << switch (cap) {
        case "DAC_READ_SEARCH" -> 2;
        case "SYS_PTRACE" -> 19;
        case "PERFMON" -> 38;
        case "BPF" -> 39;
        case "NET_ADMIN" -> 12;
        default -> throw new AssertionError(cap);
      };
    }
    // The Java thread that raised them; the process's own line shows the thread that started it.
    long effective = 0;
    try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
      for (Path task : (Iterable<Path>) tasks::iterator) {
        String line = Files.readAllLines(task.resolve("status")).stream().filter(l -> l.startsWith("CapEff:"))
            .findFirst().orElseThrow();
        effective |= Long.parseUnsignedLong(line.substring(7).strip(), 16);
      }
    }
    assertThat(Long.toHexString(effective)).as("effective capabilities of the agent's threads")
        .isEqualTo(Long.toHexString(expected));
  }

  private static void awaitListening(int port) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (true) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        assertThat(System.nanoTime()).as("server on " + port).isLessThan(deadline);
        Thread.sleep(50);
      }
    }
  }

  /** The agent process, its output collected; closing kills what still runs. */
  private static final class AgentRun implements AutoCloseable {
    private final Process process;
    private final StringBuffer output = new StringBuffer();

    private AgentRun(Process process) {
      this.process = process;
      Thread.ofVirtual().start(() -> {
        try {
          output.append(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
          // gone
        }
      });
    }

    static AgentRun start(List<String> command, SpanReceiver receiver) throws IOException {
      ProcessBuilder b = new ProcessBuilder(command).directory(root.toFile()).redirectErrorStream(true);
      b.environment().keySet().removeIf(k -> k.startsWith("OTEL_") || k.startsWith("PERISCOPE_") || k.equals("JAVA_HOME"));
      return new AgentRun(b.start());
    }

    long pid() {
      return process.pid();
    }

    /** The JVM's pid: unshare forks sh, which execs setpriv, which execs the launcher, which execs java. */
    long javaPid() {
      return process.descendants().filter(p -> p.info().command().orElse("").endsWith("/bin/java"))
          .findFirst().map(ProcessHandle::pid).orElse(process.pid());
    }

    String output() {
      return output.toString();
    }

    void awaitReady() throws Exception {
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (true) {
        try {
          HttpResponse<String> r = DistributionIT.get(HEALTH_PORT, "/readyz");
          if (r.statusCode() == 200) {
            return;
          }
        } catch (IOException notYet) {
          // starting
        }
        assertThat(process.isAlive()).as("the agent exited: " + output()).isTrue();
        assertThat(System.nanoTime()).as("ready within 30 s: " + output()).isLessThan(deadline);
        Thread.sleep(100);
      }
    }

    int awaitExit() throws InterruptedException {
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).as(output()).isTrue();
      Thread.sleep(100); // the reader's last bytes
      return process.exitValue();
    }

    int stop() throws InterruptedException {
      ProcessHandle target = ProcessHandle.of(javaPid()).orElseThrow();
      target.destroy();
      assertThat(process.waitFor(20, TimeUnit.SECONDS)).as(output()).isTrue();
      return process.exitValue();
    }

    @Override
    public void close() {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
  }
}
