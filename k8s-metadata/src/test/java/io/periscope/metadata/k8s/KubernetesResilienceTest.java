package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.ClusterObjects.containerId;
import static io.periscope.metadata.k8s.ClusterObjects.controller;
import static io.periscope.metadata.k8s.ClusterObjects.pod;
import static io.periscope.metadata.k8s.ClusterObjects.uid;
import static io.periscope.metadata.k8s.ClusterObjects.withContainer;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.NODE;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.NS;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.attr;
import static io.periscope.metadata.k8s.KubernetesMetadataTest.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.metadata.ProcessResources;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An API server that is down, restarts, or forbids: tracing goes on, and each problem is said once. */
class KubernetesResilienceTest {

  @TempDir
  Path procDir;
  FakeProc proc;
  MockCluster cluster;
  KubernetesMetadata metadata;
  CapturedLogs logs;

  @BeforeEach
  void start() {
    proc = new FakeProc(procDir);
    logs = new CapturedLogs();
  }

  @AfterEach
  void stop() {
    if (metadata != null) {
      metadata.close();
    }
    if (cluster != null) {
      cluster.close();
    }
    logs.close();
  }

  private KubernetesMetadata startMetadata(KubernetesClient client, ExecutorService tasks) {
    ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName(NODE).build();
    metadata = KubernetesMetadata.start(client, tasks, NODE, processes, procDir, Attributes.empty());
    return metadata;
  }

  private Resource resolve(int pid) {
    return metadata.resources().resolve(pid, "comm");
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Test
  void apiServerDownAtStartupThenUp() throws Exception {
    int port = freePort();
    ExecutorService tasks = KubernetesMetadata.daemonPool();
    KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(new ConfigBuilder().withMasterUrl("http://127.0.0.1:" + port).withRequestRetryBackoffLimit(0)
            .withConnectionTimeout(500).withWatchReconnectInterval(200).build())
        .withHttpClientFactory(new JdkHttpClientFactory()).withTaskExecutor(tasks).build();
    String id = containerId("late");
    long started = System.nanoTime();
    startMetadata(client, tasks);
    assertThat(Duration.ofNanos(System.nanoTime() - started)).as("start does not wait for the API server")
        .isLessThan(Duration.ofSeconds(2));

    // Nothing answers: spans carry the process, the node and the container id, and nothing throws.
    proc.inContainer(700, 7000, uid("late"), id, "/app/late");
    Resource before = resolve(700);
    assertThat(attr(before, "service.name")).isEqualTo("late");
    assertThat(attr(before, "container.id")).isEqualTo(id);
    assertThat(attr(before, "k8s.node.name")).isEqualTo(NODE);
    assertThat(attr(before, "k8s.pod.name")).isNull();
    assertThat(metadata.peers().nameOf(InetAddress.ofLiteral("10.96.0.1"))).isNull();
    await("failures retried", () -> metadata.problems().failures() >= 6);
    assertThat(logs.at(Level.WARNING)).as("one line per resource, however often it is retried").hasSize(2)
        .anySatisfy(m -> assertThat(m).contains("cannot read pods on this node from http://127.0.0.1:" + port))
        .anySatisfy(m -> assertThat(m).contains("cannot read services"));

    // The API server comes up with the pod: the next span of the process has its attributes.
    cluster = MockCluster.start(port);
    cluster.put(withContainer(pod(NS, "late-0", uid("late"), NODE), "late", "late:1", "containerd://" + id).build());
    await("pod attributes", () -> "late-0".equals(attr(resolve(700), "k8s.pod.name")));
    await("both listed", () -> metadata.podsListed() && metadata.servicesListed());
    await("recovery said", () -> logs.at(Level.INFO).contains("kubernetes: pods on this node: reachable again"));
    assertThat(logs.at(Level.WARNING)).hasSize(2);
  }

  @Test
  void restartedApiServerIsListedAgain() {
    cluster = MockCluster.start();
    String keptId = containerId("kept");
    String goneId = containerId("gone");
    String keptUid = cluster.put(withContainer(pod(NS, "kept", uid("kept"), NODE), "kept", "kept:1",
        "containerd://" + keptId).build()).getMetadata().getUid();
    String goneUid = cluster.put(withContainer(pod(NS, "gone", uid("gone"), NODE), "gone", "gone:1",
        "containerd://" + goneId).build()).getMetadata().getUid();
    proc.inContainer(800, 8000, keptUid, keptId, "/app/kept");
    proc.inContainer(801, 8001, goneUid, goneId, "/app/gone");
    ExecutorService tasks = KubernetesMetadata.daemonPool();
    startMetadata(cluster.clientUnderTest(tasks), tasks);
    await("both pods", () -> attr(resolve(800), "k8s.pod.name") != null && attr(resolve(801), "k8s.pod.name") != null);

    // The API server restarts with another history: one pod relabelled, one gone, one new. The
    // watches drop; their resource version means nothing to it (410 Gone), so the informer lists again.
    String newId = containerId("new");
    String[] newUid = new String[1];
    cluster.restart(() -> {
      cluster.put(withContainer(pod(NS, "kept", keptUid, NODE).editMetadata()
          .addToLabels("app.kubernetes.io/name", "kept-renamed").endMetadata(), "kept", "kept:1",
          "containerd://" + keptId).build());
      newUid[0] = cluster.put(withContainer(pod(NS, "new", uid("new"), NODE), "new", "new:1",
          "containerd://" + newId).build()).getMetadata().getUid();
    });
    proc.inContainer(802, 8002, newUid[0], newId, "/app/new");

    await("relisted", () -> "kept-renamed".equals(attr(resolve(800), "service.name"))
        && attr(resolve(801), "k8s.pod.name") == null
        && "new".equals(attr(resolve(802), "k8s.pod.name")));
    assertThat(metadata.podsHeld()).isEqualTo(2);
  }

  /**
   * An API server that answers after the client gave up (overloaded, or far away): nothing waits
   * for it, spans go on with what the node knows, and its pods are listed once it answers in time.
   */
  @Test
  void aSlowApiServerHoldsNothingUpAndIsListedOnceItAnswersInTime() {
    cluster = MockCluster.start();
    String id = containerId("slow");
    String podUid = cluster.put(withContainer(pod(NS, "slow-0", uid("slow"), NODE), "slow", "slow:1",
        "containerd://" + id).build()).getMetadata().getUid();
    proc.inContainer(960, 9600, podUid, id, "/app/slow");
    cluster.slow(Duration.ofSeconds(3)); // past the client's request timeout of 2 s
    ExecutorService tasks = KubernetesMetadata.daemonPool();
    long started = System.nanoTime();
    startMetadata(cluster.clientUnderTest(tasks), tasks);
    assertThat(Duration.ofNanos(System.nanoTime() - started)).as("start does not wait for the API server")
        .isLessThan(Duration.ofSeconds(2));

    long resolving = System.nanoTime();
    Resource before = resolve(960);
    assertThat(Duration.ofNanos(System.nanoTime() - resolving)).as("a span's resource does not wait for it either")
        .isLessThan(Duration.ofMillis(500));
    assertThat(attr(before, "container.id")).isEqualTo(id);
    assertThat(attr(before, "k8s.node.name")).isEqualTo(NODE);
    assertThat(attr(before, "k8s.pod.name")).isNull();
    await("timed-out lists counted as failures", () -> metadata.problems().failures() >= 2);

    cluster.slow(Duration.ZERO);
    await("pod attributes", () -> "slow-0".equals(attr(resolve(960), "k8s.pod.name")));
    assertThat(logs.at(Level.WARNING)).as("said once per resource, however often retried").hasSizeLessThanOrEqualTo(2);
  }

  @Test
  void forbiddenServicesLeavePeersUnnamedAndPodsWorking() {
    cluster = MockCluster.start();
    cluster.forbid("/api/v1/services");
    cluster.put(ClusterObjects.service(NS, "orders", "10.96.12.7"));
    String id = containerId("orders");
    String podUid = cluster.put(withContainer(pod(NS, "orders-0", uid("orders"), NODE), "orders", "orders:1",
        "containerd://" + id).build()).getMetadata().getUid();
    proc.inContainer(900, 9000, podUid, id, "/app/orders");
    ExecutorService tasks = KubernetesMetadata.daemonPool();
    startMetadata(cluster.clientUnderTest(tasks), tasks);

    await("pod attributes", () -> "orders-0".equals(attr(resolve(900), "k8s.pod.name")));
    await("retried", () -> metadata.problems().failures() >= 3);
    assertThat(metadata.peers().nameOf(InetAddress.ofLiteral("10.96.12.7"))).isNull();
    assertThat(logs.at(Level.WARNING)).containsExactly("kubernetes: forbidden to read services (RBAC): the agent's"
        + " service account needs list, watch on services (core API group); until then peers stay IP addresses");

    // Granted later: picked up at the next retry, without a restart.
    cluster.permit("/api/v1/services");
    await("service named", () -> "orders.shop".equals(metadata.peers().nameOf(InetAddress.ofLiteral("10.96.12.7"))));
    await("recovery said", () -> logs.at(Level.INFO).contains("kubernetes: services: reachable again"));
  }

  @Test
  void forbiddenReplicaSetsStopTheWalkAtTheReplicaSet() {
    cluster = MockCluster.start();
    cluster.put(ClusterObjects.deployment(NS, "orders"));
    cluster.put(ClusterObjects.replicaSet(NS, "orders-7d4b9c", "orders"));
    cluster.forbid("/apis/apps/v1/namespaces/shop/replicasets");
    String id = containerId("orders");
    String podUid = cluster.put(withContainer(pod(NS, "orders-7d4b9c-x2x7q", uid("orders"), NODE)
            .editMetadata().withOwnerReferences(controller("apps/v1", "ReplicaSet", "orders-7d4b9c")).endMetadata(),
        "orders", "orders:1", "containerd://" + id).build()).getMetadata().getUid();
    proc.inContainer(950, 9500, podUid, id, "/app/orders");
    ExecutorService tasks = KubernetesMetadata.daemonPool();
    startMetadata(cluster.clientUnderTest(tasks), tasks);

    await("pod attributes", () -> "orders-7d4b9c-x2x7q".equals(attr(resolve(950), "k8s.pod.name")));
    Resource resource = resolve(950);
    assertThat(attr(resource, "k8s.replicaset.name")).isEqualTo("orders-7d4b9c");
    assertThat(attr(resource, "k8s.deployment.name")).isNull();
    assertThat(attr(resource, "service.name")).isEqualTo("orders-7d4b9c");
    assertThat(logs.at(Level.WARNING)).containsExactly("kubernetes: forbidden to read replicasets (RBAC): the"
        + " agent's service account needs get on replicasets (API group apps); until then k8s.deployment.name is left out");
  }
}
