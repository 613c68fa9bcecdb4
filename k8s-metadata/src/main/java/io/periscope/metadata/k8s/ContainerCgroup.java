package io.periscope.metadata.k8s;

import static java.util.Objects.requireNonNull;

import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The container (and the pod, when the path says) a process belongs to, read from its
 * {@code /proc/<pid>/cgroup}. Every container runtime names the cgroup of a container after the
 * container's id, in one of these shapes (cgroup v1 or v2 alike; v1 files have one line per
 * hierarchy, v2 a single {@code 0::} line, hybrid hosts both):
 *
 * <pre>
 *   systemd driver   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod&lt;uid_with_underscores&gt;.slice/cri-containerd-&lt;id&gt;.scope
 *                    ...-pod&lt;uid&gt;.slice/crio-&lt;id&gt;.scope        ...-pod&lt;uid&gt;.slice/docker-&lt;id&gt;.scope
 *   cgroupfs driver  /kubepods/burstable/pod&lt;uid&gt;/&lt;id&gt;    /kubepods/pod&lt;uid&gt;/&lt;id&gt; (guaranteed QoS)
 *   plain Docker     /docker/&lt;id&gt;    /system.slice/docker-&lt;id&gt;.scope
 *   Podman           /machine.slice/libpod-&lt;id&gt;.scope
 * </pre>
 *
 * <p>The id is the 64 hex digits that {@code containerStatuses[].containerID} carries after its
 * {@code containerd://} (or {@code cri-o://}, {@code docker://}) scheme. The path is read from the
 * last segment up, so a cgroup a container made below its own ({@code .../cri-containerd-<id>.scope/init.scope})
 * still counts, and so does a path relative to the reader's cgroup namespace: an agent in a pod with
 * its own cgroup namespace sees other pods as {@code 0::/../../kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope}.
 * CRI-O's monitor process ({@code crio-conmon-<id>.scope}) is not in the container and is not matched.
 *
 * @param containerId the container's 64-hex-digit id, or null when only the pod is known
 * @param podUid      the pod's UID (with dashes), or null when the path does not name a pod
 */
record ContainerCgroup(@Nullable String containerId, @Nullable String podUid) {

  private static final Pattern CONTAINER_ID = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern POD_UID =
      Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  /** Prefixes of systemd scope names that are followed by a container id. */
  private static final String[] SCOPE_PREFIXES = {"cri-containerd-", "crio-", "docker-", "libpod-", "containerd-"};

  /**
   * The container named by a {@code /proc/<pid>/cgroup} file's text, or null for a process in no
   * container (a host daemon, a kernel thread, a login session).
   */
  static @Nullable ContainerCgroup parse(String procCgroup) {
    requireNonNull(procCgroup, "procCgroup");
    ContainerCgroup podOnly = null;
    for (String line : procCgroup.split("\n")) {
      // hierarchy-id:controllers:path; the path itself may contain ':'
      int first = line.indexOf(':');
      int second = first < 0 ? -1 : line.indexOf(':', first + 1);
      if (second < 0) {
        continue;
      }
      ContainerCgroup found = parsePath(line.substring(second + 1).strip());
      if (found != null && found.containerId() != null) {
        return found;
      }
      if (found != null && podOnly == null) {
        podOnly = found;
      }
    }
    return podOnly;
  }

  private static @Nullable ContainerCgroup parsePath(String path) {
    String[] segments = path.split("/");
    for (int i = segments.length - 1; i >= 0; i--) {
      if (segments[i].startsWith("crio-conmon-")) {
        return null; // CRI-O's monitor: in the pod's cgroup, but not in the pod
      }
      String id = containerId(segments[i]);
      if (id != null) {
        return new ContainerCgroup(id, podUid(segments, i));
      }
    }
    String uid = podUid(segments, segments.length);
    return uid == null ? null : new ContainerCgroup(null, uid);
  }

  /** The container id a single path segment names, or null. */
  private static @Nullable String containerId(String segment) {
    String name = segment.endsWith(".scope") ? segment.substring(0, segment.length() - ".scope".length()) : segment;
    for (String prefix : SCOPE_PREFIXES) {
      if (name.startsWith(prefix)) {
        name = name.substring(prefix.length());
        break;
      }
    }
    return CONTAINER_ID.matcher(name).matches() ? name : null;
  }

  /**
   * The pod UID named by one of the segments before {@code end}: {@code pod<uid>} (cgroupfs) or
   * {@code kubepods-<qos>-pod<uid with _ for ->.slice} (systemd, whose unit names cannot hold '-'
   * as data).
   */
  private static @Nullable String podUid(String[] segments, int end) {
    for (int i = end - 1; i >= 0; i--) {
      String segment = segments[i];
      String name = segment.endsWith(".slice") ? segment.substring(0, segment.length() - ".slice".length()) : segment;
      int at = name.startsWith("pod") ? 0 : name.lastIndexOf("-pod") + 1;
      if (at == 0 && !name.startsWith("pod")) {
        continue;
      }
      String uid = name.substring(at + "pod".length()).replace('_', '-');
      if (POD_UID.matcher(uid).matches()) {
        return uid;
      }
    }
    return null;
  }
}
