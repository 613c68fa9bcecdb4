package io.periscope.metadata.k8s;

import io.opentelemetry.api.common.Attributes;
import java.net.InetAddress;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * One immutable picture of the pods on this node, replaced as a whole whenever a pod, or an owner
 * a pod's walk needs, changes. Readers on the hot path take the current picture with one volatile
 * read and look up in plain maps; a picture's identity tells a cache whether what it derived is
 * still current.
 *
 * @param byContainerId attributes of each started container, by container id
 * @param byPodUid      attributes of each pod without a container's, for a process whose container
 *                      is not among the pod's statuses yet
 * @param byPodIp       attributes of each pod by its IPs, for a process that was gone before its cgroup
 *                      could be read: its container's (with {@code container.id}) when the pod has one
 * @param podNames      the pod's name for each pod IP (pods on the host's network and ended pods left out)
 */
record NodeView(Map<String, Attributes> byContainerId, Map<String, Attributes> byPodUid,
    Map<InetAddress, Attributes> byPodIp, Map<InetAddress, String> podNames) {

  static final NodeView EMPTY = new NodeView(Map.of(), Map.of(), Map.of(), Map.of());

  /** The attributes of the container (or, failing that, the pod) a cgroup names; null when neither is known. */
  @Nullable Attributes attributesOf(ContainerCgroup cgroup) {
    Attributes attributes = cgroup.containerId() == null ? null : byContainerId.get(cgroup.containerId());
    if (attributes == null && cgroup.podUid() != null) {
      attributes = byPodUid.get(cgroup.podUid());
    }
    return attributes;
  }
}
