package io.periscope.metadata;

import static java.util.Objects.requireNonNull;

import io.periscope.metadata.k8s.ClusterAccess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Everything that decides the resource of a span: where the proc filesystem is, whether and how
 * to read Kubernetes metadata, and the attributes the operator configured.
 *
 * @param procRoot           the proc filesystem of the traced processes ({@code /host/proc} in a DaemonSet)
 * @param cluster            Kubernetes mode, or why not
 * @param resourceAttributes {@code OTEL_RESOURCE_ATTRIBUTES}: on every resource, over detected attributes
 * @param serviceName        {@code OTEL_SERVICE_NAME}: the {@code service.name} of every resource, or null
 */
public record MetadataConfig(Path procRoot, ClusterAccess cluster, Map<String, String> resourceAttributes,
    @Nullable String serviceName) {

  public static final Path DEFAULT_PROC_ROOT = ProcessResources.DEFAULT_PROC_ROOT;

  public MetadataConfig {
    requireNonNull(procRoot, "procRoot");
    requireNonNull(cluster, "cluster");
    resourceAttributes = Map.copyOf(resourceAttributes);
  }

  /** Process metadata from {@code /proc}, nothing configured: for tests and tools. */
  public static MetadataConfig processOnly() {
    return new MetadataConfig(DEFAULT_PROC_ROOT, ClusterAccess.none("not asked for"), Map.of(), null);
  }

  /**
   * The configuration from {@code --kubernetes}, {@code --proc-root} and the environment
   * ({@code NODE_NAME}, {@code KUBECONFIG}, {@code KUBERNETES_SERVICE_HOST}, {@code HOME},
   * {@code OTEL_RESOURCE_ATTRIBUTES}, {@code OTEL_SERVICE_NAME}).
   *
   * @throws IllegalArgumentException for a mistake, with a message that names it and says what to fix
   */
  public static MetadataConfig fromEnvironment(ClusterAccess.Mode kubernetes, Path procRoot, Map<String, String> env) {
    if (!Files.isDirectory(procRoot) || !Files.isRegularFile(procRoot.resolve("stat"))) {
      throw new IllegalArgumentException("--proc-root: " + procRoot + " is not a proc filesystem (it has no "
          + procRoot.resolve("stat") + "); in a container, mount the host's /proc, e.g. at /host/proc");
    }
    String attributes = env.get("OTEL_RESOURCE_ATTRIBUTES");
    String serviceName = env.get("OTEL_SERVICE_NAME");
    return new MetadataConfig(procRoot, ClusterAccess.detect(kubernetes, env),
        attributes == null ? Map.of() : ResourceAttributesVariable.parse(attributes),
        serviceName == null || serviceName.isBlank() ? null : serviceName.strip());
  }
}
