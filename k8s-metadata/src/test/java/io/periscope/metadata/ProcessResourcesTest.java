package io.periscope.metadata;

import static io.periscope.metadata.IncubatingAttributes.HOST_NAME;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_COMMAND;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_NAME;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_PATH;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_PID;
import static io.opentelemetry.semconv.ServiceAttributes.SERVICE_NAME;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.SchemaUrls;
import io.opentelemetry.semconv.TelemetryAttributes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessResourcesTest {

  @TempDir
  Path proc;

  private long now = 1_000_000_000L; // any value: only differences matter

  @BeforeEach
  void hostName() throws IOException {
    Files.createDirectories(proc.resolve("sys/kernel"));
    Files.writeString(proc.resolve("sys/kernel/hostname"), "node-7\n");
  }

  private ProcessResourcesBuilder builder() {
    return ProcessResources.builder().procRoot(proc).nanoTime(() -> now);
  }

  /** A /proc/<pid> with a NUL-separated cmdline (trailing NUL, as the kernel writes it). */
  private Path process(int pid, String... argv) throws IOException {
    Path dir = Files.createDirectories(proc.resolve(Integer.toString(pid)));
    writeCmdline(pid, argv);
    return dir;
  }

  private void writeCmdline(int pid, String... argv) throws IOException {
    StringBuilder cmdline = new StringBuilder();
    for (String arg : argv) {
      cmdline.append(arg).append('\0');
    }
    Files.writeString(proc.resolve(pid + "/cmdline"), cmdline, StandardCharsets.UTF_8);
  }

  @Test
  void describesARunningProcess() throws IOException {
    Path dir = process(4242, "/usr/bin/python3.11", "-u", "manage.py", "runserver", "--password=s3cret");
    Files.createSymbolicLink(dir.resolve("exe"), Path.of("/usr/bin/python3.11"));
    Files.writeString(dir.resolve("comm"), "python3\n");
    ProcessResources resources = builder().build();

    Resource resource = resources.resolve(4242, "gunicorn-worker");

    assertThat(resource.getAttributes().asMap()).containsOnly(
        Map.entry(SERVICE_NAME, "manage"),
        Map.entry(PROCESS_PID, 4242L),
        Map.entry(PROCESS_EXECUTABLE_NAME, "python3.11"),
        Map.entry(PROCESS_EXECUTABLE_PATH, "/usr/bin/python3.11"),
        Map.entry(PROCESS_COMMAND, "/usr/bin/python3.11"),
        Map.entry(HOST_NAME, "node-7"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_NAME, "periscope"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_LANGUAGE, "java"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_VERSION, "dev"));
    assertThat(resource.getSchemaUrl()).isEqualTo(SchemaUrls.V1_37_0);
    assertThat(resources.readFailures()).isZero();
  }

  @Test
  void neverReportsArguments() throws IOException {
    process(10, "psql", "postgres://app:s3cret@db/orders");
    process(11, "postgres: app orders 10.0.0.9(5432) SELECT s3cret");

    ProcessResources resources = builder().build();

    for (int pid : List.of(10, 11)) {
      assertThat(resources.resolve(pid, "x").getAttributes().asMap().values())
          .allSatisfy(value -> assertThat(value.toString()).doesNotContain("s3cret"));
    }
    assertThat(resources.resolve(11, "postgres").getAttribute(PROCESS_COMMAND)).isEqualTo("postgres");
    assertThat(resources.resolve(11, "postgres").getAttribute(SERVICE_NAME)).isEqualTo("postgres");
  }

  @Test
  void argumentsOverwrittenWithATitle() throws IOException {
    // nginx copies its title over argv[0] and fills the rest of the argument area with NULs.
    Path dir = Files.createDirectories(proc.resolve("77"));
    Files.write(dir.resolve("cmdline"), "nginx: worker process\0\0\0\0\0\0".getBytes(StandardCharsets.UTF_8));

    Resource resource = builder().build().resolve(77, "nginx");

    assertThat(resource.getAttribute(SERVICE_NAME)).isEqualTo("nginx");
    assertThat(resource.getAttribute(PROCESS_COMMAND)).isEqualTo("nginx");
  }

  @Test
  void executableReplacedSinceStart() throws IOException {
    Path dir = process(12, "/opt/app/server");
    Files.createSymbolicLink(dir.resolve("exe"), Path.of("/opt/app/server (deleted)"));

    Resource resource = builder().build().resolve(12, "server");

    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_PATH)).isEqualTo("/opt/app/server");
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_NAME)).isEqualTo("server");
  }

  @Test
  void unreadableExecutableFallsBackToTheProcessComm() throws IOException {
    Path dir = process(13, "java", "-jar", "/opt/orders.jar");
    // As root every permission check passes, so make exe unreadable as a link: a plain file.
    Files.writeString(dir.resolve("exe"), "");
    Files.writeString(dir.resolve("comm"), "java\n");
    ProcessResources resources = builder().build();

    Resource resource = resources.resolve(13, "http-nio-8080-e");

    assertThat(resource.getAttribute(SERVICE_NAME)).isEqualTo("orders");
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_NAME)).isEqualTo("java");
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_PATH)).isNull();
    assertThat(resources.readFailures()).isEqualTo(1);
  }

  @Test
  void noExecutableIsNotAFailure() throws IOException {
    process(2); // a kernel thread: empty cmdline, no exe link
    Files.writeString(proc.resolve("2/comm"), "kthreadd\n");
    ProcessResources resources = builder().build();

    Resource resource = resources.resolve(2, "kthreadd");

    assertThat(resource.getAttribute(SERVICE_NAME)).isEqualTo("kthreadd");
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_NAME)).isEqualTo("kthreadd");
    assertThat(resource.getAttribute(PROCESS_COMMAND)).isNull();
    assertThat(resources.readFailures()).isZero();
  }

  @Test
  void unreadableCmdlineFallsBackToComm() throws IOException {
    Path dir = Files.createDirectories(proc.resolve("14/cmdline")).getParent(); // a directory cannot be read
    Files.createSymbolicLink(dir.resolve("exe"), Path.of("/usr/bin/ruby3.2"));
    ProcessResources resources = builder().build();

    Resource resource = resources.resolve(14, "ruby");

    assertThat(resource.getAttribute(SERVICE_NAME)).isEqualTo("ruby");
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_NAME)).isEqualTo("ruby3.2");
    assertThat(resource.getAttribute(PROCESS_COMMAND)).isNull();
    assertThat(resources.readFailures()).isEqualTo(1);
  }

  @Test
  void exitedProcessIsDescribedByComm() {
    ProcessResources resources = builder().build();

    Resource resource = resources.resolve(999, "curl");

    assertThat(resource.getAttributes().asMap()).containsOnly(
        Map.entry(SERVICE_NAME, "curl"),
        Map.entry(PROCESS_PID, 999L),
        Map.entry(PROCESS_EXECUTABLE_NAME, "curl"),
        Map.entry(HOST_NAME, "node-7"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_NAME, "periscope"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_LANGUAGE, "java"),
        Map.entry(TelemetryAttributes.TELEMETRY_SDK_VERSION, "dev"));
    assertThat(resources.readFailures()).isZero();
  }

  @Test
  void exitedProcessIsCachedBriefly() throws IOException {
    ProcessResources resources = builder().exitedTtl(Duration.ofSeconds(5)).ttl(Duration.ofSeconds(60)).build();
    Resource gone = resources.resolve(500, "curl");
    process(500, "node", "server.js"); // the pid is reused

    now += Duration.ofSeconds(5).toNanos() - 1;
    assertThat(resources.resolve(500, "node")).isSameAs(gone);

    now += 1;
    assertThat(resources.resolve(500, "node").getAttribute(SERVICE_NAME)).isEqualTo("server");
  }

  @Test
  void cachesUntilTheTtlExpires() throws IOException {
    process(300, "node", "server.js");
    ProcessResources resources = builder().ttl(Duration.ofSeconds(60)).build();
    Resource first = resources.resolve(300, "node");
    writeCmdline(300, "python3", "-m", "http.server");

    now += Duration.ofSeconds(60).toNanos() - 1;
    assertThat(resources.resolve(300, "node")).isSameAs(first);

    now += 1;
    assertThat(resources.resolve(300, "python3").getAttribute(SERVICE_NAME)).isEqualTo("http.server");
  }

  @Test
  void ttlSurvivesNanoTimeOverflow() throws IOException {
    now = Long.MAX_VALUE - 10;
    process(301, "node", "server.js");
    ProcessResources resources = builder().ttl(Duration.ofNanos(100)).build();
    Resource first = resources.resolve(301, "node");

    now += 99; // wraps past Long.MAX_VALUE
    assertThat(resources.resolve(301, "node")).isSameAs(first);
    now += 1;
    assertThat(resources.resolve(301, "node")).isNotSameAs(first);
  }

  @Test
  void evictForcesARead() throws IOException {
    process(302, "node", "server.js");
    ProcessResources resources = builder().build();
    resources.resolve(302, "node");
    writeCmdline(302, "node", "worker.js");

    resources.evict(302);

    assertThat(resources.resolve(302, "node").getAttribute(SERVICE_NAME)).isEqualTo("worker");
  }

  @Test
  void keepsOnlyTheMostRecentlyUsed() throws IOException {
    for (int pid = 1; pid <= 3; pid++) {
      process(pid, "app" + pid);
    }
    ProcessResources resources = builder().maxEntries(2).build();
    resources.resolve(1, "x");
    resources.resolve(2, "x");
    resources.resolve(1, "x"); // 1 is now younger than 2
    resources.resolve(3, "x"); // pushes out 2
    for (int pid = 1; pid <= 3; pid++) {
      writeCmdline(pid, "changed" + pid);
    }

    assertThat(resources.resolve(1, "x").getAttribute(SERVICE_NAME)).isEqualTo("app1");
    assertThat(resources.resolve(3, "x").getAttribute(SERVICE_NAME)).isEqualTo("app3");
    assertThat(resources.resolve(2, "x").getAttribute(SERVICE_NAME)).isEqualTo("changed2");
  }

  @Test
  void configuredAttributesAreAddedButKeepTheDetectedServiceName() throws IOException {
    process(20, "node", "server.js");
    ProcessResources resources = builder()
        .resourceAttributes(Map.of("deployment.environment.name", "prod", "service.namespace", "shop"))
        .build();

    Resource resource = resources.resolve(20, "node");

    assertThat(resource.getAttribute(SERVICE_NAME)).isEqualTo("server");
    assertThat(resource.getAttribute(AttributeKey.stringKey("deployment.environment.name"))).isEqualTo("prod");
    assertThat(resource.getAttribute(AttributeKey.stringKey("service.namespace"))).isEqualTo("shop");
    assertThat(resources.resolve(21, "gone").getAttribute(AttributeKey.stringKey("service.namespace")))
        .isEqualTo("shop");
  }

  @Test
  void configuredServiceNameAttributeOverridesTheDetectedOne() throws IOException {
    process(20, "node", "server.js");
    ProcessResources resources = builder().resourceAttributes(Map.of("service.name", "legacy-shop")).build();

    assertThat(resources.resolve(20, "node").getAttribute(SERVICE_NAME)).isEqualTo("legacy-shop");
  }

  @Test
  void otelServiceNameOverridesEverything() throws IOException {
    process(20, "node", "server.js");
    ProcessResources resources = builder()
        .resourceAttributes(Map.of("service.name", "from-attributes"))
        .serviceName("from-service-name")
        .build();

    assertThat(resources.resolve(20, "node").getAttribute(SERVICE_NAME)).isEqualTo("from-service-name");
    assertThat(resources.resolve(21, "gone").getAttribute(SERVICE_NAME)).isEqualTo("from-service-name");
  }

  @Test
  void hostNameIsReadOnceOrGiven() throws IOException {
    ProcessResources resources = builder().build();
    Files.writeString(proc.resolve("sys/kernel/hostname"), "renamed\n");

    assertThat(resources.hostName()).isEqualTo("node-7");
    assertThat(resources.resolve(1, "x").getAttribute(HOST_NAME)).isEqualTo("node-7");
    assertThat(builder().hostName("worker-3").build().resolve(1, "x").getAttribute(HOST_NAME))
        .isEqualTo("worker-3");
  }

  @Test
  void hostNameFallsBackToTheJdk() throws IOException {
    Files.delete(proc.resolve("sys/kernel/hostname"));

    ProcessResources resources = builder().build();

    // Whatever the JDK says (may be absent on a host whose name does not resolve), never the file's.
    assertThat(resources.hostName()).isNotEqualTo("node-7");
    assertThat(resources.readFailures()).isZero();
  }

  @Test
  void parsesNulSeparatedArguments() {
    assertThat(ProcessResources.parseCmdline("a\0b c\0\0d\0".getBytes(StandardCharsets.UTF_8)))
        .containsExactly("a", "b c", "", "d");
    assertThat(ProcessResources.parseCmdline("single".getBytes(StandardCharsets.UTF_8))).containsExactly("single");
    assertThat(ProcessResources.parseCmdline(new byte[] {0, 0, 0})).isEmpty();
    assertThat(ProcessResources.parseCmdline(new byte[0])).isEmpty();
  }

  @Test
  void builderRejectsBadSettings() {
    assertThatIllegalArgumentException().isThrownBy(() -> ProcessResources.builder().maxEntries(0))
        .withMessageContaining("maxEntries");
    assertThatIllegalArgumentException().isThrownBy(() -> ProcessResources.builder().ttl(Duration.ZERO))
        .withMessageContaining("ttl");
    assertThatIllegalArgumentException().isThrownBy(() -> ProcessResources.builder().exitedTtl(Duration.ofSeconds(-1)))
        .withMessageContaining("exitedTtl");
    assertThatIllegalArgumentException().isThrownBy(() -> ProcessResources.builder().serviceName(" "))
        .withMessageContaining("serviceName");
    assertThatIllegalArgumentException()
        .isThrownBy(() -> ProcessResources.builder().resourceAttributes(Map.of("", "x")))
        .withMessageContaining("keys");
  }
}
