package io.periscope.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Telling a program that carries its own OpenSSL from one that does not, from its symbols alone. */
class ElfSymbolsTest {
  private static final Path LIBSSL = Path.of("/usr/lib/x86_64-linux-gnu/libssl.so.3");

  @Test
  void theSystemsOpenSslDefinesItsFunctions() {
    assertThat(ElfSymbols.definesFunction(LIBSSL, "SSL_write")).isTrue();
    assertThat(ElfSymbols.definesFunction(LIBSSL, "SSL_read_ex")).isTrue();
    assertThat(ElfSymbols.definesFunction(LIBSSL, "SSL_writ")).as("a prefix is not the name").isFalse();
    assertThat(ElfSymbols.definesFunction(LIBSSL, "no_such_function")).isFalse();
  }

  @Test
  void aProgramThatOnlyImportsOpenSslDoesNotDefineIt() {
    // curl calls SSL_write from libssl: an undefined (imported) symbol is not the function.
    assertThat(ElfSymbols.definesFunction(Path.of("/usr/bin/curl"), "SSL_write")).isFalse();
    assertThat(ElfSymbols.definesFunction(Path.of("/bin/sh"), "SSL_write")).isFalse();
  }

  @Test
  void whatIsNotAWholeElfFileDefinesNothing(@TempDir Path tmp) throws IOException {
    byte[] library = Files.readAllBytes(LIBSSL);
    Path cut = Files.write(tmp.resolve("cut.so"), Arrays.copyOf(library, library.length / 2));
    Path header = Files.write(tmp.resolve("header.so"), Arrays.copyOf(library, 40));
    Path text = Files.writeString(tmp.resolve("text"), "SSL_write\n");
    for (Path p : new Path[] {cut, header, text, tmp.resolve("missing"), tmp}) {
      assertThat(ElfSymbols.definesFunction(p, "SSL_write")).as(p.toString()).isFalse();
    }
  }

  @Test
  void aStrippedGoProgramsFunctionsAreFoundInGosOwnTable(@TempDir Path tmp) throws Exception {
    Path go = GoPrograms.build("https_peer.go", tmp);
    Path stripped = GoPrograms.buildStripped("https_peer.go", tmp);
    Process readelf = new ProcessBuilder("readelf", "-S", stripped.toString()).redirectErrorStream(true).start();
    assertThat(new String(readelf.getInputStream().readAllBytes())).contains(".gopclntab").doesNotContain(".symtab");
    for (String function : new String[] {"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"}) {
      ElfSymbols.Function bySymbol = ElfSymbols.function(go, function).orElseThrow();
      ElfSymbols.Function byGoTable = ElfSymbols.function(stripped, function).orElseThrow();
      // The same function found without a symbol table: its prologue, its returns, its length (Go's
      // table ends it where the next function begins, after int3 padding). Addresses of data differ.
      byte[] code = byGoTable.code();
      assertThat(Arrays.copyOf(code, 16)).as(function).isEqualTo(Arrays.copyOf(bySymbol.code(), 16));
      assertThat(X86Returns.offsets(code)).isEqualTo(X86Returns.offsets(bySymbol.code())).isNotEmpty();
      assertThat(code.length).isBetween(bySymbol.code().length, bySymbol.code().length + 32);
      for (int i = bySymbol.code().length; i < code.length; i++) {
        assertThat(code[i]).as("padding").isEqualTo((byte) 0xcc);
      }
      try (ElfSymbols elf = ElfSymbols.open(stripped)) {
        assertThat(elf.definesGoFunction(function)).isTrue();
        assertThat(elf.definesFunction(function)).as("not in a symbol table").isFalse();
      }
    }
    assertThat(ElfSymbols.function(stripped, "crypto/tls.(*Conn).Writ")).isEmpty();
    assertThat(ElfSymbols.goVersion(stripped)).hasValueSatisfying(v -> assertThat(v).matches("go1\\.\\d+.*"));
    assertThat(ElfSymbols.goVersion(LIBSSL)).isEmpty();
  }
}
