package io.periscope.deploy;

import static io.periscope.deploy.Chart.only;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.periscope.agent.AgentConfig;
import io.periscope.agent.health.HealthServer;
import io.periscope.exporter.ExporterConfig;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * The chart renders and lints with Helm, and what it renders is what the agent needs and no more:
 * no privileged container by default, exactly the capabilities the agent uses, read-only host
 * mounts, read-only RBAC on what the metadata module reads, probes on the endpoints the agent
 * serves, and a configuration file the agent itself accepts.
 */
class ChartTest {
  /** The capabilities the agent needs (README, "Capabilities"); DistributionIT runs it with exactly these. */
  static final List<String> CAPABILITIES = List.of("BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH");
  /**
   * What the Kubernetes metadata module reads ("group/resource" to verbs): informers on pods and
   * services, one get of a pod's ReplicaSet or Job (README, "Kubernetes").
   */
  static final Map<String, Set<String>> READS = Map.of(
      "/pods", Set.of("list", "watch"),
      "/services", Set.of("list", "watch"),
      "apps/replicasets", Set.of("get"),
      "batch/jobs", Set.of("get"));
  private static final Path EVERY_VALUE = Path.of("src", "test", "resources", "every-value.yaml");

  @TempDir
  Path dir;

  @Test
  void lintsCleanWithDefaultsAndWithEveryValueSet() {
    LintResult defaults = new Helm(Chart.DIRECTORY).lint().strict().call();
    assertThat(defaults.isFailed()).as(String.join("\n", defaults.getMessages())).isFalse();
    // helm-java's lint takes no values file; the full render below fails on any template error.
    assertThat(Chart.parse(Chart.render(t -> t.withValuesFile(EVERY_VALUE)))).isNotEmpty();
  }

  @Test
  void defaultsGrantExactlyTheCapabilitiesTheAgentUsesAndNoPrivilege() {
    List<HasMetadata> objects = Chart.parse(Chart.render(Map.of()));
    assertThat(objects.stream().map(HasMetadata::getKind)).containsExactlyInAnyOrder(
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet");
    DaemonSet ds = only(objects, DaemonSet.class);
    PodSpec pod = ds.getSpec().getTemplate().getSpec();
    Container agent = onlyContainer(pod);

    assertThat(pod.getHostPID()).isTrue();
    assertThat(pod.getHostNetwork()).as("the agent needs no host network").isNotEqualTo(Boolean.TRUE);
    var security = agent.getSecurityContext();
    assertThat(security.getPrivileged()).isFalse();
    assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(security.getCapabilities().getAdd()).containsExactlyInAnyOrderElementsOf(CAPABILITIES);
    assertThat(security.getRunAsNonRoot()).isTrue();
    assertThat(security.getRunAsUser()).isEqualTo(65532L);
    // File capabilities on the image's java binary are how a non-root agent gets its capabilities;
    // no_new_privs (allowPrivilegeEscalation: false) would make the kernel ignore them.
    assertThat(security.getAllowPrivilegeEscalation()).isTrue();
    assertThat(security.getReadOnlyRootFilesystem()).isTrue();

    assertThat(hostMounts(pod, agent)).containsExactlyInAnyOrderEntriesOf(Map.of(
        "/sys/fs/cgroup", "/sys/fs/cgroup",
        "/sys/kernel/tracing", "/sys/kernel/tracing",
        "/proc", "/host/proc"));
    for (VolumeMount mount : agent.getVolumeMounts()) {
      Volume volume = volume(pod, mount.getName());
      if (volume.getHostPath() != null) {
        assertThat(mount.getReadOnly()).as("host path " + volume.getHostPath().getPath() + " read-only").isTrue();
      }
    }

    EnvVar node = agent.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst().orElseThrow();
    assertThat(node.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
    assertThat(agent.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(agent.getResources().getLimits()).containsKey("memory");
    assertThat(pod.getTolerations()).anySatisfy(t -> {
      assertThat(t.getOperator()).isEqualTo("Exists");
      assertThat(t.getKey()).isNull();
    });
    assertThat(pod.getServiceAccountName()).isEqualTo(only(objects, ServiceAccount.class).getMetadata().getName());
    assertThat(agent.getImage()).isEqualTo("ghcr.io/periscope/periscope:0.1.0");
  }

  @Test
  void probesPointAtTheEndpointsTheAgentServesOnThePortItIsConfiguredFor() throws IOException {
    for (Map<String, Object> values : List.<Map<String, Object>>of(Map.of(), Map.of("health.port", 19_999))) {
      List<HasMetadata> objects = Chart.parse(Chart.render(values));
      Container agent = onlyContainer(only(objects, DaemonSet.class).getSpec().getTemplate().getSpec());
      AgentConfig config = agentConfig(objects);
      assertThat(config.healthAddress()).isNotNull();
      int port = config.healthAddress().getPort();
      assertThat(agent.getPorts()).singleElement().satisfies(p -> {
        assertThat(p.getName()).isEqualTo("health");
        assertThat(p.getContainerPort()).isEqualTo(port);
      });
      assertThat(config.healthAddress().getAddress().isAnyLocalAddress()).as("reachable by the kubelet").isTrue();
      assertProbe(agent.getLivenessProbe(), HealthServer.LIVENESS);
      assertProbe(agent.getReadinessProbe(), HealthServer.READINESS);
      assertProbe(agent.getStartupProbe(), HealthServer.LIVENESS);
      assertThat(only(objects, DaemonSet.class).getSpec().getTemplate().getMetadata().getAnnotations())
          .containsEntry("prometheus.io/port", Integer.toString(port))
          .containsEntry("prometheus.io/path", HealthServer.METRICS);
    }
  }

  @Test
  void rbacOnlyReadsWhatTheMetadataModuleReads() {
    List<HasMetadata> objects = Chart.parse(Chart.render(Map.of()));
    ClusterRole role = only(objects, ClusterRole.class);
    Map<String, Set<String>> granted = new java.util.HashMap<>();
    for (PolicyRule rule : role.getRules()) {
      assertThat(rule.getVerbs()).as("verbs of " + rule.getResources()).isSubsetOf("get", "list", "watch");
      assertThat(rule.getNonResourceURLs()).isNullOrEmpty();
      assertThat(rule.getResourceNames()).isNullOrEmpty();
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          granted.computeIfAbsent(group + "/" + resource, g -> new TreeSet<>()).addAll(rule.getVerbs());
        }
      }
    }
    assertThat(granted).isEqualTo(READS);
    ClusterRoleBinding binding = only(objects, ClusterRoleBinding.class);
    assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
    assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
      assertThat(s.getKind()).isEqualTo("ServiceAccount");
      assertThat(s.getName()).isEqualTo(only(objects, ServiceAccount.class).getMetadata().getName());
      assertThat(s.getNamespace()).isEqualTo(Chart.NAMESPACE);
    });
  }

  @Test
  void theDefaultConfigurationIsAcceptedByTheAgent() throws IOException {
    AgentConfig config = agentConfig(Chart.parse(Chart.render(Map.of())));
    assertThat(config.exporter().endpoint()).as("no endpoint: traces go to the log").isNull();
    assertThat(config.logFormat()).isEqualTo(AgentConfig.LogFormat.JSON);
    assertThat(config.samplingRatio()).isEqualTo(1.0);
    assertThat(config.ports()).isEmpty();
  }

  @Test
  void everyDocumentedValueIsTestedAndShowsInWhatIsRendered() throws IOException {
    Set<String> documented = leafKeys(new Yaml().load(Files.readString(Chart.DIRECTORY.resolve("values.yaml"))), "");
    Set<String> set = leafKeys(new Yaml().load(Files.readString(EVERY_VALUE)), "");
    for (String key : documented) {
      assertThat(set).as("values.yaml's " + key + " is set in " + EVERY_VALUE)
          .anyMatch(k -> k.equals(key) || k.startsWith(key + "."));
    }

    List<HasMetadata> objects = Chart.parse(Chart.render(t -> t.withValuesFile(EVERY_VALUE)));
    assertThat(objects.stream().map(HasMetadata::getKind)).as("rbac.create: false")
        .containsExactlyInAnyOrder("ServiceAccount", "ConfigMap", "DaemonSet");
    DaemonSet ds = only(objects, DaemonSet.class);
    assertThat(ds.getMetadata().getName()).as("fullnameOverride").isEqualTo("node-tracer");
    assertThat(ds.getMetadata().getLabels()).as("nameOverride").containsEntry("app.kubernetes.io/name", "tracer");
    assertThat(ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getStrVal()).isEqualTo("25%");
    var template = ds.getSpec().getTemplate();
    assertThat(template.getMetadata().getLabels()).containsEntry("tier", "observability");
    assertThat(template.getMetadata().getAnnotations()).containsEntry("team", "platform")
        .doesNotContainKey("prometheus.io/scrape");
    PodSpec pod = template.getSpec();
    Container agent = onlyContainer(pod);
    assertThat(agent.getImage()).isEqualTo("registry.example/periscope:9.9.9");
    assertThat(agent.getImagePullPolicy()).isEqualTo("Always");
    assertThat(pod.getImagePullSecrets()).singleElement().satisfies(s -> assertThat(s.getName()).isEqualTo("registry-login"));
    assertThat(pod.getPriorityClassName()).isEqualTo("tracing-critical");
    assertThat(pod.getNodeSelector()).containsEntry("kubernetes.io/os", "linux");
    assertThat(pod.getAffinity().getNodeAffinity()).isNotNull();
    assertThat(pod.getTolerations()).singleElement().satisfies(t -> assertThat(t.getKey()).isEqualTo("dedicated"));
    assertThat(agent.getResources().getLimits().get("memory").toString()).isEqualTo("600Mi");
    assertThat(agent.getResources().getRequests().get("cpu").toString()).isEqualTo("250m");
    assertThat(hostMounts(pod, agent)).containsEntry("/sys/kernel/debug/tracing", "/sys/kernel/tracing");
    ServiceAccount account = only(objects, ServiceAccount.class);
    assertThat(account.getMetadata().getName()).isEqualTo("existing-tracer");
    assertThat(account.getMetadata().getAnnotations()).containsEntry("iam.example/role", "tracer");
    assertThat(pod.getServiceAccountName()).isEqualTo("existing-tracer");

    // sysAdminFallback: CAP_SYS_ADMIN stands in for BPF and PERFMON, as root; injection adds NET_ADMIN.
    var security = agent.getSecurityContext();
    assertThat(security.getCapabilities().getAdd())
        .containsExactlyInAnyOrder("SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "NET_ADMIN");
    assertThat(security.getRunAsUser()).isZero();
    assertThat(security.getPrivileged()).isFalse();

    EnvVar headers = env(agent, "OTEL_EXPORTER_OTLP_HEADERS");
    assertThat(headers.getValueFrom().getSecretKeyRef().getName()).isEqualTo("otlp-auth");
    assertThat(headers.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("otlp-headers");
    assertThat(env(agent, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").getValue()).isEqualTo("http://other:4317");

    AgentConfig config = agentConfig(objects, Map.of("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc"));
    assertThat(config.exporter().endpoint()).isEqualTo(URI.create("http://otel-collector.observability:4317"));
    assertThat(config.exporter().protocol()).isEqualTo(ExporterConfig.Protocol.GRPC);
    assertThat(config.exporter().timeout()).isEqualTo(Duration.ofMillis(3000));
    assertThat(config.exporter().headers()).containsEntry("x-api-key", "abc");
    assertThat(config.processes()).containsExactlyInAnyOrder("nginx", "python3");
    assertThat(config.ports()).containsExactlyInAnyOrder(80, 8080);
    assertThat(config.captureBytes()).isEqualTo(2048);
    assertThat(config.ringBufferBytes()).isEqualTo(32 << 20);
    assertThat(config.queryValues()).isTrue();
    assertThat(config.linkWindowNanos()).isEqualTo(100_000_000L);
    assertThat(config.injectTraceparent()).isTrue();
    assertThat(config.injectDespiteFionread()).isTrue();
    assertThat(config.samplingRatio()).isEqualTo(0.1);
    assertThat(config.healthAddress().getPort()).isEqualTo(9999);
    assertThat(config.logFormat()).isEqualTo(AgentConfig.LogFormat.TEXT);

    // runAsUser applies to the default (non-root) mode; privileged replaces the capability list.
    Container nonRoot = onlyContainer(only(Chart.parse(Chart.render(Map.of("security.runAsUser", 1234))),
        DaemonSet.class).getSpec().getTemplate().getSpec());
    assertThat(nonRoot.getSecurityContext().getRunAsUser()).isEqualTo(1234L);
    Container privileged = onlyContainer(only(Chart.parse(Chart.render(Map.of("security.privileged", true))),
        DaemonSet.class).getSpec().getTemplate().getSpec());
    assertThat(privileged.getSecurityContext().getPrivileged()).isTrue();
    assertThat(privileged.getSecurityContext().getRunAsUser()).isZero();
    List<HasMetadata> noAccount = Chart.parse(Chart.render(Map.of("serviceAccount.create", false,
        "serviceAccount.name", "theirs")));
    assertThat(noAccount.stream().map(HasMetadata::getKind)).doesNotContain("ServiceAccount");
    assertThat(only(noAccount, DaemonSet.class).getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo("theirs");
  }

  @Test
  void valuesTheAgentWouldRefuseFailTheRender() {
    assertThatThrownBy(() -> Chart.render(Map.of("sampling.ratio", 2)))
        .hasMessageContaining("sampling.ratio must be from 0 to 1, got 2");
    assertThatThrownBy(() -> Chart.render(Map.of("otlp.protocol", "http/json")))
        .hasMessageContaining("otlp.protocol must be grpc or http/protobuf, got http/json");
    assertThatThrownBy(() -> Chart.render(Map.of("logFormat", "xml")))
        .hasMessageContaining("logFormat must be text or json, got xml");
  }

  // ---- helpers ----

  static Container onlyContainer(PodSpec pod) {
    assertThat(pod.getContainers()).hasSize(1);
    return pod.getContainers().getFirst();
  }

  /** host path -> where it is mounted in the agent's container. */
  static Map<String, String> hostMounts(PodSpec pod, Container agent) {
    return agent.getVolumeMounts().stream()
        .filter(m -> volume(pod, m.getName()).getHostPath() != null)
        .collect(Collectors.toMap(m -> volume(pod, m.getName()).getHostPath().getPath(), VolumeMount::getMountPath));
  }

  private static Volume volume(PodSpec pod, String name) {
    return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst().orElseThrow();
  }

  private static EnvVar env(Container c, String name) {
    return c.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError("no " + name + " in " + c.getEnv()));
  }

  private static void assertProbe(Probe probe, String path) {
    assertThat(probe).isNotNull();
    assertThat(probe.getHttpGet().getPath()).isEqualTo(path);
    assertThat(probe.getHttpGet().getPort().getStrVal()).isEqualTo("health");
  }

  private AgentConfig agentConfig(List<HasMetadata> objects) throws IOException {
    return agentConfig(objects, Map.of());
  }

  /** The agent's configuration as the pod starts it: the ConfigMap's file, at the path the args name. */
  private AgentConfig agentConfig(List<HasMetadata> objects, Map<String, String> env) throws IOException {
    Container agent = onlyContainer(only(objects, DaemonSet.class).getSpec().getTemplate().getSpec());
    PodSpec pod = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
    assertThat(agent.getArgs()).containsExactly("--config", "/etc/periscope/config.yaml");
    VolumeMount mount = agent.getVolumeMounts().stream().filter(m -> m.getMountPath().equals("/etc/periscope"))
        .findFirst().orElseThrow();
    ConfigMap map = only(objects, ConfigMap.class);
    assertThat(volume(pod, mount.getName()).getConfigMap().getName()).isEqualTo(map.getMetadata().getName());
    Path file = dir.resolve("config-" + System.nanoTime() + ".yaml");
    String config = map.getData().get("config.yaml");
    // The pod sees the host's /proc where the DaemonSet mounts it; this machine has its own at /proc.
    String hostProc = agent.getVolumeMounts().stream().filter(m -> m.getMountPath().equals("/host/proc"))
        .findFirst().orElseThrow().getMountPath();
    assertThat(config).contains("proc_root: " + hostProc);
    Files.writeString(file, config.replace("proc_root: " + hostProc, "proc_root: /proc"));
    List<String> args = new ArrayList<>(agent.getArgs());
    args.set(1, file.toString());
    return AgentConfig.parse(args, env);
  }

  @SuppressWarnings("unchecked")
  private static Set<String> leafKeys(Object node, String prefix) {
    Set<String> keys = new TreeSet<>();
    if (node instanceof Map<?, ?> map && !map.isEmpty()) {
      map.forEach((k, v) -> keys.addAll(leafKeys(v, prefix + k + ".")));
    } else {
      keys.add(prefix.substring(0, prefix.length() - 1));
    }
    return keys;
  }
}
