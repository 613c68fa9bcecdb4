package io.periscope.agent.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** BPF programs, maps and links by id: what an agent holds in the kernel, and what is left of it. */
record BpfObjects(Set<Long> programs, Set<Long> maps, Set<Long> links) {
  /** Every path under /sys/fs/bpf: an agent pins nothing, so this is the same before and after it. */
  static Set<String> pinned() throws IOException {
    try (Stream<Path> tree = Files.walk(Path.of("/sys/fs/bpf"))) {
      return tree.map(Path::toString).collect(Collectors.toCollection(TreeSet::new));
    }
  }

  /** id -> name of every BPF object of a kind ("prog", "map", "link") bpftool lists. */
  static Map<Long, String> bpftoolNames(String kind) throws Exception {
    String json = PeerProcess.run(Path.of("/"), "bpftool", "-j", kind, "show");
    Map<Long, String> names = new HashMap<>();
    Matcher m = Pattern.compile("\\{\"id\":(\\d+)(?:,\"type\":\"[^\"]*\")?(?:,\"name\":\"([^\"]*)\")?").matcher(json);
    while (m.find()) {
      names.put(Long.parseLong(m.group(1)), m.group(2) == null ? "" : m.group(2));
    }
    return names;
  }

  /** What a process holds open, from the fdinfo of its file descriptors (link fds name their program too). */
  static BpfObjects heldBy(long pid) throws IOException {
    Set<Long> programs = new TreeSet<>();
    Set<Long> maps = new TreeSet<>();
    Set<Long> links = new TreeSet<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fdinfo"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        List<String> lines;
        try {
          lines = Files.readAllLines(fd);
        } catch (IOException closedMeanwhile) {
          continue;
        }
        for (String line : lines) {
          String[] kv = line.split(":\\s*", 2);
          switch (kv[0]) {
            case "prog_id" -> programs.add(Long.parseLong(kv[1].strip()));
            case "map_id" -> maps.add(Long.parseLong(kv[1].strip()));
            case "link_id" -> links.add(Long.parseLong(kv[1].strip()));
            default -> { }
          }
        }
      }
    }
    return new BpfObjects(programs, maps, links);
  }

  /** Waits until bpftool lists none of {@code held} (the kernel frees them shortly after the last fd closes). */
  static BpfObjects awaitGone(BpfObjects held, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      BpfObjects left = new BpfObjects(
          intersect(held.programs(), bpftoolNames("prog").keySet()),
          intersect(held.maps(), bpftoolNames("map").keySet()),
          intersect(held.links(), bpftoolNames("link").keySet()));
      if (left.programs().isEmpty() && left.maps().isEmpty() && left.links().isEmpty()
          || System.nanoTime() > deadline) {
        return left;
      }
      Thread.sleep(100);
    }
  }

  private static Set<Long> intersect(Set<Long> a, Set<Long> b) {
    Set<Long> both = new TreeSet<>(a);
    both.retainAll(b);
    return both;
  }
}
