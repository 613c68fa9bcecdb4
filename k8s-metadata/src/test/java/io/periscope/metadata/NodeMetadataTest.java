package io.periscope.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.metadata.k8s.ClusterAccess;
import io.periscope.metadata.k8s.ClusterObjects;
import io.periscope.metadata.k8s.MockCluster;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both modes as the agent starts them, from a configuration, on this machine's own /proc. */
class NodeMetadataTest {
  private static final int SELF = Math.toIntExact(ProcessHandle.current().pid());

  @TempDir
  Path dir;

  @Test
  void processModeHonoursTheConfiguredAttributes() {
    MetadataConfig config = new MetadataConfig(Path.of("/proc"), ClusterAccess.none("not a Kubernetes node"),
        Map.of("deployment.environment.name", "staging"), "edge");
    try (NodeMetadata metadata = NodeMetadata.start(config)) {
      Resource resource = metadata.resources().resolve(SELF, "java");
      assertThat(resource.getAttribute(AttributeKey.stringKey("deployment.environment.name"))).isEqualTo("staging");
      assertThat(resource.getAttribute(AttributeKey.stringKey("service.name"))).isEqualTo("edge");
      assertThat(metadata.mode()).isEqualTo("process attributes (not a Kubernetes node)");
      assertThat(metadata.kubernetes()).isNull();
      assertThat(metadata.peers().nameOf(InetAddress.getLoopbackAddress())).isNull();
    }
  }

  @Test
  void kubernetesModeThroughAKubeconfig() throws Exception {
    try (MockCluster cluster = MockCluster.start()) {
      cluster.put(ClusterObjects.service("shop", "orders", "10.96.0.42"));
      Path kubeconfig = cluster.writeKubeconfig(dir);
      ClusterAccess access = ClusterAccess.detect(ClusterAccess.Mode.AUTO,
          Map.of("NODE_NAME", "node-a", "KUBECONFIG", kubeconfig.toString()));
      MetadataConfig config = new MetadataConfig(Path.of("/proc"), access, Map.of("k8s.cluster.name", "test"), null);
      try (NodeMetadata metadata = NodeMetadata.start(config)) {
        assertThat(metadata.mode()).isEqualTo("Kubernetes, node node-a, API " + cluster.url() + "/ (kubeconfig "
            + kubeconfig + ")");
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!metadata.kubernetes().servicesListed() && System.nanoTime() < deadline) {
          Thread.sleep(20);
        }
        assertThat(metadata.peers().nameOf(InetAddress.ofLiteral("10.96.0.42"))).isEqualTo("orders.shop");
        // This JVM is in no pod: its process resource, the node, and what was configured.
        Resource resource = metadata.resources().resolve(SELF, "java");
        assertThat(resource.getAttribute(AttributeKey.stringKey("k8s.node.name"))).isEqualTo("node-a");
        assertThat(resource.getAttribute(AttributeKey.stringKey("host.name"))).isEqualTo("node-a");
        assertThat(resource.getAttribute(AttributeKey.stringKey("k8s.cluster.name"))).isEqualTo("test");
        assertThat(resource.getAttribute(AttributeKey.longKey("process.pid"))).isEqualTo(SELF);
      }
    }
  }
}
