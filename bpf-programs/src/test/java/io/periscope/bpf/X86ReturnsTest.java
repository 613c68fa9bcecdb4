package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The instruction lengths X86Returns decodes, held against GNU objdump's over whole programs: a
 * Go program (what the return probes are for), and the system's libc (hand-written SSE, AVX2 and
 * EVEX string functions: every map and prefix the decoder knows) and libssl (gcc's code).
 */
class X86ReturnsTest {
  @Test
  void decodesAGoProgramAsObjdumpDoes(@TempDir Path tmp) throws Exception {
    Path peer = GoPrograms.build("https_peer.go", tmp);
    // The compiler's code (the runtime's assembly keeps data in .text)
    assertSameBoundaries(peer, "crypto/tls.", tmp, 50_000);
    assertSameBoundaries(peer, "net/http.", tmp, 100_000);
  }

  @Test
  void decodesTheCLibraryAndOpenSslAsObjdumpDoes(@TempDir Path tmp) throws Exception {
    assertSameBoundaries(Path.of("/usr/lib/x86_64-linux-gnu/libc.so.6"), "", tmp, 100_000);
    assertSameBoundaries(Path.of("/usr/lib/x86_64-linux-gnu/libssl.so.3"), "", tmp, 50_000);
  }

  @Test
  void findsEveryReturnOfGosTlsFunctions(@TempDir Path tmp) throws Exception {
    Path peer = GoPrograms.build("https_peer.go", tmp);
    for (String function : List.of("crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read")) {
      byte[] code = ElfSymbols.function(peer, function).orElseThrow().code();
      List<Integer> expected = objdumpReturns(peer, function);
      assertThat(expected).as(function).isNotEmpty();
      assertThat(X86Returns.offsets(code)).as(function).containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
    }
  }

  @Test
  void aC3InsideAnInstructionIsNotAReturn() {
    // mov eax, 0xc3c3c3c3; ret
    byte[] code = {(byte) 0xb8, (byte) 0xc3, (byte) 0xc3, (byte) 0xc3, (byte) 0xc3, (byte) 0xc3};
    assertThat(X86Returns.offsets(code)).containsExactly(5);
    // lea rcx, [rip+0xc3]; rep ret
    byte[] rip = {0x48, (byte) 0x8d, 0x0d, (byte) 0xc3, 0, 0, 0, (byte) 0xf3, (byte) 0xc3};
    assertThat(X86Returns.offsets(rip)).containsExactly(7);
  }

  @Test
  void codeThatDoesNotDecodeHasNoReturns() {
    // cut inside a mov's immediate
    assertThat(X86Returns.offsets(new byte[] {(byte) 0xc3, (byte) 0xb8, 1, 2})).isEmpty();
    // 0x06 (push es) is invalid in 64-bit mode
    assertThat(X86Returns.offsets(new byte[] {(byte) 0xc3, 0x06, (byte) 0xc3})).isEmpty();
  }

  /**
   * Decodes each function of the file's .text whose name starts with {@code prefix} from its first
   * byte and compares every instruction start with objdump's; at least {@code minimum}
   * instructions, so the comparison covered something. Function by function: hand-written assembly
   * keeps tables between its functions, which neither decoder can tell from code.
   */
  private static void assertSameBoundaries(Path file, String prefix, Path tmp, int minimum) throws Exception {
    Path text = tmp.resolve("text.bin");
    run("objcopy", "-O", "binary", "--only-section=.text", file.toString(), text.toString());
    byte[] code = Files.readAllBytes(text);
    List<String> dump = run("objdump", "-d", "-j", ".text", "--no-show-raw-insn", file.toString());
    long textStart = -1;
    String function = null;
    List<Long> expected = new ArrayList<>();
    int compared = 0;
    for (String line : dump) {
      Matcher header = FUNCTION.matcher(line);
      if (header.matches() || line.startsWith("Disassembly")) {
        compared += compare(file, function, expected, code, textStart);
        expected.clear();
        function = header.matches() && header.group(2).startsWith(prefix) ? header.group(2) : null;
        continue;
      }
      String[] parts = line.trim().split(":\t", 2);
      if (parts.length == 2 && parts[0].matches("[0-9a-f]+")) {
        long address = Long.parseLong(parts[0], 16);
        textStart = textStart < 0 ? address : textStart; // .text's first byte is an instruction's
        if (function != null) {
          expected.add(address);
        }
      }
    }
    compared += compare(file, function, expected, code, textStart);
    assertThat(compared).as("instructions compared").isGreaterThan(minimum);
  }

  private static final Pattern FUNCTION = Pattern.compile("([0-9a-f]+) <(.*)>:");

  private static int compare(Path file, String function, List<Long> expected, byte[] code, long textStart) {
    if (function == null || expected.isEmpty()) {
      return 0;
    }
    int at = (int) (expected.get(0) - textStart);
    for (long theirs : expected) {
      long ours = textStart + at;
      if (ours != theirs) {
        StringBuilder bytes = new StringBuilder();
        for (int b = Math.max(0, at - 8); b < Math.min(code.length, at + 16); b++) {
          bytes.append(String.format("%02x ", code[b]));
        }
        throw new AssertionError(file + " " + function + ": an instruction at 0x" + Long.toHexString(ours)
            + ", objdump's at 0x" + Long.toHexString(theirs) + "; bytes from 8 before ours: " + bytes);
      }
      int length = X86Returns.length(code, at);
      assertThat(length).as("%s %s at 0x%x", file, function, ours).isPositive();
      at += length;
    }
    return expected.size();
  }

  private static List<Integer> objdumpReturns(Path file, String function) throws Exception {
    List<String> dump = run("objdump", "-d", "--no-show-raw-insn", file.toString());
    List<Integer> returns = new ArrayList<>();
    long entry = -1;
    for (String line : dump) {
      if (line.endsWith("<" + function + ">:")) {
        entry = Long.parseLong(line.substring(0, line.indexOf(' ')), 16);
      } else if (entry >= 0 && line.isBlank()) {
        break;
      } else if (entry >= 0 && line.trim().matches("[0-9a-f]+:\\s+ret\\s*")) {
        returns.add((int) (Long.parseLong(line.trim().split(":")[0], 16) - entry));
      }
    }
    return returns;
  }

  private static List<String> run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    List<String> lines = p.inputReader().lines().toList();
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", command)).isZero();
    return lines;
  }
}
