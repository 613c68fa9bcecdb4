package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_CONTAINER_NAME;
import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_NAMESPACE_NAME;
import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_NODE_NAME;
import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_POD_NAME;
import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_POD_UID;
import static io.periscope.metadata.k8s.KubernetesAttributes.SERVICE_INSTANCE_ID;
import static io.periscope.metadata.k8s.KubernetesAttributes.SERVICE_NAMESPACE;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.semconv.ServiceAttributes;
import io.periscope.metadata.k8s.PodMetadata.PodContainer;
import org.jspecify.annotations.Nullable;

/**
 * The resource attributes of a container in a pod, with the {@code service.*} attributes computed
 * the way the OpenTelemetry operator and the semantic conventions' Kubernetes guidance do, so that
 * Periscope's spans carry the same service identity as an SDK or the Collector would give the pod.
 *
 * <pre>
 *   service.name         annotation resource.opentelemetry.io/service.name
 *                        else label app.kubernetes.io/name, else label app.kubernetes.io/instance
 *                        else the workload: Deployment, ReplicaSet, StatefulSet, DaemonSet, CronJob, Job
 *                        else the container's name (the pod's, when the container is not known yet)
 *   service.namespace    annotation resource.opentelemetry.io/service.namespace, else the namespace
 *   service.version      annotation resource.opentelemetry.io/service.version
 *                        else label app.kubernetes.io/version, else the image's tag@digest, digest or tag
 *   service.instance.id  annotation resource.opentelemetry.io/service.instance.id
 *                        else namespace.pod.container
 *   anything else        every annotation resource.opentelemetry.io/KEY becomes attribute KEY
 * </pre>
 *
 * <p>The pod's name is skipped before the container's: a bare or static pod's name carries a node
 * name or a random suffix, which would give each pod a service of its own.
 */
final class PodAttributes {

  private PodAttributes() {}

  /**
   * @param container null when the process's container is not among the pod's statuses yet (it
   *                  just started): the pod's attributes without the container's
   */
  static Attributes of(PodMetadata pod, @Nullable PodContainer container, Workload workload, String nodeName) {
    AttributesBuilder attributes = Attributes.builder()
        .put(K8S_NAMESPACE_NAME, pod.namespace())
        .put(K8S_POD_NAME, pod.name())
        .put(K8S_POD_UID, pod.uid())
        .put(K8S_NODE_NAME, nodeName);
    if (container != null) {
      attributes.put(K8S_CONTAINER_NAME, container.name());
    }
    workload.names().forEach((kind, name) -> attributes.put(kind.attribute(), name));

    attributes.put(ServiceAttributes.SERVICE_NAME, serviceName(pod, container, workload));
    attributes.put(SERVICE_NAMESPACE, pod.namespace());
    String version = pod.labels().get(PodMetadata.LABEL_VERSION);
    if (version == null && container != null && container.image() != null) {
      version = imageVersion(container.image());
    }
    if (version != null) {
      attributes.put(ServiceAttributes.SERVICE_VERSION, version);
    }
    if (container != null) {
      attributes.put(SERVICE_INSTANCE_ID, pod.namespace() + "." + pod.name() + "." + container.name());
    }
    // Annotations are what the pod's owner asked for in so many words: they win over everything above.
    pod.annotations().forEach((key, value) ->
        attributes.put(key.substring(PodMetadata.RESOURCE_ANNOTATION_PREFIX.length()), value));
    return attributes.build();
  }

  private static String serviceName(PodMetadata pod, @Nullable PodContainer container, Workload workload) {
    String name = pod.labels().get(PodMetadata.LABEL_NAME);
    if (name == null) {
      name = pod.labels().get(PodMetadata.LABEL_INSTANCE);
    }
    if (name == null) {
      name = workload.topName();
    }
    if (name == null) {
      name = container != null ? container.name() : pod.name();
    }
    return name;
  }

  /**
   * The version an image reference names: {@code tag@digest}, else the digest, else the tag (the
   * semantic conventions' rule); null for an image named without either ({@code nginx}).
   */
  static @Nullable String imageVersion(String image) {
    String reference = image.strip();
    String digest = null;
    int at = reference.indexOf('@');
    if (at >= 0) {
      digest = reference.substring(at + 1);
      reference = reference.substring(0, at);
    }
    // A ':' after the last '/' starts the tag; one before it is a registry's port (host:5000/app).
    int colon = reference.lastIndexOf(':');
    String tag = colon > reference.lastIndexOf('/') ? reference.substring(colon + 1) : null;
    if (tag != null && tag.isEmpty()) {
      tag = null;
    }
    if (digest != null && digest.isEmpty()) {
      digest = null;
    }
    if (tag != null && digest != null) {
      return tag + "@" + digest;
    }
    return digest != null ? digest : tag;
  }
}
