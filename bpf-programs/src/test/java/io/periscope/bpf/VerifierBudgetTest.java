package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every program keeps a margin under the verifier's limits, measured by the running kernel's own
 * verifier: the stack of all its subprograms together (a bound on any call chain) within
 * {@link VerifierStatistics#STACK_BUDGET} of the 512 allowed, and the instructions processed
 * within {@link VerifierStatistics#INSTRUCTION_BUDGET}. One kernel build refused a call chain of
 * 688 bytes that another accepted: a program creeping towards the limit fails here, on every
 * machine, before a strict kernel refuses it in the field.
 *
 * <p>Both variants, each loaded with every feature it has on (injection, the pid, name and port
 * filters: the verifier drops the code of features that are off, so this is each program at its
 * largest) and with the defaults. The compat variant loads on current kernels too, so its budget
 * is checked on every machine, not only on the old kernels it is for. Each run writes the figures
 * to {@code verifier-statistics.txt} in {@code target} (or the directory the system property
 * {@value #REPORT_DIRECTORY} names).
 */
@Tag("kernel")
class VerifierBudgetTest {
  /** Where the figures go; the kernel matrix points it at a directory per kernel, outside its VM. */
  static final String REPORT_DIRECTORY = "periscope.report.dir";

  @Test
  void everyProgramStaysWithinTheStackAndInstructionBudgets() throws IOException {
    String kernel = KernelSupport.check();
    KernelSupport.requireInjectionCapability();
    Map<String, List<VerifierStatistics>> runs = new LinkedHashMap<>();
    // The full variant where the kernel has what it needs (KernelCaptureTest proves the refusal elsewhere).
    boolean full = KernelFeatures.probe().full();
    if (full) {
      runs.put("full, every feature on", statistics(everyFeatureOn().withTraceparentInjection(true, 0.5), CaptureVariant.FULL));
      runs.put("full, defaults", statistics(CaptureConfig.everything(self()), CaptureVariant.FULL));
    }
    runs.put("compat, every feature on", statistics(everyFeatureOn(), CaptureVariant.COMPAT));
    runs.put("compat, defaults", statistics(CaptureConfig.everything(self()), CaptureVariant.COMPAT));
    record(runs, kernel);

    if (full) {
      assertThat(runs.get("full, every feature on")).extracting(VerifierStatistics::program)
          .containsAll(KernelCapture.INJECTION_PROGRAMS)
          .contains("exit_read", "exit_recvmsg", "enter_sendmsg", "sock_state");
    }
    assertThat(runs.get("compat, every feature on")).extracting(VerifierStatistics::program)
        .doesNotContainAnyElementsOf(KernelCapture.INJECTION_PROGRAMS)
        .contains("enter_read", "exit_read", "enter_recvmsg", "exit_recvmsg", "sock_state");
    SoftAssertions budgets = new SoftAssertions();
    runs.forEach((run, programs) -> {
      for (VerifierStatistics program : programs) {
        budgets.assertThat(program.combinedStack())
            .as("%s (%s): stack of all subprograms (%s), budget %d of the verifier's %d", program.program(), run,
                program.stackDepths(), VerifierStatistics.STACK_BUDGET, VerifierStatistics.STACK_LIMIT)
            .isLessThanOrEqualTo(VerifierStatistics.STACK_BUDGET);
        budgets.assertThat(program.instructionsProcessed())
            .as("%s (%s): instructions the verifier processed, budget %d of its %d", program.program(), run,
                VerifierStatistics.INSTRUCTION_BUDGET, VerifierStatistics.INSTRUCTION_LIMIT)
            .isLessThanOrEqualTo(VerifierStatistics.INSTRUCTION_BUDGET);
      }
    });
    budgets.assertAll();
  }

  @Test
  void theStatisticsAreTheVerifiersOwn() {
    KernelSupport.check();
    List<VerifierStatistics> run = statistics(CaptureConfig.everything(self()), CaptureVariant.COMPAT);
    VerifierStatistics read = run.stream().filter(p -> p.program().equals("exit_read")).findFirst().orElseThrow();
    // The data path takes a per-CPU record and walks HTTP/2 frames in a bpf_loop callback: a
    // main program and at least that callback, each with a frame of its own.
    assertThat(read.stackDepths()).hasSizeGreaterThanOrEqualTo(2);
    assertThat(read.stackDepths().getFirst()).isPositive();
    assertThat(read.instructionsProcessed()).isGreaterThan(1_000);
  }

  private static CaptureConfig everyFeatureOn() {
    return CaptureConfig.everything(self())
        .withPids(Set.of(1))
        .withComms(Set.of("nobody-here"))
        .withPorts(Set.of(1));
  }

  private static int self() {
    return (int) ProcessHandle.current().pid();
  }

  private static List<VerifierStatistics> statistics(CaptureConfig config, CaptureVariant variant) {
    try (BpfObject object = KernelCapture.configured(config, variant)) {
      object.recordVerifierStatistics();
      object.load();
      return object.verifierStatistics();
    }
  }

  private static void record(Map<String, List<VerifierStatistics>> runs, String kernel) throws IOException {
    List<String> lines = new ArrayList<>();
    lines.add("kernel " + kernel);
    runs.forEach((run, programs) -> {
      lines.add(run + ":");
      programs.forEach(p -> lines.add("  " + p));
    });
    Path out = Path.of(System.getProperty(REPORT_DIRECTORY, "target"), "verifier-statistics.txt");
    Files.createDirectories(out.getParent());
    Files.write(out, lines);
    lines.forEach(System.out::println);
  }
}
