package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("kernel")
class BpfObjectTest {

  @Test
  void verifierRejectionCarriesTheVerifierLog() throws Exception {
    KernelSupport.check();
    byte[] elf = Files.readAllBytes(Path.of("target/bpf-build/rejected.bpf.o"));
    try (BpfObject object = BpfObject.open(elf)) {
      assertThatThrownBy(object::load)
          .isInstanceOf(BpfException.class)
          .hasMessageContaining("out_of_bounds")
          .hasMessageContaining("the verifier rejected it")
          // the verifier's own words about the bad stack access, and the instruction it stopped at
          .hasMessageContaining("out of bounds")
          .hasMessageContaining("processed");
    }
  }

  @Test
  void garbageIsNotAnObject() {
    assertThatThrownBy(() -> BpfObject.open(new byte[] {1, 2, 3, 4}))
        .isInstanceOf(BpfException.class)
        .hasMessageStartingWith("open eBPF object");
  }

  @Test
  void readOnlyDataIsOnlyTheConfigStructInEveryVariant() {
    for (CaptureVariant variant : List.of(CaptureVariant.FULL, CaptureVariant.COMPAT)) {
      try (BpfObject object = BpfObject.open(KernelCapture.objectBytes(variant))) {
        assertThat(object.readOnlyData().byteSize()).as(variant.name()).isEqualTo(KernelCapture.CONFIG_SIZE);
      }
    }
  }
}
