package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.opentelemetry.api.common.Attributes;
import io.periscope.metadata.k8s.OwnerLookups.Key;
import io.periscope.metadata.k8s.OwnerLookups.Lookup;
import io.periscope.metadata.k8s.PodMetadata.Owner;
import io.periscope.metadata.k8s.PodMetadata.PodContainer;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The pods on this node, as the pod informer reports them, and the {@link NodeView} derived from
 * them. A pod whose owner walk is still waiting for its first answer from the API server stays out
 * of the view (its processes carry their container id only), so that its {@code service.name} does
 * not change from the ReplicaSet's name to the Deployment's a few milliseconds after it appears.
 *
 * <p>Writers (informer events, owner lookups) are serialized; readers only take {@link #view()}.
 */
final class NodePods {

  private final String nodeName;
  /**
   * By namespace/name, as the informer keys them: a pod deleted and created again under the same
   * name while the watch was down (a StatefulSet's) comes back from the relist as an update, with
   * a new UID, and must replace the old one.
   */
  private final Map<String, PodMetadata> pods = new HashMap<>();
  private @Nullable OwnerLookups owners;
  private volatile NodeView view = NodeView.EMPTY;

  NodePods(String nodeName) {
    this.nodeName = nodeName;
  }

  /** Connects the owner lookups, which call back into {@link #rebuild()} (so they are made after this). */
  synchronized void owners(OwnerLookups owners) {
    this.owners = owners;
  }

  NodeView view() {
    return view;
  }

  synchronized void upsert(Pod pod) {
    PodMetadata metadata = PodMetadata.of(pod);
    if (metadata != null) {
      pods.put(metadata.namespace() + "/" + metadata.name(), metadata);
      rebuild();
    }
  }

  synchronized void delete(Pod pod) {
    ObjectMeta meta = pod.getMetadata();
    if (meta != null && pods.remove(meta.getNamespace() + "/" + meta.getName()) != null) {
      rebuild();
    }
  }

  synchronized int size() {
    return pods.size();
  }

  /** Derives a new view from the pods and what is known of their owners. */
  synchronized void rebuild() {
    Map<String, Attributes> byContainerId = new HashMap<>();
    Map<String, Attributes> byPodUid = new HashMap<>();
    Map<InetAddress, Attributes> byPodIp = new HashMap<>();
    Map<InetAddress, String> podNames = new HashMap<>();
    Set<Key> referenced = new HashSet<>();
    for (PodMetadata pod : pods.values()) {
      Workload workload = walk(pod, referenced);
      if (workload == null) {
        continue; // its owner is being fetched: the next rebuild has it
      }
      Attributes podOnly = PodAttributes.of(pod, null, workload, nodeName);
      byPodUid.put(pod.uid(), podOnly);
      for (Map.Entry<String, PodContainer> container : pod.containers().entrySet()) {
        byContainerId.put(container.getKey(), PodAttributes.of(pod, container.getValue(), workload, nodeName));
      }
      // By IP, the container is known only when there is one to choose from.
      Attributes byAddress = podOnly;
      if (pod.containers().size() == 1) {
        Map.Entry<String, PodContainer> only = pod.containers().entrySet().iterator().next();
        byAddress = byContainerId.get(only.getKey()).toBuilder()
            .put(KubernetesAttributes.CONTAINER_ID, only.getKey()).build();
      }
      for (InetAddress address : pod.addresses()) {
        podNames.putIfAbsent(address, pod.name());
        byPodIp.putIfAbsent(address, byAddress);
      }
    }
    if (owners != null) {
      owners.retainOnly(referenced);
    }
    view = new NodeView(Map.copyOf(byContainerId), Map.copyOf(byPodUid), Map.copyOf(byPodIp), Map.copyOf(podNames));
  }

  /** The pod's workload, or null while an owner it needs is being fetched for the first time. */
  private @Nullable Workload walk(PodMetadata pod, Set<Key> referenced) {
    Owner owner = pod.owner();
    WorkloadKind kind = owner == null ? null : WorkloadKind.of(owner.kind());
    if (kind == null) {
      return Workload.NONE;
    }
    Workload workload = Workload.of(kind, owner.name());
    WorkloadKind parentKind = switch (kind) {
      case REPLICASET -> WorkloadKind.DEPLOYMENT;
      case JOB -> WorkloadKind.CRONJOB;
      default -> null;
    };
    if (parentKind == null || owners == null) {
      return workload;
    }
    Key key = new Key(kind, pod.namespace(), owner.name());
    referenced.add(key);
    Lookup lookup = owners.lookup(key);
    return switch (lookup.state()) {
      case PENDING -> null;
      case UNAVAILABLE -> workload;
      case KNOWN -> lookup.owner() != null && parentKind.kind().equals(lookup.owner().kind())
          ? workload.with(parentKind, lookup.owner().name())
          : workload;
    };
  }

  /** ReplicaSets and Jobs whose owners are held for the pods' walks. */
  synchronized int ownersHeld() {
    return owners == null ? 0 : owners.size();
  }
}
