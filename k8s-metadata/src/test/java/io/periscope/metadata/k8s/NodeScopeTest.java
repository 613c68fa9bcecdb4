package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.ClusterObjects.containerId;
import static io.periscope.metadata.k8s.ClusterObjects.controller;
import static io.periscope.metadata.k8s.ClusterObjects.pod;
import static io.periscope.metadata.k8s.ClusterObjects.withContainer;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.NODE;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.attr;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.metadata.ProcessResources;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster of 5,050 pods, 50 of them on this node: what the agent holds follows this node's pods,
 * not the cluster's. Counted, not estimated: pods held by the informer and in the index, owners
 * fetched, and what was asked of the API server.
 */
class NodeScopeTest {
  private static final int OTHER_NODES = 50;
  private static final int PODS_ELSEWHERE = 5_000;
  private static final int PODS_HERE = 50;
  private static final int DEPLOYMENTS = 100;
  private static final int SERVICES = 100;

  @TempDir
  Path procDir;

  @Test
  void holdsThisNodesPodsOnly() {
    FakeProc proc = new FakeProc(procDir);
    try (MockCluster cluster = MockCluster.start()) {
      KubernetesClient writer = cluster.client();
      for (int d = 0; d < DEPLOYMENTS; d++) {
        cluster.put(ClusterObjects.replicaSet("ns-" + d % 10, "app" + d + "-5f6d", "app" + d));
      }
      for (int s = 0; s < SERVICES; s++) {
        cluster.put(ClusterObjects.service("ns-" + s % 10, "app" + s, "10.96." + s / 250 + "." + (s % 250 + 1)));
      }
      // Pods of every Deployment, spread over the other nodes; every tenth Deployment also has pods here.
      for (int i = 0; i < PODS_ELSEWHERE; i++) {
        int d = i % DEPLOYMENTS;
        writer.resource(onNode(pod("ns-" + d % 10, "app" + d + "-5f6d-" + i, "u" + i, "node-" + (i % OTHER_NODES))
            .editMetadata().withOwnerReferences(controller("apps/v1", "ReplicaSet", "app" + d + "-5f6d")).endMetadata()
            .editStatus().withPodIP("10.200." + i / 250 + "." + (i % 250 + 1)).endStatus()
            .build())).create();
      }
      for (int i = 0; i < PODS_HERE; i++) {
        int d = (i % 5) * 10; // Deployments 0, 10, 20, 30, 40
        String id = containerId("here-" + i);
        Pod here = cluster.put(withContainer(pod("ns-" + d % 10, "app" + d + "-5f6d-here" + i, "h" + i, NODE)
            .editMetadata().withOwnerReferences(controller("apps/v1", "ReplicaSet", "app" + d + "-5f6d")).endMetadata()
            .editStatus().withPodIP("10.1.0." + (i + 1)).endStatus(), "app", "app:1", "containerd://" + id).build());
        proc.inContainer(1000 + i, 1, here.getMetadata().getUid(), id, "/app/app");
      }

      ExecutorService tasks = KubernetesMetadata.daemonPool();
      ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName(NODE).build();
      try (KubernetesMetadata metadata = KubernetesMetadata.start(cluster.clientUnderTest(tasks), tasks, NODE,
          processes, procDir, Attributes.empty())) {
        await("pods listed", metadata::podsListed);
        await("services listed", metadata::servicesListed);
        for (int i = 0; i < PODS_HERE; i++) {
          int pid = 1000 + i;
          await("deployment of pid " + pid, () -> attr(metadata.resources().resolve(pid, "app"), "k8s.deployment.name") != null);
        }
        Resource one = metadata.resources().resolve(1007, "app");
        assertThat(attr(one, "k8s.deployment.name")).isEqualTo("app20");

        assertThat(metadata.podsHeld()).as("pods held by the informer").isEqualTo(PODS_HERE);
        assertThat(metadata.podsIndexed()).as("pods in the index").isEqualTo(PODS_HERE);
        assertThat(metadata.view().byContainerId()).hasSize(PODS_HERE);
        assertThat(metadata.ownersHeld()).as("ReplicaSets of this node's pods only").isEqualTo(5);
        assertThat(metadata.servicesHeld()).isEqualTo(SERVICES);
        assertThat(metadata.serviceAddresses()).isEqualTo(SERVICES);
        assertThat(metadata.processes().size()).isEqualTo(PODS_HERE);
        // Other nodes' pods are not known by IP; this node's are.
        assertThat(metadata.peers().nameOf(InetAddress.ofLiteral("10.200.0.1"))).isNull();
        assertThat(metadata.peers().nameOf(InetAddress.ofLiteral("10.1.0.8"))).isEqualTo("app20-5f6d-here7");

        // What was asked: this node's pods, every Service, and five ReplicaSets by name; never a list of ReplicaSets.
        assertThat(cluster.requests()).filteredOn(r -> r.startsWith("/api/v1/pods?") && !r.contains("watch=true"))
            .singleElement().satisfies(r -> assertThat(r).contains("fieldSelector=spec.nodeName=" + NODE));
        assertThat(cluster.requests()).filteredOn(r -> r.contains("/replicasets") && r.startsWith("/apis/apps/v1/namespaces/")
            && !r.contains("?")).filteredOn(r -> !r.endsWith("/replicasets")).hasSize(5);
        assertThat(cluster.requests()).noneMatch(r -> r.startsWith("/apis/apps/v1/replicasets"));
      }
    }
  }

  private static Pod onNode(Pod pod) {
    pod.getMetadata().getLabels().put(MockCluster.NODE_LABEL, pod.getSpec().getNodeName());
    return pod;
  }
}
