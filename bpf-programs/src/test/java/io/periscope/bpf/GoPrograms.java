package io.periscope.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Go test peers, built from the standard library alone by the machine's Go toolchain (Debian's
 * {@code golang-go}, which {@code scripts/setup --test} installs): one source file in this
 * package's resources ({@code go/}), one executable.
 */
public final class GoPrograms {
  private GoPrograms() {}

  /** Builds {@code source} (a file of {@code go/} beside this class) into {@code dir}; the executable's path. */
  public static Path build(String source, Path dir) throws IOException, InterruptedException {
    return build(source, dir, source.replace(".go", ""));
  }

  /** The same, stripped of its symbol table and debugging information ({@code -ldflags=-s -w}), as releases often are. */
  public static Path buildStripped(String source, Path dir) throws IOException, InterruptedException {
    return build(source, dir, source.replace(".go", "-stripped"), "-ldflags=-s -w");
  }

  private static Path build(String source, Path dir, String name, String... flags)
      throws IOException, InterruptedException {
    Path file = dir.resolve(source);
    if (!Files.exists(file)) {
      try (InputStream in = GoPrograms.class.getResourceAsStream("go/" + source)) {
        if (in == null) {
          throw new IOException("no Go source " + source);
        }
        Files.copy(in, file);
      }
    }
    Path binary = dir.resolve(name);
    Path log = dir.resolve(name + ".build.log");
    List<String> command = new ArrayList<>(List.of("go", "build", "-o", binary.toString()));
    command.addAll(List.of(flags));
    command.add(file.toString());
    Process go = new ProcessBuilder(command).directory(dir.toFile())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!go.waitFor(5, TimeUnit.MINUTES) || go.exitValue() != 0) {
      go.destroyForcibly();
      throw new IOException(String.join(" ", command) + " failed: " + Files.readString(log));
    }
    return binary;
  }
}
