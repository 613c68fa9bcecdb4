package io.periscope.agent.it;

import static io.periscope.metadata.k8s.ClusterObjects.controller;
import static io.periscope.metadata.k8s.ClusterObjects.pod;
import static io.periscope.metadata.k8s.ClusterObjects.withContainer;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.metadata.k8s.ClusterObjects;
import io.periscope.metadata.k8s.KubernetesMetadata;
import io.periscope.metadata.k8s.MockCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Kubernetes node, as far as the agent can tell: real cgroups named as containerd's, a real
 * python server and a real curl moved into them, and their pods, ReplicaSet, Deployment and
 * Service in fabric8's mock API server, which the agent reaches through a kubeconfig. The spans on
 * the OTLP wire must carry each pod's attributes, and the peer names the Service and the pod.
 *
 * <p>The server listens on 127.0.0.3, which plays the Service's cluster IP (on a node the socket
 * sees the cluster IP too: kube-proxy translates below it); the client pod's IP is 127.0.0.2,
 * which curl binds to.
 */
@Tag("kernel")
class KubernetesPodTest {
  private static final int PORT = 19_131;
  private static final int API_PORT = 19_132;
  private static final String NODE = "periscope-kernel-test";
  private static final String NS = "shop";
  private static final String SERVICE_IP = "127.0.0.3";
  private static final String CLIENT_POD_IP = "127.0.0.2";

  @TempDir
  static Path dir;
  private static MockCluster cluster;
  private static TracingAgent tracing;
  private static PeerProcess server;
  private static PodCgroups cgroups;
  private static PodCgroups.Container serverCgroup;
  private static PodCgroups.Container clientCgroup;
  private static String serverContainer;
  private static String clientContainer;
  private static Pod serverPod;
  private static Pod clientPod;

  @BeforeAll
  static void start() throws Exception {
    Files.writeString(dir.resolve("hello.txt"), "hello from a pod\n");
    serverContainer = randomContainerId();
    clientContainer = randomContainerId();
    cluster = MockCluster.start(API_PORT);
    cluster.put(ClusterObjects.deployment(NS, "orders"));
    cluster.put(ClusterObjects.replicaSet(NS, "orders-7d4b9c", "orders"));
    cluster.put(ClusterObjects.service(NS, "orders", SERVICE_IP));
    serverPod = cluster.put(withContainer(pod(NS, "orders-7d4b9c-x2x7q", "", NODE)
            .editMetadata().withOwnerReferences(controller("apps/v1", "ReplicaSet", "orders-7d4b9c")).endMetadata()
            .editStatus().withPodIP("127.0.0.4").endStatus(),
        "orders", "registry.example.com/shop/orders:1.4.2", "containerd://" + serverContainer).build());
    clientPod = cluster.put(withContainer(pod(NS, "frontend-5f6d8-k2j4l", "", NODE)
            .editMetadata().addToLabels("app.kubernetes.io/name", "frontend").endMetadata()
            .editStatus().withPodIP(CLIENT_POD_IP).endStatus(),
        "web", "registry.example.com/shop/frontend:2.0", "containerd://" + clientContainer).build());

    // The agent first: where the kernel cannot run the test, it says why (KernelSupport).
    tracing = TracingAgent.start(Map.of("NODE_NAME", NODE,
        "KUBECONFIG", cluster.writeKubeconfig(dir).toString()), "--port", Integer.toString(PORT));
    cgroups = PodCgroups.create();
    serverCgroup = cgroups.container(serverPod.getMetadata().getUid(), serverContainer);
    clientCgroup = cgroups.container(clientPod.getMetadata().getUid(), clientContainer);
    server = PeerProcess.serverOn(dir, SERVICE_IP, PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind",
        SERVICE_IP, Integer.toString(PORT));
    serverCgroup.move(server.pid());
    assertThat(Files.readString(Path.of("/proc/" + server.pid() + "/cgroup")))
        .contains("0::" + serverCgroup.path() + "\n");

    // Spans are enriched once the pods are listed and the ReplicaSet's owner is known: wait for that,
    // through the same resolver the pipeline uses, rather than retry requests until a span has it.
    KubernetesMetadata kubernetes = tracing.agent.metadata().kubernetes();
    assertThat(kubernetes).as("Kubernetes mode: " + tracing.agent.metadata().mode()).isNotNull();
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (tracing.agent.metadata().resources().resolve((int) server.pid(), "python3")
        .getAttribute(AttributeKey.stringKey("k8s.deployment.name")) == null || !kubernetes.servicesListed()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the agent did not learn the server's pod in 20 s: " + tracing.agent.metadata().mode());
      }
      Thread.sleep(50);
    }
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      PeerProcess.closeAll(server, tracing, cluster);
    } finally {
      // Whatever failed above, the machine keeps no cgroup of ours.
      PeerProcess.closeAll(cgroups);
    }
  }

  @Test
  void spansOfProcessesInPodsCarryTheirPodsAndTheirPeersNames() throws Exception {
    // The client joins its pod's cgroup before it execs, so its very first syscall is in the pod. It
    // stays a second after its request, as a service would, so that the agent reads its cgroup.
    String client = "import http.client, time\n"
        + "c = http.client.HTTPConnection('" + SERVICE_IP + "', " + PORT + ", source_address=('" + CLIENT_POD_IP + "', 0))\n"
        + "c.request('GET', '/hello.txt'); c.getresponse().read(); time.sleep(1)\n";
    String output = PeerProcess.run(dir, "/bin/sh", "-c", "echo $$ > " + clientCgroup.procs() + " && echo $$ && exec "
        + PeerProcess.PYTHON + " -c \"" + client + "\"");
    long python = Long.parseLong(output.lines().findFirst().orElseThrow().strip());

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), python), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan serverSpan = only(spans, SpanKind.SPAN_KIND_SERVER);
    ReceivedSpan clientSpan = only(spans, SpanKind.SPAN_KIND_CLIENT);

    assertThat(serverSpan.resourceAttributes()).containsAllEntriesOf(Map.ofEntries(
        Map.entry("k8s.namespace.name", NS),
        Map.entry("k8s.pod.name", "orders-7d4b9c-x2x7q"),
        Map.entry("k8s.pod.uid", serverPod.getMetadata().getUid()),
        Map.entry("k8s.container.name", "orders"),
        Map.entry("k8s.node.name", NODE),
        Map.entry("k8s.replicaset.name", "orders-7d4b9c"),
        Map.entry("k8s.deployment.name", "orders"),
        Map.entry("container.id", serverContainer),
        Map.entry("service.name", "orders"),
        Map.entry("service.namespace", NS),
        Map.entry("service.version", "1.4.2"),
        Map.entry("service.instance.id", NS + ".orders-7d4b9c-x2x7q.orders"),
        Map.entry("process.pid", server.pid()),
        Map.entry("host.name", NODE)));
    assertThat(serverSpan.attributes())
        .containsEntry("client.address", "frontend-5f6d8-k2j4l")
        .containsEntry("network.peer.address", CLIENT_POD_IP)
        .containsEntry("url.path", "/hello.txt");

    assertThat(clientSpan.resourceAttributes()).containsAllEntriesOf(Map.of(
        "k8s.pod.name", "frontend-5f6d8-k2j4l",
        "k8s.container.name", "web",
        "container.id", clientContainer,
        "service.name", "frontend",
        "process.pid", python));
    assertThat(clientSpan.resourceAttributes()).doesNotContainKey("k8s.deployment.name");
    assertThat(clientSpan.attributes())
        .containsEntry("server.address", "orders.shop")
        .containsEntry("network.peer.address", SERVICE_IP)
        .containsEntry("server.port", (long) PORT)
        .containsEntry("url.full", "http://" + SERVICE_IP + ":" + PORT + "/hello.txt");
    // The two ends are still one trace.
    assertThat(serverSpan.parentSpanId()).isEqualTo(clientSpan.spanId());
    assertThat(tracing.agent.metadata().kubernetes().stats().pods()).isEqualTo(2);
    assertThat(tracing.agent.metadata().kubernetes().stats().apiFailures()).isZero();
  }

  @Test
  void aOneShotClientInAPodIsPlacedEvenWhenItIsGoneBeforeItsSpan() throws Exception {
    // curl exits a millisecond after its response, often before the agent reads its cgroup: then
    // its connection's local address, the pod's IP, places it in its pod.
    String output = PeerProcess.run(dir, "/bin/sh", "-c", "echo $$ > " + clientCgroup.procs() + " && echo $$ && exec"
        + " curl -sS -o /dev/null --interface " + CLIENT_POD_IP + " http://" + SERVICE_IP + ":" + PORT + "/hello.txt");
    long curl = Long.parseLong(output.lines().findFirst().orElseThrow().strip());

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), curl), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    assertThat(only(spans, SpanKind.SPAN_KIND_CLIENT).resourceAttributes()).containsAllEntriesOf(Map.of(
        "k8s.pod.name", "frontend-5f6d8-k2j4l",
        "k8s.container.name", "web",
        "container.id", clientContainer,
        "service.name", "frontend",
        "process.pid", curl));
  }

  @Test
  void aProcessOutsideAnyPodKeepsItsProcessResourceAndStillNamesTheService() throws Exception {
    long curl = PeerProcess.runWithPid(dir, "curl", "-sS", "-o", "/dev/null",
        "http://" + SERVICE_IP + ":" + PORT + "/hello.txt").pid();

    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(server.pid(), curl), 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan clientSpan = only(spans, SpanKind.SPAN_KIND_CLIENT);
    assertThat(clientSpan.resourceAttributes())
        .containsEntry("service.name", "curl")
        .containsEntry("k8s.node.name", NODE)
        .doesNotContainKeys("k8s.pod.name", "container.id", "k8s.namespace.name");
    assertThat(clientSpan.attributes()).containsEntry("server.address", "orders.shop");
    // Its address is no pod's: the server span says it as it is.
    assertThat(only(spans, SpanKind.SPAN_KIND_SERVER).attributes()).containsEntry("client.address", "127.0.0.1");
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, SpanKind kind) {
    List<ReceivedSpan> matching = spans.stream().filter(s -> s.kind() == kind).toList();
    assertThat(matching).as(kind + " spans in" + TracingAgent.describe(spans)).hasSize(1);
    return matching.getFirst();
  }

  private static String randomContainerId() {
    byte[] bytes = new byte[32];
    new SecureRandom().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }
}
