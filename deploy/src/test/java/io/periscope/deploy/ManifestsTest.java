package io.periscope.deploy;

import static io.periscope.deploy.Chart.only;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * deploy/kubernetes/ holds the chart rendered with its defaults, for clusters without Helm, plus
 * the namespace Helm would create. To regenerate after changing the chart:
 * {@code mvn -pl deploy -am test -Dtest=ManifestsTest -Dperiscope.writeManifests=true}.
 */
class ManifestsTest {
  static final Path MANIFEST = Path.of("kubernetes", "periscope.yaml");
  static final Path NAMESPACE = Path.of("kubernetes", "namespace.yaml");
  static final String HEADER = """
      # Periscope as plain Kubernetes objects: the Helm chart (deploy/helm/periscope) rendered with its
      # default values, release "periscope" in namespace "periscope". Apply namespace.yaml first:
      #   kubectl apply -f deploy/kubernetes/namespace.yaml -f deploy/kubernetes/periscope.yaml
      # Generated: change the chart, then run
      #   mvn -pl deploy -am test -Dtest=ManifestsTest -Dperiscope.writeManifests=true
      """;

  @Test
  void theManifestsAreTheChartRenderedWithItsDefaults() throws IOException {
    String rendered = HEADER + Chart.render(Map.of());
    if (Boolean.getBoolean("periscope.writeManifests")) {
      Files.writeString(MANIFEST, rendered);
    }
    assertThat(Files.readString(MANIFEST)).as(MANIFEST + " is stale: regenerate it (see " + MANIFEST + "'s header)")
        .isEqualTo(rendered);
  }

  @Test
  void theManifestsParseAndHoldTheSameRulesAsTheChart() throws IOException {
    List<HasMetadata> objects = Chart.parse(Files.readString(MANIFEST));
    Namespace namespace = only(Chart.parse(Files.readString(NAMESPACE)), Namespace.class);
    assertThat(namespace.getMetadata().getName()).isEqualTo(Chart.NAMESPACE);
    objects.stream().filter(o -> !o.getKind().startsWith("Cluster"))
        .forEach(o -> assertThat(o.getMetadata().getNamespace()).as(o.getKind()).isEqualTo(Chart.NAMESPACE));
    PodSpec pod = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
    Container agent = ChartTest.onlyContainer(pod);
    assertThat(agent.getSecurityContext().getPrivileged()).isFalse();
    assertThat(agent.getSecurityContext().getCapabilities().getAdd())
        .containsExactlyInAnyOrderElementsOf(ChartTest.CAPABILITIES);
    assertThat(ChartTest.hostMounts(pod, agent)).containsEntry("/proc", "/host/proc").hasSize(3);
    assertThat(agent.getVolumeMounts()).filteredOn(m -> !m.getMountPath().equals("/tmp"))
        .allSatisfy(m -> assertThat(m.getReadOnly()).as(m.getMountPath()).isTrue());
  }
}
