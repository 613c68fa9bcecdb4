package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.CronJob;
import io.fabric8.kubernetes.api.model.batch.v1.CronJobBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import java.util.List;
import java.util.UUID;

/** Kubernetes objects as controllers write them, shortened for tests. */
public final class ClusterObjects {

  private ClusterObjects() {}

  /** A controller's reference to what it owns ({@code controller: true}), as Deployments and Jobs write it. */
  public static OwnerReference controller(String apiVersion, String kind, String name) {
    return new OwnerReferenceBuilder().withApiVersion(apiVersion).withKind(kind).withName(name)
        .withUid(UUID.nameUUIDFromBytes((kind + "/" + name).getBytes()).toString())
        .withController(true).withBlockOwnerDeletion(true).build();
  }

  public static Deployment deployment(String namespace, String name) {
    return new DeploymentBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
        .withNewSpec().withNewSelector().addToMatchLabels("app", name).endSelector().endSpec().build();
  }

  public static ReplicaSet replicaSet(String namespace, String name, String deployment) {
    return new ReplicaSetBuilder().withNewMetadata().withNamespace(namespace).withName(name)
        .withOwnerReferences(controller("apps/v1", "Deployment", deployment)).endMetadata()
        .withNewSpec().withNewSelector().addToMatchLabels("app", deployment).endSelector().endSpec().build();
  }

  public static StatefulSet statefulSet(String namespace, String name) {
    return new StatefulSetBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata().build();
  }

  public static DaemonSet daemonSet(String namespace, String name) {
    return new DaemonSetBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata().build();
  }

  public static CronJob cronJob(String namespace, String name) {
    return new CronJobBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
        .withNewSpec().withSchedule("*/5 * * * *").endSpec().build();
  }

  /** A Job, made by a CronJob when {@code cronJob} is not null. */
  public static Job job(String namespace, String name, String cronJob) {
    JobBuilder job = new JobBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata();
    if (cronJob != null) {
      job.editMetadata().withOwnerReferences(controller("batch/v1", "CronJob", cronJob)).endMetadata();
    }
    return job.build();
  }

  /** A Service with these cluster IPs ({@code None} for a headless one). */
  public static Service service(String namespace, String name, String... clusterIps) {
    return new ServiceBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
        .withNewSpec().withClusterIP(clusterIps.length == 0 ? null : clusterIps[0])
        .withClusterIPs(List.of(clusterIps)).addNewPort().withPort(80).endPort().endSpec().build();
  }

  /** A running pod on a node; add containers, owners, labels with the builder. */
  public static PodBuilder pod(String namespace, String name, String uid, String node) {
    return new PodBuilder().withNewMetadata().withNamespace(namespace).withName(name).withUid(uid).endMetadata()
        .withNewSpec().withNodeName(node).endSpec()
        .withNewStatus().withPhase("Running").endStatus();
  }

  /** Adds a started container: its spec (with the image) and its status (with the runtime's id). */
  public static PodBuilder withContainer(PodBuilder pod, String name, String image, String containerId) {
    return pod.editSpec().addToContainers(new ContainerBuilder().withName(name).withImage(image).build()).endSpec()
        .editStatus().addToContainerStatuses(new ContainerStatusBuilder().withName(name).withImage(image)
            .withContainerID(containerId).withReady(true).withRestartCount(0).build()).endStatus();
  }

  public static Pod ownedBy(PodBuilder pod, OwnerReference owner) {
    return pod.editMetadata().withOwnerReferences(owner).endMetadata().build();
  }

  /** 64 hex digits, as containerd and CRI-O name containers, derived from a seed. */
  public static String containerId(String seed) {
    String hex = UUID.nameUUIDFromBytes(seed.getBytes()).toString().replace("-", "");
    return (hex + hex).substring(0, 64);
  }

  public static String uid(String seed) {
    return UUID.nameUUIDFromBytes(("uid:" + seed).getBytes()).toString();
  }
}
