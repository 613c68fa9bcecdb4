package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.OtlpReceiver;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The agent as a user runs it: {@code io.periscope.agent.Main} in its own JVM, started the way the
 * {@code ./periscope} launcher starts it (same JVM flags), from this test's class path. The
 * launcher script itself is not run: it builds {@code agent/target/periscope.jar} when the jar is
 * missing or older than the sources, and during {@code mvn verify} tests run before the agent
 * module is packaged.
 */
@Tag("kernel")
class LauncherTest {
  private static final int OTLP_PORT = 18_450;
  private static final int CONSOLE_PORT = 18_451;
  private static final int ENV_PORT = 18_452;
  private static final int NOT_ROOT_PORT = 18_453;
  private static final Duration STARTUP = Duration.ofSeconds(20);
  /** Programs every capture has (bpftool shows names cut to 15 characters; these are shorter). */
  private static final Set<String> CORE_PROGRAMS =
      Set.of("exit_read", "exit_recvfrom", "enter_write", "exit_write", "enter_close", "sock_state");

  @TempDir
  static Path site;
  private static PeerProcess otlpServer;
  private static PeerProcess consoleServer;
  private static PeerProcess envServer;

  @BeforeAll
  static void startServers() throws Exception {
    Files.writeString(site.resolve("hello.txt"), "hello\n");
    otlpServer = pythonServer(OTLP_PORT);
    consoleServer = pythonServer(CONSOLE_PORT);
    envServer = pythonServer(ENV_PORT);
  }

  @AfterAll
  static void stopServers() {
    for (PeerProcess p : new PeerProcess[] {otlpServer, consoleServer, envServer}) {
      if (p != null) {
        p.close();
      }
    }
  }

  @Test
  void otlpEndpointFlagExportsAndSigtermDetachesEverything() throws Exception {
    Set<String> pinnedBefore = BpfObjects.pinned();
    try (OtlpReceiver receiver = OtlpReceiver.start();
        AgentProcess agent = AgentProcess.start(Map.of(), site,
            "--otlp-endpoint", receiver.endpoint(), "--port", Integer.toString(OTLP_PORT))) {
      // Loaded, attached or not: the TLS programs wait for a program to probe (Go's, for a Go program).
      Matcher summary = agent.awaitStdout(AgentProcess.SUMMARY, STARTUP);
      int programs = Integer.parseInt(summary.group(2) != null ? summary.group(2) : summary.group(1));
      agent.awaitStdout(Pattern.compile(Pattern.quote("  ports:     [" + OTLP_PORT + "]")), STARTUP);
      // Not a Kubernetes node: one line says so, and nothing else is said about it.
      agent.awaitStdout(Pattern.compile(Pattern.quote("  metadata:  process attributes (") + ".+\\)"), STARTUP);
      agent.awaitStdout(Pattern.compile(Pattern.quote(
          "  export:    OTLP http/protobuf to " + receiver.endpoint() + "/v1/traces")), STARTUP);

      // What the agent holds in the kernel, from its own file descriptors.
      BpfObjects held = BpfObjects.heldBy(agent.pid());
      assertThat(held.programs()).as("programs held by the agent").hasSize(programs);
      assertThat(held.maps()).as("maps held by the agent").isNotEmpty();
      Map<Long, String> names = BpfObjects.bpftoolNames("prog");
      assertThat(held.programs()).allSatisfy(id -> assertThat(names).containsKey(id));
      assertThat(held.programs().stream().map(names::get).toList()).containsAll(CORE_PROGRAMS);

      long curl = curl(OTLP_PORT);
      List<ReceivedSpan> spans = receiver.awaitSpans(s -> isOf(s, otlpServer.pid(), curl), 2, Duration.ofSeconds(20));
      assertTwoSpansOfOneRequest(spans, otlpServer.pid(), curl);

      long stopping = System.nanoTime();
      int exit = agent.stop(Duration.ofSeconds(10));
      Duration took = Duration.ofNanos(System.nanoTime() - stopping);
      String stderr = agent.stderr();
      assertThat(stderr).as("stderr").contains("periscope: stopping: flushing spans and detaching from the kernel\n");
      assertThat(stderr).as("stderr").containsPattern(
          "periscope: kernel: \\d+ events, 0 lost \\(ring buffer full\\), 0 shed with their connection"
              + " \\(overload; 0 connections not followed from their start\\), 0 cut at capture limit"
              + " \\(0 more records for long heads\\), 0 HTTP/2 frame walks lost their place; TLS: 0 ciphertext"
              + " syscalls not copied, 0 library calls on an unknown connection\n");
      assertThat(stderr).as("stderr").containsPattern("periscope: pipeline: \\d+ events, 2 connections \\(0 not HTTP,"
          + " 0 HTTP/2\\), 2 exchanges, 0 HTTP/1 and 0 HTTP/2 parse failures, 0 responses without request,"
          + " 0 incomplete\n");
      assertThat(stderr).as("stderr")
          .contains("periscope: export: 2 spans exported, 0 dropped (queue full), 0 failed\n");
      assertThat(stderr).as("stderr").doesNotContainIgnoringCase("kubernetes");

      // Nothing of the agent stays in the kernel: no program, map or link, and nothing pinned.
      BpfObjects left = BpfObjects.awaitGone(held, Duration.ofSeconds(5));
      assertThat(left.programs()).as("programs left after exit").isEmpty();
      assertThat(left.maps()).as("maps left after exit").isEmpty();
      assertThat(left.links()).as("links left after exit").isEmpty();
      assertThat(BpfObjects.pinned()).as("pinned under /sys/fs/bpf").isEqualTo(pinnedBefore);

      assertThat(took).as("time from SIGTERM to exit").isLessThan(Duration.ofSeconds(10));
      assertThat(exit).as("exit status after SIGTERM; stderr:\n" + stderr).isZero();
    }
  }

  @Test
  void withoutAnEndpointTracesArePrintedAsAWaterfall() throws Exception {
    try (AgentProcess agent = AgentProcess.start(Map.of(), site, "--port", Integer.toString(CONSOLE_PORT))) {
      agent.awaitStdout(AgentProcess.SUMMARY, STARTUP);
      agent.awaitStdout(Pattern.compile(Pattern.quote(
          "  export:    terminal (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to send OTLP)")), STARTUP);
      curl(CONSOLE_PORT);
      long requestDone = System.nanoTime();
      // python's span: a root of its own trace, or (once the agent links the two ends of a
      // connection on one node) indented under curl's span.
      Matcher serverRow = agent.awaitStdout(
          Pattern.compile("(  |    )http\\.server GET +server +200 +\\d+\\.\\d\\d ms +\\|[ #]{40}\\|"),
          Duration.ofSeconds(10));
      Duration printedAfter = Duration.ofNanos(System.nanoTime() - requestDone);
      String before = agent.stdout().substring(0, serverRow.start());
      String header = before.substring(before.lastIndexOf("trace "));
      assertThat(header).as(agent.stdout())
          .matches(serverRow.group(1).length() == 2
              ? "trace [0-9a-f]{32}  1 span  \\d+\\.\\d\\d ms\n"
              : "trace [0-9a-f]{32}  2 spans  \\d+\\.\\d\\d ms\n  curl GET +client +200 .*\n");
      agent.awaitStdout(Pattern.compile("  curl GET +client +200 +\\d+\\.\\d\\d ms +\\|[ #]{40}\\|"),
          Duration.ofSeconds(5));
      assertThat(printedAfter).isBetween(Duration.ofMillis(1800), Duration.ofSeconds(6));
    }
  }

  @Test
  void otlpEndpointVariableExportsToV1Traces() throws Exception {
    try (OtlpReceiver receiver = OtlpReceiver.start();
        AgentProcess agent = AgentProcess.start(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()), site,
            "--port", Integer.toString(ENV_PORT))) {
      agent.awaitStdout(AgentProcess.SUMMARY, STARTUP);
      agent.awaitStdout(Pattern.compile(Pattern.quote(
          "  export:    OTLP http/protobuf to " + receiver.endpoint() + "/v1/traces")), STARTUP);
      long curl = curl(ENV_PORT);
      // The receiver takes only POST /v1/traces: any other path would be refused, and no span kept.
      List<ReceivedSpan> spans = receiver.awaitSpans(s -> isOf(s, envServer.pid(), curl), 2, Duration.ofSeconds(20));
      assertTwoSpansOfOneRequest(spans, envServer.pid(), curl);
    }
  }

  static Stream<Arguments> configurationMistakes() {
    return Stream.of(
        Arguments.of(List.of("--port", "70000"), Map.of(), "periscope: --port: '70000' is not a port (1-65535)"),
        Arguments.of(List.of("--otlp-protocol", "http/json"), Map.of(),
            "periscope: --otlp-protocol: unsupported OTLP protocol 'http/json', allowed: grpc, http/protobuf"),
        Arguments.of(List.of("--capture-bytes", "0"), Map.of(),
            "periscope: --capture-bytes: '0' is not a byte count from 1 to 8192"),
        Arguments.of(List.of("--verbose"), Map.of(), "periscope: unknown option '--verbose' (see --help)"),
        Arguments.of(List.of("--port", "8080"), Map.of("OTEL_EXPORTER_OTLP_PROTOCOL", "bogus"),
            "periscope: OTEL_EXPORTER_OTLP_PROTOCOL: unsupported OTLP protocol 'bogus', allowed: grpc, http/protobuf"),
        Arguments.of(List.of("--kubernetes", "maybe"), Map.of(), "periscope: --kubernetes: 'maybe' is not auto or off"),
        Arguments.of(List.of(), Map.of("NODE_NAME", "node-a", "KUBECONFIG", "/nonexistent/kubeconfig"),
            "periscope: KUBECONFIG: no such file: /nonexistent/kubeconfig"));
  }

  @ParameterizedTest
  @MethodSource("configurationMistakes")
  void configurationMistakesExitWithStatus2AndNameTheOption(List<String> args, Map<String, String> env,
      String message) throws Exception {
    try (AgentProcess agent = AgentProcess.start(env, site, args.toArray(String[]::new))) {
      assertThat(agent.awaitExit(Duration.ofSeconds(20))).as("exit status; stderr: " + agent.stderr()).isEqualTo(2);
      assertThat(agent.stderr()).isEqualTo(message + "\n");
      assertThat(agent.stdout()).isEmpty();
    }
  }

  @Test
  void notRootExitsWithStatus1AndSaysWhatItNeeds(@TempDir Path readable) throws Exception {
    // The class path lives under /root (mode 700): copy it where the user nobody can read it.
    Files.setPosixFilePermissions(readable, PosixFilePermissions.fromString("rwxr-xr-x"));
    List<String> copied = new ArrayList<>();
    int n = 0;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path source = Path.of(entry);
      if (!Files.exists(source)) {
        continue;
      }
      Path target = readable.resolve((n++) + "-" + source.getFileName());
      copyReadable(source, target);
      copied.add(target.toString());
    }
    List<String> command = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
        "--clear-groups", "--"));
    command.addAll(AgentProcess.javaCommand(String.join(File.pathSeparator, copied)));
    command.addAll(List.of("--port", Integer.toString(NOT_ROOT_PORT)));
    try (AgentProcess agent = AgentProcess.start(command, Map.of(), readable)) {
      assertThat(agent.awaitExit(Duration.ofSeconds(20))).as("exit status; stderr: " + agent.stderr()).isEqualTo(1);
      assertThat(agent.stderr()).isEqualTo("periscope: cannot start: running as not root: Periscope loads eBPF"
          + " programs, which needs root (sudo ./periscope) or the capabilities CAP_BPF and CAP_PERFMON (or"
          + " CAP_SYS_ADMIN)\n");
      assertThat(agent.stdout()).isEmpty();
    }
  }

  // ---- helpers ----

  private static PeerProcess pythonServer(int port) throws Exception {
    return PeerProcess.server(site, port, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(port));
  }

  private static long curl(int port) throws Exception {
    return PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null",
        "http://127.0.0.1:" + port + "/hello.txt").pid();
  }

  private static boolean isOf(ReceivedSpan span, long serverPid, long clientPid) {
    long pid = TracingAgent.pid(span);
    return pid == serverPid || pid == clientPid;
  }

  private static void assertTwoSpansOfOneRequest(List<ReceivedSpan> spans, long serverPid, long curlPid) {
    TracingAgent.sleep(Duration.ofMillis(1500)); // give a wrong extra span the time to show
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2)
        .allSatisfy(s -> {
          assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
          assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
        });
    ReceivedSpan server = spans.stream().filter(s -> s.kind() == SpanKind.SPAN_KIND_SERVER).findFirst().orElseThrow();
    ReceivedSpan client = spans.stream().filter(s -> s.kind() == SpanKind.SPAN_KIND_CLIENT).findFirst().orElseThrow();
    assertThat(server.attributes()).containsEntry("url.path", "/hello.txt");
    assertThat((String) client.attributes().get("url.full")).as(client.toString())
        .matches("http://127\\.0\\.0\\.1:\\d+/hello\\.txt");
    assertThat(TracingAgent.pid(server)).isEqualTo(serverPid);
    assertThat(TracingAgent.pid(client)).isEqualTo(curlPid);
    assertThat(server.resourceAttributes()).containsEntry("service.name", "http.server");
    assertThat(client.resourceAttributes()).containsEntry("service.name", "curl");
    SemanticConventions.assertConform(spans); // as the launched agent makes them, its resource included
  }

  private static void copyReadable(Path source, Path target) throws IOException {
    if (Files.isDirectory(source)) {
      try (Stream<Path> tree = Files.walk(source)) {
        for (Path p : (Iterable<Path>) tree::iterator) {
          Path t = target.resolve(source.relativize(p).toString());
          if (Files.isDirectory(p)) {
            Files.createDirectories(t);
            Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rwxr-xr-x"));
          } else {
            Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(t, PosixFilePermissions.fromString("rw-r--r--"));
          }
        }
      }
    } else {
      Files.copy(source, target);
      Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
    }
  }

}
