package io.periscope.agent.it;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Real cgroups v2 named as the kubelet's systemd driver and containerd name a container's:
 * {@code <root>/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope},
 * under a root of this instance's own (as a kind node nests the kubelet's slices), so that test runs
 * sharing the machine never share a directory. A process moved into one shows that path in
 * {@code /proc/<pid>/cgroup}, as it would on a node. Closing removes every directory made.
 */
final class PodCgroups implements AutoCloseable {
  /** Where this machine mounts cgroup v2 (a hybrid host: the v1 controllers are at /sys/fs/cgroup/*). */
  static final Path UNIFIED = Path.of("/sys/fs/cgroup/unified");

  /** One container's cgroup. */
  record Container(Path dir) {
    /** The path a process in it shows after {@code 0::} in /proc/<pid>/cgroup. */
    String path() {
      return "/" + UNIFIED.relativize(dir);
    }

    Path procs() {
      return dir.resolve("cgroup.procs");
    }

    /** Moves a running process (all its threads) into this cgroup. */
    void move(long pid) throws IOException {
      Files.writeString(procs(), Long.toString(pid));
    }
  }

  private final Path root;
  private final List<Path> made = new ArrayList<>();

  private PodCgroups(Path root) throws IOException {
    this.root = root;
    mkdir(root);
  }

  /** Fails (never skips) when this machine has no cgroup v2 where the design notes say it is. */
  static PodCgroups create() throws IOException {
    String mounts = Files.readString(Path.of("/proc/self/mounts"));
    if (!mounts.contains(" " + UNIFIED + " cgroup2 ")) {
      throw new AssertionError("no cgroup v2 mounted at " + UNIFIED + " (mount | grep cgroup): " + mounts);
    }
    return new PodCgroups(UNIFIED.resolve("periscope-test-" + UUID.randomUUID()));
  }

  /** The cgroup of this container of this pod. */
  Container container(String podUid, String containerId) throws IOException {
    Path dir = root;
    for (String name : List.of("kubepods.slice", "kubepods-besteffort.slice",
        "kubepods-besteffort-pod" + podUid.replace('-', '_') + ".slice", "cri-containerd-" + containerId + ".scope")) {
      dir = dir.resolve(name);
      if (!Files.isDirectory(dir)) {
        mkdir(dir);
      }
    }
    return new Container(dir);
  }

  private void mkdir(Path dir) throws IOException {
    Files.createDirectory(dir);
    made.add(dir);
  }

  @Override
  public void close() throws IOException, InterruptedException {
    for (int i = made.size() - 1; i >= 0; i--) {
      Path dir = made.get(i);
      // A process killed a moment ago may still be leaving its cgroup (EBUSY).
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (true) {
        try {
          Files.deleteIfExists(dir);
          break;
        } catch (FileSystemException e) {
          if (System.nanoTime() > deadline) {
            throw e;
          }
          Thread.sleep(50);
        }
      }
    }
  }
}
