package io.periscope.metadata.k8s;

import io.opentelemetry.api.common.AttributeKey;

/**
 * Resource attribute keys for pods and containers. OpenTelemetry still marks them as development,
 * so they are published only in {@code opentelemetry-semconv-incubating}, which may rename a
 * constant in any release; as for {@code IncubatingAttributes}, the keys used are copied here.
 * Names and types are those of semantic conventions 1.37.0.
 */
final class KubernetesAttributes {

  static final AttributeKey<String> K8S_NAMESPACE_NAME = AttributeKey.stringKey("k8s.namespace.name");
  static final AttributeKey<String> K8S_POD_NAME = AttributeKey.stringKey("k8s.pod.name");
  static final AttributeKey<String> K8S_POD_UID = AttributeKey.stringKey("k8s.pod.uid");
  static final AttributeKey<String> K8S_CONTAINER_NAME = AttributeKey.stringKey("k8s.container.name");
  static final AttributeKey<String> K8S_NODE_NAME = AttributeKey.stringKey("k8s.node.name");
  static final AttributeKey<String> K8S_DEPLOYMENT_NAME = AttributeKey.stringKey("k8s.deployment.name");
  static final AttributeKey<String> K8S_REPLICASET_NAME = AttributeKey.stringKey("k8s.replicaset.name");
  static final AttributeKey<String> K8S_STATEFULSET_NAME = AttributeKey.stringKey("k8s.statefulset.name");
  static final AttributeKey<String> K8S_DAEMONSET_NAME = AttributeKey.stringKey("k8s.daemonset.name");
  static final AttributeKey<String> K8S_JOB_NAME = AttributeKey.stringKey("k8s.job.name");
  static final AttributeKey<String> K8S_CRONJOB_NAME = AttributeKey.stringKey("k8s.cronjob.name");
  static final AttributeKey<String> CONTAINER_ID = AttributeKey.stringKey("container.id");
  static final AttributeKey<String> SERVICE_NAMESPACE = AttributeKey.stringKey("service.namespace");
  static final AttributeKey<String> SERVICE_INSTANCE_ID = AttributeKey.stringKey("service.instance.id");

  private KubernetesAttributes() {}
}
