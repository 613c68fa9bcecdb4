package io.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution archive `mvn package` builds (deploy/target/periscope-VERSION-linux-x86_64.tar.gz)
 * and the container image's Dockerfile, which copies the same distribution: the runtime carries
 * exactly the modules jdeps finds in the agent (and no JDK is needed to run it), and the Dockerfile
 * uses what the build produces. (No Docker engine runs on the build machines, so the image itself
 * is not built here; {@link LeastCapabilitiesIT} runs the distribution the way the image does.)
 */
class DistributionIT {
  static final Path DIST = Path.of(System.getProperty("periscope.dist.directory"));
  static final Path ARCHIVE = Path.of(System.getProperty("periscope.dist.archive"));
  static final Set<String> MODULES = Set.of(System.getProperty("periscope.runtime.modules").split(","));
  static final String VERSION = System.getProperty("periscope.version");
  /** Found by jdeps, left out on purpose (deploy/pom.xml says why). */
  static final Set<String> LEFT_OUT = Set.of("java.desktop");
  static final Path DOCKERFILE = Path.of("Dockerfile");

  @TempDir
  Path dir;

  @Test
  void theRuntimeHasTheModulesJdepsFindsInTheAgent() throws Exception {
    Path jdk = Path.of(System.getProperty("java.home"));
    String found = run(List.of(jdk.resolve("bin/jdeps").toString(), "--ignore-missing-deps", "--multi-release",
        "25", "--print-module-deps", System.getProperty("periscope.agent.jar")), dir).strip();
    Set<String> needed = new TreeSet<>(Arrays.asList(found.lines().reduce((a, b) -> b).orElseThrow().split(",")));
    Set<String> expected = new TreeSet<>(MODULES);
    expected.addAll(LEFT_OUT);
    assertThat(needed).as("jdeps on the agent's jar; change runtime.modules in deploy/pom.xml").isEqualTo(expected);

    Matcher release = Pattern.compile("(?m)^MODULES=\"([^\"]*)\"").matcher(Files.readString(DIST.resolve("runtime/release")));
    assertThat(release.find()).isTrue();
    Set<String> linked = new TreeSet<>(Arrays.asList(release.group(1).split(" ")));
    // jlink adds what those modules require (java.sql brings java.logging and java.xml), nothing else.
    Set<String> resolved = new TreeSet<>();
    java.lang.module.Configuration.empty()
        .resolve(java.lang.module.ModuleFinder.ofSystem(), java.lang.module.ModuleFinder.of(), MODULES)
        .modules().forEach(m -> resolved.add(m.name()));
    assertThat(linked).isEqualTo(resolved);
  }

  @Test
  void theAgentJarIsMultiReleaseSoTheLibrariesNewerClassesAreUsed() throws Exception {
    try (java.util.jar.JarFile jar = new java.util.jar.JarFile(new java.io.File(System.getProperty("periscope.agent.jar")),
        true, java.util.zip.ZipFile.OPEN_READ, Runtime.version())) {
      assertThat(jar.isMultiRelease()).as("Multi-Release in the shaded jar's manifest").isTrue();
      // OpenTelemetry's fast string encoder for the OTLP wire exists only as a Java 9+ class.
      assertThat(jar.getJarEntry("io/opentelemetry/exporter/internal/marshal/VarHandleStringEncoder.class"))
          .as("the versioned encoder, seen through the multi-release view").isNotNull();
    }
  }

  @Test
  void theArchiveRunsTheAgentWithItsOwnRuntimeAndNoJdk() throws Exception {
    run(List.of("tar", "-xzf", ARCHIVE.toString(), "-C", dir.toString()), dir);
    Path home = dir.resolve("periscope");
    assertThat(Files.isExecutable(home.resolve("bin/periscope"))).isTrue();
    assertThat(Files.readString(home.resolve("VERSION")).strip()).isEqualTo(VERSION);
    ProcessBuilder version = new ProcessBuilder(home.resolve("bin/periscope").toString(), "--version")
        .directory(dir.toFile()).redirectErrorStream(true);
    version.environment().clear();
    version.environment().put("PATH", "/usr/bin:/bin"); // no JDK: /usr/bin/java, if any, is not 25
    assertThat(output(version.start())).isEqualTo("periscope " + VERSION + "\n");
    ProcessBuilder help = new ProcessBuilder(home.resolve("bin/periscope").toString(), "--help");
    assertThat(output(help.start())).contains("--config FILE", "--health-address");
  }

  @Test
  void theDockerfileBuildsWithMavenAndClangAndRunsTheDistributionWithoutRoot() throws IOException {
    String dockerfile = Files.readString(DOCKERFILE);
    List<String> stages = Pattern.compile("(?m)^FROM\\s+(\\S+)(?:\\s+AS\\s+(\\S+))?").matcher(dockerfile).results()
        .map(m -> m.group(1)).toList();
    assertThat(stages).as("multi-stage").hasSizeGreaterThanOrEqualTo(2);
    String build = stage(dockerfile, "build");
    assertThat(build).contains("clang", "maven", "libbpf-dev", "mvn -B -q package");
    String runtime = dockerfile.substring(dockerfile.lastIndexOf("\nFROM "));

    // The runtime stage copies the distribution this build made, from the path the build makes it at.
    Matcher copy = Pattern.compile("COPY --from=build /src/(\\S+) (\\S+)").matcher(runtime);
    assertThat(copy.find()).isTrue();
    assertThat(Path.of("..").resolve(copy.group(1)).toRealPath()).isEqualTo(DIST.toRealPath());
    String home = copy.group(2);
    Matcher entry = Pattern.compile("ENTRYPOINT \\[\"(\\S+)\"]").matcher(runtime);
    assertThat(entry.find()).isTrue();
    assertThat(entry.group(1)).startsWith(home + "/");
    assertThat(Files.isExecutable(DIST.resolve(entry.group(1).substring(home.length() + 1)))).isTrue();

    // Not root, with the chart's user, and exactly the chart's capabilities as file capabilities, +p.
    Matcher user = Pattern.compile("(?m)^USER (\\d+):(\\d+)$").matcher(runtime);
    assertThat(user.find()).isTrue();
    assertThat(user.group(1)).isNotEqualTo("0").isEqualTo("65532");
    Matcher setcap = Pattern.compile("setcap (\\S+)\\+(\\S+) " + Pattern.quote(home) + "/runtime/bin/java").matcher(runtime);
    assertThat(setcap.find()).isTrue();
    assertThat(setcap.group(2)).as("permitted only: the agent raises them").isEqualTo("p");
    assertThat(Arrays.stream(setcap.group(1).split(",")).map(c -> c.replace("cap_", "").toUpperCase(Locale.ROOT)))
        .containsExactlyInAnyOrderElementsOf(ChartTest.CAPABILITIES);
    assertThat(runtime).contains(home + "/runtime/lib > /etc/ld.so.conf.d/", "ldconfig", "libbpf1");
    for (String label : List.of("title", "description", "version", "revision", "created", "source")) {
      assertThat(runtime).contains("org.opencontainers.image." + label + "=");
    }
  }

  private static String stage(String dockerfile, String name) {
    int start = dockerfile.indexOf(" AS " + name + "\n");
    assertThat(start).as("stage " + name).isPositive();
    int end = dockerfile.indexOf("\nFROM ", start);
    return dockerfile.substring(start, end < 0 ? dockerfile.length() : end);
  }

  static String run(List<String> command, Path dir) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = output(p);
    assertThat(p.exitValue()).as(String.join(" ", command) + ":\n" + out).isZero();
    return out;
  }

  static String output(Process p) throws IOException, InterruptedException {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return out;
  }

  /** Makes a directory tree readable by every user, as an unpacked archive in /opt would be. */
  static void openUp(Path root) throws IOException {
    try (var tree = Files.walk(root)) {
      for (Path p : (Iterable<Path>) tree::iterator) {
        if (!Files.isSymbolicLink(p)) {
          boolean exec = Files.isDirectory(p) || Files.isExecutable(p);
          Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(exec ? "rwxr-xr-x" : "rw-r--r--"));
        }
      }
    }
  }

  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static List<String> list(String... items) {
    return new ArrayList<>(List.of(items));
  }

  static String joined(Set<String> s) {
    return s.stream().sorted().collect(Collectors.joining(","));
  }
}
