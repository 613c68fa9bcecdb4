package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The variant of the programs follows the kernel's probed features, and what a kernel cannot do is
 * refused at startup by name. On the host this is the full variant; the kernel matrix runs this test
 * inside VMs of older kernels and tells it, through {@value #EXPECTED}, which variant Debian's
 * kernel of that series must get (measured: 5.10 lacks task storage, bpf_task_pt_regs, bpf_loop).
 */
@Tag("kernel")
class KernelVariantTest {
  /** The variant the kernel under test must get (set by the kernel matrix): FULL or COMPAT. */
  static final String EXPECTED = "periscope.expected.variant";

  @Test
  void autoLoadsTheVariantTheKernelsFeaturesAllow() throws IOException {
    String kernel = KernelSupport.check();
    KernelFeatures features = KernelFeatures.probe();
    assertThat(features.ringBuffer()).as("BPF ring buffer on " + kernel).isTrue();
    CaptureVariant expected = CaptureVariant.valueOf(System.getProperty(EXPECTED, "FULL"));
    int self = (int) ProcessHandle.current().pid();
    try (KernelCapture capture = KernelCapture.start(CaptureConfig.everything(self))) {
      assertThat(capture.variant()).as("variant on " + kernel + " with " + features).isEqualTo(expected);
      assertThat(capture.variantDescription()).isEqualTo(expected == CaptureVariant.FULL ? "full capture"
          : "compat capture (no " + String.join(", no ", features.missingForFull()) + ")");
      assertThat(capture.verifierStatistics()).isNotEmpty();
      record(kernel, features, capture);
    }
  }

  @Test
  void whatTheKernelCannotDoIsRefusedByName() {
    String kernel = KernelSupport.check();
    KernelFeatures features = KernelFeatures.probe();
    int self = (int) ProcessHandle.current().pid();
    CaptureConfig compat = CaptureConfig.everything(self).withVariant(CaptureVariant.COMPAT);
    assertThatThrownBy(() -> KernelCapture.start(compat.withTraceparentInjection(true)))
        .isInstanceOf(BpfException.class)
        .hasMessageStartingWith("traceparent injection (--inject-traceparent) needs the full capture variant");
    if (!features.full()) {
      assertThatThrownBy(() -> KernelCapture.start(compat.withVariant(CaptureVariant.FULL)))
          .isInstanceOf(BpfException.class)
          .hasMessage("the full capture variant needs " + String.join(", ", features.missingForFull())
              + ", which kernel " + kernel + " lacks: use the compat variant (capture.variant auto or compat)");
    }
  }

  private static void record(String kernel, KernelFeatures features, KernelCapture capture) throws IOException {
    Path out = Path.of(System.getProperty(VerifierBudgetTest.REPORT_DIRECTORY, "target"), "variant.txt");
    Files.createDirectories(out.getParent());
    Files.write(out, List.of("kernel " + kernel, "variant " + capture.variant(), "description " + capture.variantDescription(),
        "features " + features, "programs " + capture.programs().size()));
  }
}
