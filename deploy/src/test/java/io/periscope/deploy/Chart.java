package io.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/** The Helm chart in deploy/helm/periscope, rendered by Helm itself (helm-java) and parsed by fabric8. */
final class Chart {
  static final Path DIRECTORY = Path.of("helm", "periscope");
  static final String RELEASE = "periscope";
  static final String NAMESPACE = "periscope";
  /** helm template assumes Kubernetes 1.20 without a cluster; the chart needs 1.25 (CAP_BPF, PERFMON in the pod spec). */
  static final String KUBE_VERSION = "1.33.0";
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private Chart() {}

  /** {@code helm template periscope deploy/helm/periscope --namespace periscope}, with these changes. */
  static String render(UnaryOperator<TemplateCommand> values) {
    return values.apply(new Helm(DIRECTORY).template().withName(RELEASE).withNamespace(NAMESPACE)
        .withKubeVersion(KUBE_VERSION)).call();
  }

  static String render(Map<String, Object> set) {
    return render(t -> {
      set.forEach(t::set);
      return t;
    });
  }

  /** Every object of a multi-document YAML stream, typed (DaemonSet, ClusterRole, ...). */
  static List<HasMetadata> parse(String yaml) {
    List<HasMetadata> objects = new ArrayList<>();
    for (String document : yaml.split("(?m)^---\\s*$")) {
      if (document.lines().allMatch(l -> l.isBlank() || l.strip().startsWith("#"))) {
        continue;
      }
      Object parsed = SERIALIZATION.unmarshal(document);
      assertThat(parsed).as("a Kubernetes object:\n" + document).isInstanceOf(HasMetadata.class);
      objects.add((HasMetadata) parsed);
    }
    return objects;
  }

  static <T extends HasMetadata> T only(List<HasMetadata> objects, Class<T> kind) {
    List<T> matching = objects.stream().filter(kind::isInstance).map(kind::cast).toList();
    assertThat(matching).as("one " + kind.getSimpleName()).hasSize(1);
    return matching.getFirst();
  }
}
