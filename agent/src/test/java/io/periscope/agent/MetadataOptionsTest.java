package io.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.periscope.metadata.k8s.ClusterAccess;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --kubernetes, --proc-root and the environment variables that decide a span's resource. */
class MetadataOptionsTest {
  @TempDir
  Path dir;

  @Test
  void defaultsOnAHostOutsideKubernetes() {
    AgentConfig config = AgentConfig.parse(List.of(), Map.of());
    assertThat(config.metadata().procRoot()).isEqualTo(Path.of("/proc"));
    assertThat(config.metadata().cluster().source()).isEqualTo(ClusterAccess.Source.NONE);
    assertThat(config.metadata().resourceAttributes()).isEmpty();
  }

  @Test
  void resourceAttributesAndServiceNameFromTheStandardVariables() {
    AgentConfig config = AgentConfig.parse(List.of(), Map.of(
        "OTEL_RESOURCE_ATTRIBUTES", "k8s.cluster.name=prod-eu,deployment.environment.name=prod",
        "OTEL_SERVICE_NAME", "edge"));
    assertThat(config.metadata().resourceAttributes())
        .containsEntry("k8s.cluster.name", "prod-eu").containsEntry("deployment.environment.name", "prod");
    assertThat(config.metadata().serviceName()).isEqualTo("edge");
  }

  @Test
  void kubernetesWithAKubeconfigAndANodeName() {
    Path kubeconfig = dir.resolve("kubeconfig");
    writeKubeconfig(kubeconfig);
    AgentConfig config = AgentConfig.parse(List.of("--proc-root", "/proc"),
        Map.of("NODE_NAME", "node-a", "KUBECONFIG", kubeconfig.toString()));
    assertThat(config.metadata().cluster().source()).isEqualTo(ClusterAccess.Source.KUBECONFIG);
    assertThat(config.metadata().cluster().nodeName()).isEqualTo("node-a");

    AgentConfig off = AgentConfig.parse(List.of("--kubernetes=off"),
        Map.of("NODE_NAME", "node-a", "KUBECONFIG", kubeconfig.toString()));
    assertThat(off.metadata().cluster().source()).isEqualTo(ClusterAccess.Source.NONE);
  }

  @Test
  void mistakesAreRefusedWithTheOptionAndWhatItAllows() {
    assertThatThrownBy(() -> AgentConfig.parse(List.of("--kubernetes", "yes"), Map.of()))
        .isInstanceOf(AgentConfig.ConfigException.class).hasMessage("--kubernetes: 'yes' is not auto or off");
    assertThatThrownBy(() -> AgentConfig.parse(List.of("--proc-root", dir.toString()), Map.of()))
        .isInstanceOf(AgentConfig.ConfigException.class)
        .hasMessageStartingWith("--proc-root: " + dir + " is not a proc filesystem");
    assertThatThrownBy(() -> AgentConfig.parse(List.of(), Map.of("PERISCOPE_PROC_ROOT", dir.toString())))
        .isInstanceOf(AgentConfig.ConfigException.class)
        .as("the variable it came from, not the flag").hasMessageStartingWith("PERISCOPE_PROC_ROOT: " + dir + " is not");
    assertThatThrownBy(() -> AgentConfig.parse(List.of("--proc-root", "/proc\0"), Map.of()))
        .isInstanceOf(AgentConfig.ConfigException.class).hasMessageStartingWith("--proc-root: '/proc\0' is not a path");
    assertThatThrownBy(() -> AgentConfig.parse(List.of("--proc-root"), Map.of()))
        .isInstanceOf(AgentConfig.ConfigException.class).hasMessage("--proc-root needs a value (see --help)");
    assertThatThrownBy(() -> AgentConfig.parse(List.of(), Map.of("OTEL_RESOURCE_ATTRIBUTES", "team")))
        .isInstanceOf(AgentConfig.ConfigException.class)
        .hasMessageStartingWith("OTEL_RESOURCE_ATTRIBUTES: 'team' is not key=value");
    assertThatThrownBy(() -> AgentConfig.parse(List.of(), Map.of("NODE_NAME", "n", "KUBECONFIG", "/nowhere")))
        .isInstanceOf(AgentConfig.ConfigException.class).hasMessage("KUBECONFIG: no such file: /nowhere");
  }

  @Test
  void helpWorksWhateverTheEnvironment() {
    assertThat(AgentConfig.parse(List.of("--help"), Map.of("OTEL_RESOURCE_ATTRIBUTES", "broken")).help()).isTrue();
    assertThat(AgentConfig.USAGE).contains("--kubernetes MODE", "--proc-root DIR", "OTEL_RESOURCE_ATTRIBUTES");
  }

  private static void writeKubeconfig(Path file) {
    try {
      java.nio.file.Files.writeString(file, """
          apiVersion: v1
          kind: Config
          clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
          users: [{name: u, user: {token: t}}]
          contexts: [{name: x, context: {cluster: c, user: u}}]
          current-context: x
          """);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
