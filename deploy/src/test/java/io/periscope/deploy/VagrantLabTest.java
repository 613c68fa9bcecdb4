package io.periscope.deploy;

import static io.periscope.deploy.Chart.only;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * The Vagrant lab (vagrant/) cannot boot here (no VM provider), so what can be checked without one
 * is: the Vagrantfile validates, the provisioning scripts pass bash -n and shellcheck, the demo's
 * objects parse, and the pieces agree with each other and with the chart (the helm install's values
 * exist and render, the ports the Vagrantfile forwards are the demo's NodePorts, Periscope exports
 * to the Jaeger the demo runs).
 */
class VagrantLabTest {
  static final Path LAB = Path.of("..", "vagrant");
  static final Path LAB_SCRIPT = LAB.resolve("provision/lab.sh");

  @TempDir
  Path dir;

  @Test
  void theVagrantfileValidates() throws Exception {
    // --ignore-provider: the provider blocks need VirtualBox or libvirt installed, which CI has not.
    Result r = run(List.of("vagrant", "validate", "--ignore-provider"), LAB,
        Map.of("VAGRANT_DOTFILE_PATH", dir.resolve("dotfile").toString(), "VAGRANT_HOME", dir.resolve("home").toString(),
            "VAGRANT_CHECKPOINT_DISABLE", "1"));
    assertThat(r.status()).as(r.output()).isZero();
    assertThat(r.output()).contains("Vagrantfile validated successfully.");
  }

  @Test
  void theScriptsPassBashAndShellcheck() throws Exception {
    List<Path> scripts = new ArrayList<>();
    try (Stream<Path> provision = Files.list(LAB.resolve("provision"))) {
      provision.forEach(scripts::add);
    }
    scripts.addAll(List.of(Path.of("dist", "build.sh"), Path.of("dist", "periscope")));
    assertThat(scripts).hasSizeGreaterThanOrEqualTo(5);
    // The Vagrantfile provisions exactly these scripts.
    String vagrantfile = Files.readString(LAB.resolve("Vagrantfile"));
    Set<String> provisioned = Pattern.compile("path: \"(provision/[^\"]+)\"").matcher(vagrantfile).results()
        .map(m -> m.group(1)).collect(java.util.stream.Collectors.toSet());
    try (Stream<Path> provision = Files.list(LAB.resolve("provision"))) {
      assertThat(provisioned).isEqualTo(provision.map(p -> "provision/" + p.getFileName())
          .collect(java.util.stream.Collectors.toSet()));
    }
    for (Path script : scripts) {
      Result syntax = run(List.of("bash", "-n", script.toString()), Path.of("."), Map.of());
      assertThat(syntax.status()).as("bash -n " + script + ": " + syntax.output()).isZero();
      Result lint = run(List.of("shellcheck", "--severity=style", script.toString()), Path.of("."), Map.of());
      assertThat(lint.status()).as("shellcheck " + script + ":\n" + lint.output()).isZero();
      assertThat(Files.isExecutable(script)).as(script + " executable").isTrue();
    }
  }

  @Test
  void theDemoObjectsParseWithPinnedImages() throws IOException {
    for (String file : List.of("jaeger.yaml", "shop.yaml", "periscope-metrics.yaml")) {
      List<HasMetadata> objects = Chart.parse(Files.readString(LAB.resolve("demo").resolve(file)));
      assertThat(objects).as(file).isNotEmpty();
      for (HasMetadata o : objects) {
        if (o instanceof Deployment d) {
          List<Container> containers = new ArrayList<>(d.getSpec().getTemplate().getSpec().getContainers());
          if (d.getSpec().getTemplate().getSpec().getInitContainers() != null) {
            containers.addAll(d.getSpec().getTemplate().getSpec().getInitContainers());
          }
          assertThat(containers).allSatisfy(c -> assertThat(c.getImage()).as(c.getName())
              .matches("[^:]+:[0-9][^:]*").doesNotEndWith(":latest"));
        }
      }
    }
  }

  @Test
  void theLabsHelmInstallRendersAndExportsToTheLabsJaeger() throws Exception {
    String script = Files.readString(LAB_SCRIPT);
    Map<String, Object> sets = new HashMap<>();
    Matcher set = Pattern.compile("--set ([A-Za-z.]+)=(\\S+)").matcher(script);
    while (set.find()) {
      sets.put(set.group(1), set.group(2));
    }
    assertThat(sets).containsKeys("image.repository", "image.tag", "image.pullPolicy", "otlp.endpoint");
    Object values = new Yaml().load(Files.readString(Chart.DIRECTORY.resolve("values.yaml")));
    for (String key : sets.keySet()) {
      Object node = values;
      for (String part : key.split("\\.")) {
        assertThat(node).as(key + " is a value of the chart").isInstanceOf(Map.class);
        Map<?, ?> map = (Map<?, ?>) node;
        assertThat(map.keySet().stream().map(String::valueOf)).as(key + " is a value of the chart").contains(part);
        node = map.get(part);
      }
    }
    List<HasMetadata> objects = Chart.parse(Chart.render(sets));
    DaemonSet ds = only(objects, DaemonSet.class);
    Container agent = ChartTest.onlyContainer(ds.getSpec().getTemplate().getSpec());
    assertThat(agent.getImage()).isEqualTo("periscope:lab");
    assertThat(agent.getImagePullPolicy()).isEqualTo("Never");
    // The image the chart runs is the one image.sh builds and imports.
    assertThat(Files.readString(LAB.resolve("provision/image.sh"))).contains("IMAGE=" + agent.getImage() + "\n");

    // otlp.endpoint names the demo's Jaeger service and its OTLP/HTTP port.
    Matcher endpoint = Pattern.compile("http://([a-z-]+)\\.([a-z-]+):(\\d+)").matcher((String) sets.get("otlp.endpoint"));
    assertThat(endpoint.matches()).isTrue();
    Service jaeger = Chart.parse(Files.readString(LAB.resolve("demo/jaeger.yaml"))).stream()
        .filter(o -> o instanceof Service s && s.getMetadata().getName().equals(endpoint.group(1)))
        .map(Service.class::cast).findFirst().orElseThrow();
    assertThat(jaeger.getMetadata().getNamespace()).isEqualTo(endpoint.group(2));
    assertThat(jaeger.getSpec().getPorts()).anySatisfy(p -> assertThat(p.getPort()).isEqualTo(
        Integer.parseInt(endpoint.group(3))));

    // The metrics Service selects the chart's agents, on the port they serve health on.
    Service metrics = only(Chart.parse(Files.readString(LAB.resolve("demo/periscope-metrics.yaml"))), Service.class);
    assertThat(ds.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(metrics.getSpec().getSelector());
    assertThat(metrics.getSpec().getPorts().getFirst().getTargetPort().getStrVal())
        .isEqualTo(agent.getPorts().getFirst().getName());
  }

  @Test
  void theForwardedPortsAreTheDemosNodePorts() throws IOException {
    Set<Integer> forwarded = Pattern.compile("guest: (\\d+), host:").matcher(Files.readString(LAB.resolve("Vagrantfile")))
        .results().map(m -> Integer.parseInt(m.group(1))).collect(java.util.stream.Collectors.toSet());
    Set<Integer> nodePorts = new java.util.HashSet<>();
    for (String file : List.of("jaeger.yaml", "shop.yaml", "periscope-metrics.yaml")) {
      for (HasMetadata o : Chart.parse(Files.readString(LAB.resolve("demo").resolve(file)))) {
        if (o instanceof Service s && "NodePort".equals(s.getSpec().getType())) {
          s.getSpec().getPorts().forEach(p -> nodePorts.add(p.getNodePort()));
        }
      }
    }
    assertThat(forwarded).isEqualTo(nodePorts);
  }

  private record Result(int status, String output) {}

  private static Result run(List<String> command, Path dir, Map<String, String> env) throws Exception {
    ProcessBuilder b = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
    b.environment().putAll(env);
    Process p = b.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as(String.join(" ", command)).isTrue();
    return new Result(p.exitValue(), out);
  }
}
