package io.periscope.metadata.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import io.periscope.metadata.k8s.ClusterAccess.Mode;
import io.periscope.metadata.k8s.ClusterAccess.Source;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterAccessTest {
  @TempDir
  Path dir;

  private static final String KUBECONFIG = """
      apiVersion: v1
      kind: Config
      clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
      users: [{name: u, user: {token: t}}]
      contexts: [{name: x, context: {cluster: c, user: u}}]
      current-context: x
      """;

  private Path token() throws IOException {
    return Files.writeString(dir.resolve("token"), "eyJ...");
  }

  @Test
  void daemonSetPodWithNodeNameUsesItsServiceAccount() throws IOException {
    ClusterAccess access = ClusterAccess.detect(Mode.AUTO,
        Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "KUBERNETES_SERVICE_PORT", "443", "NODE_NAME", "node-a"), token());
    assertThat(access.source()).isEqualTo(Source.IN_CLUSTER);
    assertThat(access.nodeName()).isEqualTo("node-a");
  }

  @Test
  void podWithoutNodeNameIsAMistake() throws IOException {
    Path token = token();
    assertThatIllegalArgumentException()
        .isThrownBy(() -> ClusterAccess.detect(Mode.AUTO, Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1"), token))
        .withMessageContaining("NODE_NAME is not set")
        .withMessageContaining("spec.nodeName")
        .withMessageContaining("--kubernetes off");
    assertThatIllegalArgumentException()
        .isThrownBy(() -> ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", " "), token))
        .withMessageContaining("NODE_NAME is set but empty");
  }

  @Test
  void offNeverReadsKubernetes() throws IOException {
    ClusterAccess access = ClusterAccess.detect(Mode.OFF,
        Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "NODE_NAME", "node-a"), token());
    assertThat(access.source()).isEqualTo(Source.NONE);
    assertThat(access.reason()).isEqualTo("--kubernetes off");
  }

  @Test
  void hostOutsideKubernetesIsProcessMode() {
    ClusterAccess access = ClusterAccess.detect(Mode.AUTO, Map.of("HOME", dir.toString()), dir.resolve("no-token"));
    assertThat(access.source()).isEqualTo(Source.NONE);
    assertThat(access.reason()).isEqualTo("not a Kubernetes node: NODE_NAME is not set");
  }

  @Test
  void kubeconfigAloneDoesNotSayWhichNodeThisIs() throws IOException {
    Files.createDirectories(dir.resolve(".kube"));
    Files.writeString(dir.resolve(".kube/config"), KUBECONFIG);
    ClusterAccess access = ClusterAccess.detect(Mode.AUTO, Map.of("HOME", dir.toString()), dir.resolve("no-token"));
    assertThat(access.source()).isEqualTo(Source.NONE);
  }

  @Test
  void nodeNameWithKubeconfig() throws IOException {
    Path explicit = Files.writeString(dir.resolve("explicit"), KUBECONFIG);
    Files.createDirectories(dir.resolve(".kube"));
    Path home = Files.writeString(dir.resolve(".kube/config"), KUBECONFIG);
    ClusterAccess fromVariable = ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", "n1", "HOME", dir.toString(),
        "KUBECONFIG", dir.resolve("missing") + ":" + explicit, "KUBERNETES_SERVICE_HOST", "10.96.0.1"), token());
    assertThat(fromVariable.source()).isEqualTo(Source.KUBECONFIG);
    assertThat(fromVariable.kubeconfig()).isEqualTo(explicit);

    ClusterAccess fromHome = ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", "n1", "HOME", dir.toString()),
        dir.resolve("no-token"));
    assertThat(fromHome.kubeconfig()).isEqualTo(home);

    assertThatIllegalArgumentException()
        .isThrownBy(() -> ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", "n1", "KUBECONFIG", "/nowhere"),
            dir.resolve("no-token")))
        .withMessage("KUBECONFIG: no such file: /nowhere");

    Path broken = Files.writeString(dir.resolve("broken"), "clusters: [unclosed\n");
    assertThatIllegalArgumentException()
        .isThrownBy(() -> ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", "n1", "KUBECONFIG", broken.toString()),
            dir.resolve("no-token")))
        .withMessageStartingWith("kubeconfig " + broken + " cannot be used: ");
  }

  @Test
  void nodeNameWithoutAnyWayToTheApiServerIsProcessMode() {
    // NODE_NAME means other things elsewhere (a CI agent's name): not a reason to refuse to start.
    ClusterAccess access = ClusterAccess.detect(Mode.AUTO, Map.of("NODE_NAME", "built-in"), dir.resolve("no-token"));
    assertThat(access.source()).isEqualTo(Source.NONE);
    assertThat(access.reason()).startsWith("NODE_NAME is set, but there is no service account token");
  }

  @Test
  void modes() {
    assertThat(Mode.parse("auto")).isEqualTo(Mode.AUTO);
    assertThat(Mode.parse("off")).isEqualTo(Mode.OFF);
    assertThatIllegalArgumentException().isThrownBy(() -> Mode.parse("on")).withMessage("'on' is not auto or off");
  }
}
