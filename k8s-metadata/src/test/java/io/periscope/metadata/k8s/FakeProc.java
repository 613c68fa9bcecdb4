package io.periscope.metadata.k8s;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A proc filesystem of the test's making: {@code <pid>/cmdline}, {@code cgroup} and {@code stat}. */
final class FakeProc {
  final Path root;

  FakeProc(Path root) {
    this.root = root;
  }

  /** A process in the cgroup of this container of this pod (systemd driver, containerd). */
  void inContainer(int pid, long startTime, String podUid, String containerId, String... argv) {
    process(pid, startTime, "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        + podUid.replace('-', '_') + ".slice/cri-containerd-" + containerId + ".scope\n", argv);
  }

  void process(int pid, long startTime, String cgroup, String... argv) {
    try {
      Path dir = Files.createDirectories(root.resolve(Integer.toString(pid)));
      StringBuilder cmdline = new StringBuilder();
      for (String arg : argv) {
        cmdline.append(arg).append('\0');
      }
      Files.writeString(dir.resolve("cmdline"), cmdline);
      Files.writeString(dir.resolve("cgroup"), cgroup);
      StringBuilder stat = new StringBuilder(pid + " (" + Path.of(argv[0]).getFileName() + ") S");
      for (int field = 4; field <= 52; field++) {
        stat.append(' ').append(field == 22 ? startTime : 0);
      }
      Files.writeString(dir.resolve("stat"), stat.append('\n'));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  void exit(int pid) {
    try (var files = Files.walk(root.resolve(Integer.toString(pid)))) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
