package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.ClusterObjects.containerId;
import static io.periscope.metadata.k8s.ClusterObjects.controller;
import static io.periscope.metadata.k8s.ClusterObjects.ownedBy;
import static io.periscope.metadata.k8s.ClusterObjects.pod;
import static io.periscope.metadata.k8s.ClusterObjects.uid;
import static io.periscope.metadata.k8s.ClusterObjects.withContainer;
import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.metadata.ProcessResources;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kubernetes side end to end against fabric8's mock API server in CRUD mode: pods, owners and
 * Services written through the API, processes in a proc filesystem of the test's making, and the
 * resources and peer names the pipeline would put on spans.
 */
class KubernetesMetadataTest {
  static final String NODE = "node-a";
  static final String NS = "shop";

  @TempDir
  Path procDir;
  FakeProc proc;
  MockCluster cluster;
  KubernetesMetadata metadata;

  @BeforeEach
  void start() {
    proc = new FakeProc(procDir);
    cluster = MockCluster.start();
  }

  @AfterEach
  void stop() {
    if (metadata != null) {
      metadata.close();
    }
    cluster.close();
  }

  KubernetesMetadata startMetadata() {
    var tasks = KubernetesMetadata.daemonPool();
    ProcessResources processes = ProcessResources.builder().procRoot(procDir).hostName(NODE).build();
    metadata = KubernetesMetadata.start(cluster.clientUnderTest(tasks), tasks, NODE, processes, procDir,
        Attributes.empty());
    return metadata;
  }

  static void await(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  Resource resolve(int pid) {
    return metadata.resources().resolve(pid, "comm");
  }

  static String attr(Resource resource, String key) {
    return resource.getAttribute(AttributeKey.stringKey(key));
  }

  /** Waits until a process's resource has this attribute value. */
  Resource awaitAttribute(int pid, String key, String value) {
    await(key + "=" + value + " on pid " + pid, () -> value.equals(attr(resolve(pid), key)));
    return resolve(pid);
  }

  @Test
  void podOfADeploymentCarriesPodContainerAndWorkload() {
    String id = containerId("orders");
    cluster.put(ClusterObjects.deployment(NS, "orders"));
    cluster.put(ClusterObjects.replicaSet(NS, "orders-7d4b9c", "orders"));
    // The API server gives the pod its UID, as a real one does.
    String podUid = cluster.put(ownedBy(withContainer(pod(NS, "orders-7d4b9c-x2x7q", uid("orders"), NODE), "orders",
        "registry.example.com:5000/shop/orders:1.4.2", "containerd://" + id),
        controller("apps/v1", "ReplicaSet", "orders-7d4b9c"))).getMetadata().getUid();
    proc.inContainer(100, 5000, podUid, id, "/usr/bin/python3", "-m", "http.server");

    startMetadata();
    Resource resource = awaitAttribute(100, "k8s.deployment.name", "orders");

    assertThat(resource.getAttributes().asMap()).containsAllEntriesOf(Map.of(
        AttributeKey.stringKey("k8s.namespace.name"), NS,
        AttributeKey.stringKey("k8s.pod.name"), "orders-7d4b9c-x2x7q",
        AttributeKey.stringKey("k8s.pod.uid"), podUid,
        AttributeKey.stringKey("k8s.container.name"), "orders",
        AttributeKey.stringKey("k8s.node.name"), NODE,
        AttributeKey.stringKey("k8s.replicaset.name"), "orders-7d4b9c",
        AttributeKey.stringKey("container.id"), id,
        AttributeKey.stringKey("service.name"), "orders",
        AttributeKey.stringKey("service.namespace"), NS,
        AttributeKey.stringKey("service.version"), "1.4.2"));
    assertThat(attr(resource, "service.instance.id")).isEqualTo(NS + ".orders-7d4b9c-x2x7q.orders");
    // The process's own attributes stay.
    assertThat(resource.getAttribute(AttributeKey.longKey("process.pid"))).isEqualTo(100L);
    assertThat(attr(resource, "process.executable.name")).isEqualTo("comm");
    assertThat(attr(resource, "host.name")).isEqualTo(NODE);
    // The informer asked the API server for this node's pods only.
    assertThat(cluster.requests()).anyMatch(r -> r.startsWith("/api/v1/pods?") && r.contains("fieldSelector=spec.nodeName=" + NODE));
    // The same process resolves to the same object until something changes: no work per span.
    assertThat(resolve(100)).isSameAs(resource);
  }

  @Test
  void processOutsideAnyPodKeepsItsProcessResourceAndGetsTheNode() {
    proc.process(200, 7000, "0::/system.slice/kubelet.service\n", "/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml");
    startMetadata();
    await("pods listed", metadata::podsListed);

    Resource resource = resolve(200);
    assertThat(attr(resource, "service.name")).isEqualTo("kubelet");
    assertThat(attr(resource, "k8s.node.name")).isEqualTo(NODE);
    assertThat(attr(resource, "k8s.pod.name")).isNull();
    assertThat(attr(resource, "container.id")).isNull();
  }

  @Test
  void peersAreServicesByClusterIpAndThisNodesPodsByPodIp() throws Exception {
    cluster.put(ClusterObjects.service(NS, "orders", "10.96.12.7", "fd00:10:96::c"));
    cluster.put(ClusterObjects.service(NS, "orders-headless", "None"));
    cluster.put(withContainer(pod(NS, "web-0", uid("web-0"), NODE), "web", "nginx", "containerd://" + containerId("web"))
        .editStatus().withPodIP("10.244.1.5").addNewPodIP("10.244.1.5").endStatus().build());
    cluster.put(pod(NS, "remote-0", uid("remote-0"), "node-b").editStatus().withPodIP("10.244.2.9").endStatus().build());
    cluster.put(pod("kube-system", "proxy-node-a", uid("proxy"), NODE).editSpec().withHostNetwork(true).endSpec()
        .editStatus().withPodIP("192.168.1.10").endStatus().build());
    cluster.put(pod(NS, "done-1", uid("done"), NODE).editStatus().withPhase("Succeeded").withPodIP("10.244.1.77")
        .endStatus().build());

    startMetadata();
    await("services listed", metadata::servicesListed);
    await("pods listed", metadata::podsListed);
    var peers = metadata.peers();

    assertThat(peers.nameOf(InetAddress.ofLiteral("10.96.12.7"))).isEqualTo("orders.shop");
    assertThat(peers.nameOf(InetAddress.ofLiteral("fd00:10:96:0:0:0:0:c"))).isEqualTo("orders.shop");
    assertThat(peers.nameOf(InetAddress.ofLiteral("::ffff:10.96.12.7"))).isEqualTo("orders.shop");
    assertThat(peers.nameOf(InetAddress.ofLiteral("10.244.1.5"))).isEqualTo("web-0");
    assertThat(peers.nameOf(InetAddress.ofLiteral("10.244.2.9"))).as("a pod on another node is not held").isNull();
    assertThat(peers.nameOf(InetAddress.ofLiteral("192.168.1.10"))).as("the node's IP, shared by host-network pods").isNull();
    assertThat(peers.nameOf(InetAddress.ofLiteral("10.244.1.77"))).as("an ended pod's IP may be reused").isNull();
    assertThat(peers.nameOf(InetAddress.ofLiteral("10.1.2.3"))).isNull();

    cluster.delete(ClusterObjects.service(NS, "orders"));
    await("service gone", () -> peers.nameOf(InetAddress.ofLiteral("10.96.12.7")) == null);
    assertThat(metadata.serviceAddresses()).isZero();
  }

  /** Puts a pod with one started container on this node and a process in it; returns the pod's UID. */
  String podWithProcess(int pid, io.fabric8.kubernetes.api.model.PodBuilder pod, String container) {
    String id = containerId(pod.buildMetadata().getName() + "/" + container);
    String podUid = cluster.put(withContainer(pod, container, "registry/" + container + ":2.0", "containerd://" + id)
        .build()).getMetadata().getUid();
    proc.inContainer(pid, 1000 + pid, podUid, id, "/app/" + container);
    return podUid;
  }

  @Test
  void ownerWalksReachEveryWorkloadKind() {
    cluster.put(ClusterObjects.statefulSet(NS, "db"));
    cluster.put(ClusterObjects.daemonSet("monitoring", "node-exporter"));
    cluster.put(ClusterObjects.cronJob(NS, "nightly"));
    cluster.put(ClusterObjects.job(NS, "nightly-29001440", "nightly"));
    cluster.put(ClusterObjects.job(NS, "migrate", null));
    podWithProcess(301, pod(NS, "db-0", uid("db-0"), NODE)
        .editMetadata().withOwnerReferences(controller("apps/v1", "StatefulSet", "db")).endMetadata(), "postgres");
    podWithProcess(302, pod("monitoring", "node-exporter-q8t2k", uid("ne"), NODE)
        .editMetadata().withOwnerReferences(controller("apps/v1", "DaemonSet", "node-exporter")).endMetadata(), "exporter");
    podWithProcess(303, pod(NS, "nightly-29001440-abcde", uid("nightly"), NODE)
        .editMetadata().withOwnerReferences(controller("batch/v1", "Job", "nightly-29001440")).endMetadata(), "backup");
    podWithProcess(304, pod(NS, "migrate-xyz12", uid("migrate"), NODE)
        .editMetadata().withOwnerReferences(controller("batch/v1", "Job", "migrate")).endMetadata(), "migrate");
    podWithProcess(305, pod(NS, "debug", uid("debug"), NODE), "shell");
    // A static pod: the kubelet's mirror pod is owned by the Node.
    podWithProcess(306, pod("kube-system", "etcd-" + NODE, uid("etcd"), NODE)
        .editMetadata().withOwnerReferences(controller("v1", "Node", NODE)).endMetadata(), "etcd");
    startMetadata();

    Resource db = awaitAttribute(301, "k8s.statefulset.name", "db");
    assertThat(attr(db, "service.name")).isEqualTo("db");
    Resource exporter = awaitAttribute(302, "k8s.daemonset.name", "node-exporter");
    assertThat(attr(exporter, "service.name")).isEqualTo("node-exporter");
    assertThat(attr(exporter, "k8s.namespace.name")).isEqualTo("monitoring");
    Resource backup = awaitAttribute(303, "k8s.cronjob.name", "nightly");
    assertThat(attr(backup, "k8s.job.name")).isEqualTo("nightly-29001440");
    assertThat(attr(backup, "service.name")).isEqualTo("nightly");
    Resource migrate = awaitAttribute(304, "k8s.job.name", "migrate");
    assertThat(attr(migrate, "k8s.cronjob.name")).isNull();
    assertThat(attr(migrate, "service.name")).isEqualTo("migrate");
    Resource debug = awaitAttribute(305, "k8s.pod.name", "debug");
    assertThat(attr(debug, "service.name")).as("a bare pod is named by its container").isEqualTo("shell");
    Resource etcd = awaitAttribute(306, "k8s.pod.name", "etcd-" + NODE);
    assertThat(attr(etcd, "service.name")).as("a static pod too").isEqualTo("etcd");
    for (Resource r : java.util.List.of(db, exporter, backup, migrate, debug, etcd)) {
      assertThat(attr(r, "k8s.deployment.name")).isNull();
      assertThat(attr(r, "k8s.replicaset.name")).isNull();
    }
    // Only the ReplicaSets and Jobs of this node's pods are read, one GET each.
    assertThat(cluster.requests()).filteredOn(r -> r.contains("/jobs/")).hasSize(2);
    assertThat(metadata.ownersHeld()).isEqualTo(2);
  }

  @Test
  void serviceNameFollowsAnnotationThenLabelsThenWorkload() {
    cluster.put(ClusterObjects.replicaSet(NS, "cart-5f6d", "cart"));
    var cart = pod(NS, "cart-5f6d-abcde", uid("cart"), NODE)
        .editMetadata().withOwnerReferences(controller("apps/v1", "ReplicaSet", "cart-5f6d"))
        .addToLabels("app.kubernetes.io/name", "cart-api").addToLabels("app.kubernetes.io/instance", "cart-blue")
        .addToLabels("app.kubernetes.io/version", "3.1").endMetadata();
    String id = containerId("cart");
    String podUid = cluster.put(withContainer(cart, "api", "registry/cart:2.0@sha256:" + "ab".repeat(32),
        "containerd://" + id).build()).getMetadata().getUid();
    proc.inContainer(400, 4000, podUid, id, "/app/cart");
    startMetadata();

    Resource labelled = awaitAttribute(400, "k8s.deployment.name", "cart");
    assertThat(attr(labelled, "service.name")).isEqualTo("cart-api");
    assertThat(attr(labelled, "service.version")).as("the version label wins over the image").isEqualTo("3.1");

    cart.editMetadata().removeFromLabels("app.kubernetes.io/name").removeFromLabels("app.kubernetes.io/version")
        .endMetadata();
    cluster.put(withContainer(cart, "api", "registry/cart:2.0@sha256:" + "ab".repeat(32), "containerd://" + id).build());
    Resource instance = awaitAttribute(400, "service.name", "cart-blue");
    assertThat(attr(instance, "service.version")).isEqualTo("2.0@sha256:" + "ab".repeat(32));

    cart.editMetadata().removeFromLabels("app.kubernetes.io/instance")
        .addToAnnotations("resource.opentelemetry.io/service.name", "checkout")
        .addToAnnotations("resource.opentelemetry.io/deployment.environment.name", "prod")
        .addToAnnotations("unrelated.example.com/x", "y").endMetadata();
    cluster.put(withContainer(cart, "api", "registry/cart:2.0", "containerd://" + id).build());
    Resource annotated = awaitAttribute(400, "service.name", "checkout");
    assertThat(attr(annotated, "deployment.environment.name")).isEqualTo("prod");
    assertThat(attr(annotated, "x")).isNull();

    cart.editMetadata().removeFromAnnotations("resource.opentelemetry.io/service.name").endMetadata();
    cluster.put(withContainer(cart, "api", "registry/cart:2.0", "containerd://" + id).build());
    assertThat(attr(awaitAttribute(400, "service.name", "cart"), "service.version")).isEqualTo("2.0");
  }

  @Test
  void restartedContainerAndDeletedPod() {
    var web = pod(NS, "web", uid("web"), NODE);
    String first = containerId("web-1");
    String podUid = cluster.put(withContainer(web, "nginx", "nginx:1.27", "containerd://" + first).build())
        .getMetadata().getUid();
    proc.inContainer(500, 5000, podUid, first, "/usr/sbin/nginx");
    startMetadata();
    awaitAttribute(500, "k8s.container.name", "nginx");

    // The container restarted: a new id in the status, a new process in the new container's cgroup.
    String second = containerId("web-2");
    cluster.put(withContainer(pod(NS, "web", uid("web"), NODE), "nginx", "nginx:1.27", "containerd://" + second).build());
    proc.inContainer(501, 5001, podUid, second, "/usr/sbin/nginx");
    awaitAttribute(501, "k8s.container.name", "nginx");
    assertThat(attr(resolve(501), "container.id")).isEqualTo(second);
    // A straggler from the old container is still known by its pod, from its cgroup path.
    Resource old = resolve(500);
    assertThat(attr(old, "k8s.pod.name")).isEqualTo("web");
    assertThat(attr(old, "k8s.container.name")).isNull();
    assertThat(attr(old, "container.id")).isEqualTo(first);

    cluster.delete(pod(NS, "web", podUid, NODE).build());
    await("pod deleted", () -> attr(resolve(501), "k8s.pod.name") == null);
    Resource after = resolve(501);
    assertThat(attr(after, "container.id")).isEqualTo(second);
    assertThat(attr(after, "k8s.node.name")).isEqualTo(NODE);
    assertThat(attr(after, "service.name")).as("the process's own name again").isEqualTo("nginx");
    assertThat(metadata.podsHeld()).isZero();
  }

  @Test
  void processesThatExitOrWhosePidIsReusedAreForgotten() {
    String podUid = podWithProcess(600, pod(NS, "a", uid("a"), NODE), "a");
    proc.process(601, 6001, "0::/system.slice/cron.service\n", "/usr/sbin/cron");
    startMetadata();
    awaitAttribute(600, "k8s.pod.name", "a");
    resolve(601);
    assertThat(metadata.processes().size()).isEqualTo(2);

    proc.exit(600);
    // Pid 601 now belongs to a new process, in a container.
    String id = containerId("a/a");
    proc.inContainer(601, 9999, podUid, id, "/app/a");
    metadata.processes().sweep();
    assertThat(metadata.processes().size()).isZero();
    assertThat(metadata.processes().evictedExited()).isEqualTo(2);
    assertThat(attr(resolve(601), "k8s.pod.name")).isEqualTo("a");
  }

  @Test
  void processGoneBeforeItWasReadIsPlacedByItsPodIp() {
    String id = containerId("job");
    cluster.put(withContainer(pod(NS, "report-x1", uid("report"), NODE), "report", "report:3", "containerd://" + id)
        .editStatus().withPodIP("10.244.1.9").endStatus().build());
    startMetadata();
    await("pods listed", metadata::podsListed);

    // Pid 990 has no /proc entry: it exited before its first span was made.
    InetAddress podIp = InetAddress.ofLiteral("10.244.1.9");
    await("placed by IP", () -> "report-x1".equals(attr(metadata.resources().resolve(990, "curl", podIp), "k8s.pod.name")));
    Resource resource = metadata.resources().resolve(990, "curl", podIp);
    assertThat(attr(resource, "k8s.container.name")).as("the pod's only container").isEqualTo("report");
    assertThat(attr(resource, "container.id")).isEqualTo(id);
    assertThat(attr(resource, "service.name")).isEqualTo("report");
    assertThat(attr(metadata.resources().resolve(991, "curl", InetAddress.ofLiteral("127.0.0.1")), "k8s.pod.name")).isNull();
  }
}
