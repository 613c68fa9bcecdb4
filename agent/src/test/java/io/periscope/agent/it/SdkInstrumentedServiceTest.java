package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
import io.periscope.agent.link.LinkStats;
import io.periscope.agent.testing.ReceivedSpan;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * curl -> a Java service run with the OpenTelemetry Java agent ({@link SdkServicePeer}) -> a legacy
 * {@code python3 -m http.server}. The Java service sends {@code traceparent} headers of its own, so
 * Periscope leaves it to its SDK: no CLIENT span for its calls, and by default no SERVER span
 * either, while python's SERVER span joins the SDK's trace as the child of the SDK's CLIENT span.
 * The SDK exports to the same test receiver as Periscope; its spans are told apart by their
 * resource's {@code service.name}.
 */
@Tag("kernel")
class SdkInstrumentedServiceTest {
  private static final int JAVA_PORT = 19_320;
  private static final int PYTHON_PORT = 19_321;
  private static final String SERVICE_NAME = "periscope-it-sdk-orders";
  private static final String JAVAAGENT_JAR = "opentelemetry-javaagent-2.22.0.jar";
  /** The javaagent JVM takes seconds to start (it instruments classes as they load), more on a busy machine. */
  private static final Duration JAVA_START = Duration.ofSeconds(45);

  @TempDir
  static Path tmp;
  private static Path site;
  private static Path classes;
  private static String javaagent;

  @BeforeAll
  static void prepare() throws IOException {
    site = Files.createDirectories(tmp.resolve("site"));
    for (String name : List.of("a", "b", "c", "d", "e", "f")) {
      Files.writeString(site.resolve(name + ".txt"), "legacy file " + name + "\n");
    }
    // The service's class path: its one class, which needs only the JDK.
    String classFile = SdkServicePeer.class.getSimpleName() + ".class";
    Path packageDir = Files.createDirectories(
        tmp.resolve("classes").resolve(SdkServicePeer.class.getPackageName().replace('.', '/')));
    try (InputStream in = SdkServicePeer.class.getResourceAsStream(classFile)) {
      assertThat(in).as(classFile).isNotNull();
      Files.copy(in, packageDir.resolve(classFile));
    }
    classes = tmp.resolve("classes");
    javaagent = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(entry -> entry.endsWith(File.separator + JAVAAGENT_JAR))
        .findFirst()
        .orElseThrow(() -> new AssertionError(JAVAAGENT_JAR + " is not on the test class path (a test dependency)"));
  }

  @Test
  void pythonServerJoinsTheSdksTraceAndPeriscopeMakesNoSpanForTheSdkService() throws Exception {
    List<String> paths = List.of("/a.txt", "/b.txt", "/c.txt");
    try (Services services = Services.start("--port", Integer.toString(JAVA_PORT), "--port",
        Integer.toString(PYTHON_PORT))) {
      long curl = services.curl(paths);
      // Periscope: curl's CLIENT spans and python's SERVER spans; the SDK: a SERVER and a CLIENT span per request.
      List<ReceivedSpan> spans = RequestChain.collect(services.tracing, services.pids(curl), 4 * paths.size());
      String all = RequestChain.describe(services.tracing, spans);

      assertThat(spans.stream().filter(periscopeOf(services.java.pid())).toList())
          .as("Periscope's spans for the SDK-instrumented process in" + all).isEmpty();
      // curl's trace is its CLIENT span alone: the SERVER span that would follow is the SDK's business.
      RequestChain.of(services.tracing, spans.stream().filter(s -> TracingAgent.pid(s) == curl).toList(), paths,
          Hop.of("curl CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(curl))).assertOneTraceEach();
      assertSdkTraces(spans.stream().filter(s -> TracingAgent.pid(s) != curl).toList(), paths, services);

      LinkStats stats = services.tracing.agent.linkStats();
      assertThat(stats.sdkProcesses()).as("processes found SDK-instrumented").isEqualTo(1);
      assertThat(stats.sdkClientSpans()).as("CLIENT spans left to the SDK").isEqualTo(paths.size());
      assertThat(stats.sdkServerSpans()).as("SERVER spans left to the SDK").isEqualTo(paths.size());
    }
  }

  @Test
  void withSdkServerSpansPeriscopeMakesTheSdkServicesServerSpansToo() throws Exception {
    List<String> paths = List.of("/d.txt", "/e.txt", "/f.txt");
    try (Services services = Services.start("--port", Integer.toString(JAVA_PORT), "--port",
        Integer.toString(PYTHON_PORT), "--sdk-server-spans")) {
      long curl = services.curl(paths);
      // Periscope also makes the Java process's SERVER spans, each the child of curl's CLIENT span.
      List<ReceivedSpan> spans = RequestChain.collect(services.tracing, services.pids(curl), 5 * paths.size());
      Predicate<ReceivedSpan> periscopeJava = periscopeOf(services.java.pid());

      Predicate<ReceivedSpan> curlsTrace = s -> TracingAgent.pid(s) == curl || periscopeJava.test(s);
      RequestChain.of(services.tracing, spans.stream().filter(curlsTrace).toList(), paths,
              Hop.of("curl CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(curl)),
              new Hop("Periscope's Java SERVER", periscopeJava.and(s -> s.kind() == SpanKind.SPAN_KIND_SERVER)))
          .assertOneTraceEach();
      assertSdkTraces(spans.stream().filter(curlsTrace.negate()).toList(), paths, services);

      LinkStats stats = services.tracing.agent.linkStats();
      assertThat(stats.sdkClientSpans()).as("CLIENT spans left to the SDK").isEqualTo(paths.size());
      assertThat(stats.sdkServerSpans()).as("SERVER spans left to the SDK").isZero();
    }
  }

  /**
   * Each request's SDK trace: the SDK's SERVER span (a root: curl sent no traceparent) -> the SDK's
   * CLIENT span -> Periscope's python SERVER span, which has that CLIENT span's id from the header.
   * And nothing else: no CLIENT span of Periscope's for the SDK's calls.
   */
  private static void assertSdkTraces(List<ReceivedSpan> spans, List<String> paths, Services services) {
    RequestChain chains = RequestChain.of(services.tracing, spans, paths,
        new Hop("SDK SERVER", sdk(SpanKind.SPAN_KIND_SERVER)),
        new Hop("SDK CLIENT", sdk(SpanKind.SPAN_KIND_CLIENT)),
        Hop.of("python SERVER", SpanKind.SPAN_KIND_SERVER, List.of(services.python.pid())));
    chains.assertOneTraceEach();
    for (String path : paths) {
      assertThat(chains.span(path, 0).resourceAttributes()).containsEntry("process.pid", services.java.pid());
      assertThat(chains.span(path, 1).attributes()).containsEntry("url.full", "http://127.0.0.1:" + PYTHON_PORT + path);
      assertThat(chains.span(path, 2).resourceAttributes()).doesNotContainEntry("service.name", SERVICE_NAME);
      assertThat(chains.span(path, 2).attributes()).containsEntry("http.response.status_code", 200L);
    }
  }

  /** The OpenTelemetry Java agent's spans of this kind: the resource has the service name it was given. */
  private static Predicate<ReceivedSpan> sdk(SpanKind kind) {
    return s -> s.kind() == kind && SERVICE_NAME.equals(s.resourceAttributes().get("service.name"));
  }

  /** Periscope's spans for this process: its pid, and not the SDK's resource. */
  private static Predicate<ReceivedSpan> periscopeOf(long pid) {
    return s -> TracingAgent.pid(s) == pid && !SERVICE_NAME.equals(s.resourceAttributes().get("service.name"));
  }

  /** Periscope tracing the test's two ports, the python server, and the Java service exporting to the same receiver. */
  private record Services(TracingAgent tracing, PeerProcess python, PeerProcess java) implements AutoCloseable {
    static Services start(String... agentArgs) throws Exception {
      TracingAgent tracing = TracingAgent.start(agentArgs);
      PeerProcess python = null;
      PeerProcess java = null;
      try {
        // The SDK's exports go to the receiver: a port Periscope must not trace, or it would see them.
        assertThat(URI.create(tracing.receiver.endpoint()).getPort()).isNotIn(JAVA_PORT, PYTHON_PORT);
        python = PeerProcess.server(site, PYTHON_PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
            Integer.toString(PYTHON_PORT));
        java = PeerProcess.start(tmp, javaCommand(tracing.receiver.tracesEndpoint()));
        java.awaitOutput(SdkServicePeer.LISTENING, JAVA_START);
        return new Services(tracing, python, java);
      } catch (Exception | Error e) {
        PeerProcess.closeAll(java, python, tracing);
        throw e;
      }
    }

    /** curl asks the Java service for these paths, one after another on one connection; returns curl's pid. */
    long curl(List<String> paths) throws Exception {
      List<String> command = new ArrayList<>(List.of("/usr/bin/curl", "-sS", "--noproxy", "*"));
      for (String path : paths) {
        command.add("http://127.0.0.1:" + JAVA_PORT + path);
      }
      PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, command.toArray(String[]::new));
      // The python server's files, passed back by the Java service.
      assertThat(curl.output().lines().toList())
          .containsExactlyElementsOf(paths.stream().map(p -> "legacy file " + p.substring(1, 2)).toList());
      return curl.pid();
    }

    /** The processes whose spans the test looks at (the SDK's spans have the Java service's pid too). */
    List<Long> pids(long curl) {
      return List.of(curl, java.pid(), python.pid());
    }

    @Override
    public void close() {
      PeerProcess.closeAll(java, python, tracing);
    }
  }

  /** A new JVM, the test's own java, with the javaagent configured by the environment (env execs java: same pid). */
  private static String[] javaCommand(String tracesEndpoint) {
    return new String[] {
        "/usr/bin/env",
        "OTEL_SERVICE_NAME=" + SERVICE_NAME,
        "OTEL_TRACES_EXPORTER=otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + tracesEndpoint,
        "OTEL_METRICS_EXPORTER=none",
        "OTEL_LOGS_EXPORTER=none",
        "OTEL_BSP_SCHEDULE_DELAY=200",
        ProcessHandle.current().info().command().orElseThrow(),
        "-javaagent:" + javaagent,
        "-cp", classes.toString(),
        SdkServicePeer.class.getName(),
        Integer.toString(JAVA_PORT),
        Integer.toString(PYTHON_PORT),
    };
  }
}
