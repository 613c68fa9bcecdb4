package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.EphemeralContainer;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What the agent keeps of a pod: identity, the labels and annotations that name its service, its
 * controller, its containers by id, and its IP addresses. A few hundred bytes instead of the pod
 * object's many kilobytes.
 *
 * @param owner       the controller reference ({@code controller: true}), else the first owner reference
 * @param containers  container id (without the runtime's {@code containerd://} scheme) to container
 * @param addresses   the pod's own IPs; empty for a pod on the host's network (its IP is the node's,
 *                    shared with every other such pod) and for a pod that ended (its IP may already
 *                    belong to a new pod)
 */
record PodMetadata(String namespace, String name, String uid, Map<String, String> labels,
    Map<String, String> annotations, @Nullable Owner owner, Map<String, PodContainer> containers,
    List<InetAddress> addresses) {

  /** Labels read for service naming (the Kubernetes well-known application labels). */
  static final String LABEL_NAME = "app.kubernetes.io/name";
  static final String LABEL_INSTANCE = "app.kubernetes.io/instance";
  static final String LABEL_VERSION = "app.kubernetes.io/version";
  /** Pod annotations with this prefix become resource attributes (semantic conventions, k8s attributes). */
  static final String RESOURCE_ANNOTATION_PREFIX = "resource.opentelemetry.io/";

  /** An owner reference: the object's kind and name, in the pod's namespace. */
  record Owner(String kind, String name) {}

  /** A container of the pod, by its status: its name and the image its spec asked for. */
  record PodContainer(String name, @Nullable String image) {}

  PodMetadata {
    labels = Map.copyOf(labels);
    annotations = Map.copyOf(annotations);
    containers = Map.copyOf(containers);
    addresses = List.copyOf(addresses);
  }

  /** Null for an object without the identity every pod has (namespace, name, uid). */
  static @Nullable PodMetadata of(Pod pod) {
    ObjectMeta meta = pod.getMetadata();
    if (meta == null || meta.getNamespace() == null || meta.getName() == null || meta.getUid() == null) {
      return null;
    }
    Map<String, String> labels = new HashMap<>();
    Map<String, String> podLabels = Objects.requireNonNullElse(meta.getLabels(), Map.of());
    for (String key : List.of(LABEL_NAME, LABEL_INSTANCE, LABEL_VERSION)) {
      String value = podLabels.get(key);
      if (value != null && !value.isBlank()) {
        labels.put(key, value);
      }
    }
    Map<String, String> annotations = new HashMap<>();
    Objects.requireNonNullElse(meta.getAnnotations(), Map.<String, String>of()).forEach((key, value) -> {
      if (key.startsWith(RESOURCE_ANNOTATION_PREFIX) && key.length() > RESOURCE_ANNOTATION_PREFIX.length()
          && value != null) {
        annotations.put(key, value);
      }
    });
    PodSpec spec = Objects.requireNonNullElseGet(pod.getSpec(), PodSpec::new);
    PodStatus status = Objects.requireNonNullElseGet(pod.getStatus(), PodStatus::new);
    return new PodMetadata(meta.getNamespace(), meta.getName(), meta.getUid(), labels, annotations,
        owner(meta.getOwnerReferences()), containers(spec, status), addresses(spec, status));
  }

  private static @Nullable Owner owner(@Nullable List<OwnerReference> references) {
    if (references == null) {
      return null;
    }
    OwnerReference chosen = null;
    for (OwnerReference reference : references) {
      if (reference.getKind() == null || reference.getName() == null) {
        continue;
      }
      if (Boolean.TRUE.equals(reference.getController())) {
        chosen = reference;
        break;
      }
      if (chosen == null) {
        chosen = reference;
      }
    }
    return chosen == null ? null : new Owner(chosen.getKind(), chosen.getName());
  }

  private static Map<String, PodContainer> containers(PodSpec spec, PodStatus status) {
    Map<String, String> images = new HashMap<>();
    for (List<Container> list : List.of(nonNull(spec.getContainers()), nonNull(spec.getInitContainers()))) {
      for (Container c : list) {
        if (c.getName() != null && c.getImage() != null) {
          images.put(c.getName(), c.getImage());
        }
      }
    }
    for (EphemeralContainer c : nonNull(spec.getEphemeralContainers())) {
      if (c.getName() != null && c.getImage() != null) {
        images.put(c.getName(), c.getImage());
      }
    }
    Map<String, PodContainer> containers = new LinkedHashMap<>();
    for (List<ContainerStatus> list : List.of(nonNull(status.getContainerStatuses()),
        nonNull(status.getInitContainerStatuses()), nonNull(status.getEphemeralContainerStatuses()))) {
      for (ContainerStatus s : list) {
        String id = containerId(s.getContainerID());
        if (id != null && s.getName() != null) {
          containers.put(id, new PodContainer(s.getName(), images.get(s.getName())));
        }
      }
    }
    return containers;
  }

  /** {@code containerd://<id>}, {@code cri-o://<id>}, {@code docker://<id>}: the id; null when not started. */
  static @Nullable String containerId(@Nullable String statusContainerId) {
    if (statusContainerId == null) {
      return null;
    }
    int scheme = statusContainerId.indexOf("://");
    String id = scheme < 0 ? statusContainerId : statusContainerId.substring(scheme + 3);
    return id.isEmpty() ? null : id;
  }

  private static List<InetAddress> addresses(PodSpec spec, PodStatus status) {
    String phase = status.getPhase();
    if (Boolean.TRUE.equals(spec.getHostNetwork()) || "Succeeded".equals(phase) || "Failed".equals(phase)) {
      return List.of();
    }
    List<String> texts = new ArrayList<>();
    for (PodIP ip : nonNull(status.getPodIPs())) {
      if (ip.getIp() != null) {
        texts.add(ip.getIp());
      }
    }
    if (texts.isEmpty() && status.getPodIP() != null) {
      texts.add(status.getPodIP());
    }
    List<InetAddress> addresses = new ArrayList<>();
    for (String text : texts) {
      InetAddress address = IpLiterals.parse(text);
      if (address != null) {
        addresses.add(address);
      }
    }
    return addresses;
  }

  private static <T> List<T> nonNull(@Nullable List<T> list) {
    return list == null ? List.of() : list;
  }
}
