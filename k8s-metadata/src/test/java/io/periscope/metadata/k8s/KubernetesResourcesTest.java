package io.periscope.metadata.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.metadata.ProcessResources;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KubernetesResourcesTest {
  @TempDir
  Path procDir;

  @Test
  void boundedAndCountsWhatItDrops() {
    FakeProc proc = new FakeProc(procDir);
    for (int pid = 1; pid <= 3; pid++) {
      proc.process(pid, pid, "0::/system.slice/p" + pid + ".service\n", "/usr/bin/p" + pid);
    }
    ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName("n").build();
    KubernetesResources resources = new KubernetesResources(processes, () -> NodeView.EMPTY, procDir, "n",
        Attributes.empty(), 2);
    for (int pid = 1; pid <= 3; pid++) {
      resources.resolve(pid, "p");
    }
    assertThat(resources.size()).isEqualTo(2);
    assertThat(resources.evictedFull()).isEqualTo(1);
  }

  @Test
  void configuredAttributesWinOverThePods() {
    FakeProc proc = new FakeProc(procDir);
    proc.inContainer(7, 7, "8b3a6c1e-2f4d-4a61-9c0e-7d5b2e1f3a90", ClusterObjects.containerId("c"), "/app");
    ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName("n").build();
    Attributes pod = Attributes.of(AttributeKey.stringKey("service.name"), "from-pod",
        AttributeKey.stringKey("k8s.pod.name"), "p");
    NodeView view = new NodeView(java.util.Map.of(ClusterObjects.containerId("c"), pod), java.util.Map.of(),
        java.util.Map.of(), java.util.Map.of());
    KubernetesResources resources = new KubernetesResources(processes, () -> view, procDir, "n",
        Attributes.of(AttributeKey.stringKey("service.name"), "configured",
            AttributeKey.stringKey("k8s.cluster.name"), "prod"), 10);

    Resource resource = resources.resolve(7, "app");
    assertThat(resource.getAttribute(AttributeKey.stringKey("service.name"))).isEqualTo("configured");
    assertThat(resource.getAttribute(AttributeKey.stringKey("k8s.cluster.name"))).isEqualTo("prod");
    assertThat(resource.getAttribute(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("p");
    // A process that is gone before it is read: the node and what comm says, and no failure.
    Resource gone = resources.resolve(99, "ghost");
    assertThat(gone.getAttribute(AttributeKey.stringKey("k8s.node.name"))).isEqualTo("n");
    assertThat(resources.readFailures()).isZero();
  }

  @Test
  void aProcessGoneBeforeItWasReadIsPlacedByItsPodIp() {
    ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName("n").build();
    Attributes pod = Attributes.of(AttributeKey.stringKey("k8s.pod.name"), "frontend-0",
        AttributeKey.stringKey("service.name"), "frontend");
    java.net.InetAddress podIp = java.net.InetAddress.ofLiteral("10.244.1.5");
    NodeView view = new NodeView(java.util.Map.of(), java.util.Map.of(), java.util.Map.of(podIp, pod),
        java.util.Map.of(podIp, "frontend-0"));
    KubernetesResources resources = new KubernetesResources(processes, () -> view, procDir, "n", Attributes.empty(), 10);

    Resource gone = resources.resolve(4321, "curl", podIp);
    assertThat(gone.getAttribute(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("frontend-0");
    assertThat(gone.getAttribute(AttributeKey.stringKey("service.name"))).isEqualTo("frontend");
    Resource loopback = resources.resolve(4322, "curl", java.net.InetAddress.getLoopbackAddress());
    assertThat(loopback.getAttribute(AttributeKey.stringKey("k8s.pod.name"))).isNull();
    assertThat(loopback.getAttribute(AttributeKey.stringKey("service.name"))).isEqualTo("curl");

    // A running process is placed by its cgroup, never by an address: a host process stays one.
    new FakeProc(procDir).process(77, 77, "0::/system.slice/cron.service\n", "/usr/sbin/cron");
    assertThat(resources.resolve(77, "cron", podIp).getAttribute(AttributeKey.stringKey("k8s.pod.name"))).isNull();
  }
}
