package io.periscope.metadata;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.semconv.ServiceAttributes;
import io.periscope.metadata.k8s.ClusterAccess;
import io.periscope.metadata.k8s.KubernetesMetadata;
import org.jspecify.annotations.Nullable;

/**
 * Who the processes of this node are, in whichever mode the configuration chose: process mode
 * ({@link ProcessResources} alone; peers are their addresses) or Kubernetes mode
 * ({@link KubernetesMetadata} in front of it). The caller owns the instance and closes it.
 */
public final class NodeMetadata implements AutoCloseable {

  private final ResourceResolver resources;
  private final PeerNames peers;
  private final @Nullable KubernetesMetadata kubernetes;
  private final String mode;

  private NodeMetadata(ResourceResolver resources, PeerNames peers, @Nullable KubernetesMetadata kubernetes,
      String mode) {
    this.resources = resources;
    this.peers = peers;
    this.kubernetes = kubernetes;
    this.mode = mode;
  }

  /**
   * Starts reading metadata. In Kubernetes mode this returns at once, before the API server has
   * answered: spans carry process attributes until the pods are listed.
   */
  public static NodeMetadata start(MetadataConfig config) {
    ClusterAccess cluster = config.cluster();
    ProcessResourcesBuilder processes = ProcessResources.builder()
        .procRoot(config.procRoot())
        .resourceAttributes(config.resourceAttributes());
    if (config.serviceName() != null) {
      processes.serviceName(config.serviceName());
    }
    if (cluster.source() == ClusterAccess.Source.NONE) {
      return new NodeMetadata(processes.build(), PeerNames.NONE, null,
          "process attributes (" + cluster.reason() + ")");
    }
    // In a pod without the host's UTS namespace the proc root shows the pod's host name, not the node's.
    ProcessResources processResources = processes.hostName(cluster.nodeName()).build();
    KubernetesMetadata kubernetes = KubernetesMetadata.start(cluster, processResources, config.procRoot(),
        configured(config));
    return new NodeMetadata(kubernetes.resources(), kubernetes.peers(), kubernetes,
        "Kubernetes, node " + kubernetes.nodeName() + ", API " + kubernetes.apiServer() + " (" + describe(cluster) + ")");
  }

  /** The resource of each traced process. */
  public ResourceResolver resources() {
    return resources;
  }

  /** Names for peer addresses. */
  public PeerNames peers() {
    return peers;
  }

  /** One line for the startup summary: which mode, and why or with what. */
  public String mode() {
    return mode;
  }

  /** The Kubernetes side, or null in process mode. */
  public @Nullable KubernetesMetadata kubernetes() {
    return kubernetes;
  }

  @Override
  public void close() {
    if (kubernetes != null) {
      kubernetes.close();
    }
  }

  private static Attributes configured(MetadataConfig config) {
    AttributesBuilder attributes = Attributes.builder();
    config.resourceAttributes().forEach(attributes::put);
    if (config.serviceName() != null) {
      attributes.put(ServiceAttributes.SERVICE_NAME, config.serviceName());
    }
    return attributes.build();
  }

  private static String describe(ClusterAccess cluster) {
    return cluster.source() == ClusterAccess.Source.KUBECONFIG ? "kubeconfig " + cluster.kubeconfig() : "service account";
  }
}
