package io.periscope.metadata.k8s;

import io.opentelemetry.api.common.AttributeKey;
import org.jspecify.annotations.Nullable;

/**
 * The controllers a pod's owner walk can reach, in the order in which their names stand in for
 * {@code service.name} (semantic conventions, "How service.name should be calculated": from the
 * ancestor to the descendant).
 */
enum WorkloadKind {
  DEPLOYMENT("Deployment", KubernetesAttributes.K8S_DEPLOYMENT_NAME),
  REPLICASET("ReplicaSet", KubernetesAttributes.K8S_REPLICASET_NAME),
  STATEFULSET("StatefulSet", KubernetesAttributes.K8S_STATEFULSET_NAME),
  DAEMONSET("DaemonSet", KubernetesAttributes.K8S_DAEMONSET_NAME),
  CRONJOB("CronJob", KubernetesAttributes.K8S_CRONJOB_NAME),
  JOB("Job", KubernetesAttributes.K8S_JOB_NAME);

  private final String kind;
  private final AttributeKey<String> attribute;

  WorkloadKind(String kind, AttributeKey<String> attribute) {
    this.kind = kind;
    this.attribute = attribute;
  }

  /** The object's {@code kind}, as an owner reference names it. */
  String kind() {
    return kind;
  }

  AttributeKey<String> attribute() {
    return attribute;
  }

  /** The kind an owner reference names, or null for any other (a Node for static pods, custom controllers). */
  static @Nullable WorkloadKind of(@Nullable String kind) {
    for (WorkloadKind k : values()) {
      if (k.kind.equals(kind)) {
        return k;
      }
    }
    return null;
  }
}
