package io.periscope.agent.matrix;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.it.InjectedSocketsTest;
import io.periscope.bpf.CaptureVariant;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The kernel matrix: Debian's kernels of the series clusters run, each booted in a VM
 * ({@code scripts/kernel-vm}: qemu, this machine's root file system), and inside it the kernel tests
 * that matter most run again, unchanged, with the jars this build made: the variant the kernel gets,
 * the verifier's budgets, the capture of both ends of a connection, curl -> python http.server,
 * nginx, gRPC in python, a chain of services linked across processes, HTTPS through OpenSSL and Go, and, where the kernel allows
 * it, traceparent injection. A kernel whose VM does not boot, or any test that fails there, fails
 * this test; a run that counted no test fails too.
 *
 * <p>Each run writes {@code target/kernel-matrix/kernel-matrix.md}: per kernel, the variant, the
 * tests, the time and the verifier's figures for every program. With
 * {@code -Dperiscope.matrix.docs=true} it also writes that file to {@code docs/kernel-matrix.md}
 * and the summary into the README's kernel table (between its kernel-matrix markers).
 */
@Tag("kernel")
class KernelMatrixTest {
  /** A kernel series, and the variant Debian's kernel of it must get (measured: what its features allow). */
  record Kernel(String series, CaptureVariant expected) {}

  /** Runs on every kernel. */
  private static final List<String> TESTS = List.of(
      "io.periscope.bpf.KernelVariantTest",
      "io.periscope.bpf.VerifierBudgetTest",
      "io.periscope.bpf.KernelCaptureTest",
      "io.periscope.bpf.Http2CaptureTest",
      "io.periscope.bpf.OverloadSheddingTest",
      "io.periscope.agent.it.PythonHttpServerTest",
      "io.periscope.agent.it.NginxTest",
      "io.periscope.agent.it.GrpcPythonTest",
      "io.periscope.agent.it.ThreadingChainTest",
      "io.periscope.agent.it.TlsOpenSslTest",
      "io.periscope.agent.it.TlsMemoryBioTest");
  /**
   * Runs where the full variant loads: injection needs it (KernelVariantTest asserts the refusal
   * elsewhere).
   */
  private static final List<String> FULL_ONLY = List.of(
      "io.periscope.bpf.TraceparentInjectionTest",
      "io.periscope.agent.it.HeaderInjectionTest",
      // Injection's FIONREAD probe must choose right on each: refusing where the kernel counts the
      // sockmap's queue (the host's 6.18.44), injecting where it counts TCP's (6.1, 6.12 here).
      "io.periscope.agent.it.InjectedSocketsTest");
  /**
   * Go's TLS, on the kernel whose emulated VM lost a Go client's responses in two of eight runs
   * (and 6.12's in one) until a Write's plaintext was taken at entry: there the writer goroutine
   * returned after the reader had (docs/design-notes.md, TLS). On one kernel: the matrix's minutes
   * are CI's.
   */
  private static final Map<String, List<String>> ALSO = Map.of("5.10", List.of("io.periscope.agent.it.TlsGoTest"));
  /**
   * A VM runs its tests in 9-10 minutes under emulation alone; it took over 12 once on a busy host,
   * and it shares the host with another VM.
   */
  private static final Duration VM_TIMEOUT = Duration.ofMinutes(20);
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final Path RESULTS = Path.of("target/kernel-matrix").toAbsolutePath();
  private static final Map<String, Run> RUNS = new ConcurrentHashMap<>();
  private static final ExecutorService RUNNER = Executors.newFixedThreadPool(2);
  private static final Map<String, Future<Vm>> VMS = new ConcurrentHashMap<>();

  /** How one kernel's VM ended: {@code exit} is kernel-vm's (124: timeout, 125: no boot). */
  private record Vm(List<String> tests, boolean ended, int exit, Duration took) {}

  /** What one kernel's VM did. */
  record Run(Kernel kernel, String release, String variant, String injection, int tests, Duration took,
      List<String> verifier) {}

  static Stream<Kernel> kernels() {
    return Stream.of(new Kernel("5.10", CaptureVariant.COMPAT), new Kernel("6.1", CaptureVariant.FULL),
        new Kernel("6.12", CaptureVariant.FULL));
  }

  /**
   * Every VM starts when the class does, two at a time: each emulates its CPUs on one host thread
   * (TCG, single-threaded), and the machines CI runs on have two. The tests of one kernel then wait
   * for its VM. One after the other, the three took 30 minutes; two at a time, the longest pair sets
   * the pace.
   */
  @BeforeAll
  static void startTheVms() {
    kernels().forEach(kernel -> VMS.put(kernel.series(), RUNNER.submit(() -> runVm(kernel))));
    RUNNER.shutdown();
  }

  @ParameterizedTest(name = "Linux {0}")
  @MethodSource("kernels")
  void theKernelTestsPassInAVmRunningDebiansKernel(Kernel kernel) throws Exception {
    Vm vm = VMS.get(kernel.series()).get();
    Path out = RESULTS.resolve(kernel.series());
    List<String> tests = vm.tests();
    boolean ended = vm.ended();
    Duration took = vm.took();
    Path log = out.resolve("console.txt");
    String console = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(ended).as("the VM of %s ended in time:%n%s", kernel.series(), tail(console)).isTrue();
    assertThat(vm.exit()).as("kernel %s: the tests in the VM (exit 124: timeout, 125: no boot):%n%s",
        kernel.series(), tail(console)).isZero();

    String report = Files.readString(out.resolve("TEST-junit-jupiter.xml"), StandardCharsets.UTF_8);
    int run = attribute(report, "tests");
    assertThat(run).as("tests run on " + kernel.series()).isGreaterThanOrEqualTo(tests.size());
    assertThat(attribute(report, "failures") + attribute(report, "errors") + attribute(report, "skipped"))
        .as("tests failed, in error or skipped on %s:%n%s", kernel.series(), tail(console)).isZero();

    List<String> variant = Files.readAllLines(out.resolve("variant.txt"));
    assertThat(variant).contains("variant " + kernel.expected());
    // InjectedSocketsTest says whether injection starts there, or is refused for FIONREAD.
    Path injection = out.resolve(InjectedSocketsTest.REPORT);
    String injects = kernel.expected() == CaptureVariant.FULL ? Files.readString(injection).strip()
        : "no (refused at startup)";
    RUNS.put(kernel.series(), new Run(kernel, variant.getFirst().substring("kernel ".length()),
        variant.get(2).substring("description ".length()), injects, run, took,
        Files.readAllLines(out.resolve("verifier-statistics.txt"))));
  }

  /** One kernel's VM run to its end (or its timeout): what it was to run, how it ended, how long it took. */
  private static Vm runVm(Kernel kernel) throws IOException, InterruptedException {
    Path out = RESULTS.resolve(kernel.series());
    deleteRecursively(out);
    Files.createDirectories(out);
    List<String> tests = new ArrayList<>(TESTS);
    if (kernel.expected() == CaptureVariant.FULL) {
      tests.addAll(FULL_ONLY);
    }
    tests.addAll(ALSO.getOrDefault(kernel.series(), List.of()));
    List<String> command = new ArrayList<>(List.of(REPO.resolve("scripts/kernel-vm").toString(),
        "--kernel", kernel.series(), "--timeout", Long.toString(VM_TIMEOUT.toSeconds()), "--share", out.toString(),
        "--", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "-D" + "periscope.report.dir" + "=" + out,
        "-D" + "periscope.expected.variant" + "=" + kernel.expected(),
        "-D" + "periscope.emulated" + "=" + true,
        "-cp", System.getProperty("java.class.path"),
        "org.junit.platform.console.ConsoleLauncher", "execute", "--disable-banner", "--disable-ansi-colors",
        "--details=tree", "--reports-dir", out.toString()));
    for (String test : tests) {
      command.add("--select-class");
      command.add(test);
    }
    long start = System.nanoTime();
    Process vm = new ProcessBuilder(command).directory(Path.of("").toAbsolutePath().toFile())
        .redirectErrorStream(true).redirectOutput(out.resolve("console.txt").toFile()).start();
    boolean ended = vm.waitFor(VM_TIMEOUT.plusMinutes(1).toMinutes(), TimeUnit.MINUTES);
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    if (!ended) {
      vm.destroyForcibly();
      return new Vm(tests, false, -1, took);
    }
    return new Vm(tests, true, vm.exitValue(), took);
  }

  /** The matrix's figures, for the docs: written after the last kernel, whatever passed. */
  @AfterAll
  static void writeReport() throws IOException {
    if (RUNS.isEmpty()) {
      return;
    }
    KernelMatrixReport report = new KernelMatrixReport(kernels().map(k -> RUNS.get(k.series())).toList());
    Files.createDirectories(RESULTS);
    Files.writeString(RESULTS.resolve("kernel-matrix.md"), report.document());
    if (Boolean.getBoolean("periscope.matrix.docs") && RUNS.size() == kernels().count()) {
      Files.writeString(REPO.resolve("docs/kernel-matrix.md"), report.document());
      Path readme = REPO.resolve("README.md");
      Files.writeString(readme, report.intoReadme(Files.readString(readme)));
    }
  }

  private static int attribute(String xml, String name) {
    Matcher m = Pattern.compile("<testsuite [^>]*\\b" + name + "=\"(\\d+)\"").matcher(xml);
    assertThat(m.find()).as(name + " in the JUnit report").isTrue();
    return Integer.parseInt(m.group(1));
  }

  private static String tail(String console) {
    List<String> lines = console.lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 80), lines.size()));
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
        Files.delete(p);
      }
    }
  }
}
