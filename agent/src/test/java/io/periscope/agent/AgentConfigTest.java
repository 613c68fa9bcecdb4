package io.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.periscope.exporter.ExporterConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AgentConfigTest {
  private static final Path REFERENCE = Path.of("..", "docs", "configuration.md");

  @TempDir
  Path dir;

  @Test
  void theReferenceFileWithEveryKeyRoundTrips() throws IOException {
    Matcher yaml = Pattern.compile("## A file with every key.*?```yaml\n(.*?)```", Pattern.DOTALL)
        .matcher(Files.readString(REFERENCE));
    assertThat(yaml.find()).as("the example file in " + REFERENCE).isTrue();
    AgentConfig c = parse(file(yaml.group(1)));

    ExporterConfig e = c.exporter();
    assertThat(e.endpoint()).isEqualTo(URI.create("http://otel-collector.observability:4318"));
    assertThat(e.protocol()).isEqualTo(ExporterConfig.Protocol.GRPC);
    assertThat(e.headers()).containsExactly(Map.entry("x-api-key", "s3cr3t+key"), Map.entry("x-team", "platform"));
    assertThat(e.timeout()).isEqualTo(Duration.ofMillis(5000));
    assertThat(c.pids()).containsExactlyInAnyOrder(4242, 4343);
    assertThat(c.processes()).containsExactlyInAnyOrder("nginx", "python3");
    assertThat(c.ports()).containsExactlyInAnyOrder(80, 8080);
    assertThat(c.captureBytes()).isEqualTo(4096);
    assertThat(c.ringBufferBytes()).isEqualTo(16 << 20);
    assertThat(c.queryValues()).isTrue();
    assertThat(c.linkWindowNanos()).isEqualTo(250_000_000L);
    assertThat(c.sdkServerSpans()).isTrue();
    assertThat(c.stitchKeys()).isTrue();
    assertThat(c.injectTraceparent()).isTrue();
    assertThat(c.injectDespiteFionread()).isTrue();
    assertThat(c.samplingRatio()).isEqualTo(0.25);
    assertThat(c.healthAddress()).isEqualTo(new InetSocketAddress("127.0.0.1", 9464));
    assertThat(c.logFormat()).isEqualTo(AgentConfig.LogFormat.JSON);
    assertThat(c.metadata().cluster().source()).isEqualTo(io.periscope.metadata.k8s.ClusterAccess.Source.NONE);
    assertThat(c.metadata().procRoot()).isEqualTo(Path.of("/proc/self/root/proc"));

    // Every key is in the example, so nothing above was left at its default by accident.
    for (Setting s : Setting.values()) {
      String[] parts = s.key.split("\\.");
      assertThat(yaml.group(1)).as(s.key).containsPattern("(?m)^" + parts[0] + ":\n(  .*\n)*  " + parts[1] + ":");
    }
  }

  @Test
  void theReferenceTableAndTheUsageNameEverySetting() throws IOException {
    String reference = Files.readString(REFERENCE);
    for (Setting s : Setting.values()) {
      assertThat(reference).as("row of " + s.key).containsPattern(
          "(?m)^\\| `" + Pattern.quote(s.key) + "` \\| `" + Pattern.quote(s.variable) + "`.*\\| "
              + (s.flag == null ? "\\(none" : "`" + Pattern.quote(s.flag) + "`"));
      if (s.flag != null) {
        assertThat(AgentConfig.USAGE).as("usage of " + s.flag).contains("  " + s.flag + " ");
      }
    }
  }

  @Test
  void everyVariableSetsItsSetting() {
    Map<String, String> env = Map.ofEntries(
        Map.entry("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        Map.entry("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        Map.entry("OTEL_EXPORTER_OTLP_HEADERS", "a=b"),
        Map.entry("OTEL_EXPORTER_OTLP_TIMEOUT", "1234"),
        Map.entry("PERISCOPE_PIDS", "7,8"),
        Map.entry("PERISCOPE_PROCESSES", "nginx"),
        Map.entry("PERISCOPE_PORTS", "81"),
        Map.entry("PERISCOPE_CAPTURE_BYTES", "100"),
        Map.entry("PERISCOPE_RING_BUFFER_MB", "2"),
        Map.entry("PERISCOPE_CAPTURE_VARIANT", "compat"),
        Map.entry("PERISCOPE_QUERY_VALUES", "true"),
        Map.entry("PERISCOPE_LINK_WINDOW_MS", "0"),
        Map.entry("PERISCOPE_SDK_SERVER_SPANS", "true"),
        Map.entry("PERISCOPE_STITCH_KEYS", "true"),
        Map.entry("PERISCOPE_INJECT_TRACEPARENT", "true"),
        Map.entry("PERISCOPE_INJECT_DESPITE_FIONREAD", "true"),
        Map.entry("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        Map.entry("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        Map.entry("PERISCOPE_HEALTH_ADDRESS", "127.0.0.1:19299"),
        Map.entry("PERISCOPE_LOG_FORMAT", "json"),
        Map.entry("PERISCOPE_KUBERNETES", "off"),
        Map.entry("PERISCOPE_PROC_ROOT", "/proc/self/root/proc"));
    Set<String> used = new java.util.HashSet<>(env.keySet());
    used.remove("OTEL_TRACES_SAMPLER_ARG");
    for (Setting s : Setting.values()) {
      assertThat(used).as("the test sets " + s.variable).contains(s.variable);
    }
    AgentConfig c = AgentConfig.parse(List.of(), env);
    assertThat(c.exporter().endpoint()).isEqualTo(URI.create("http://c:4318"));
    assertThat(c.exporter().protocol()).isEqualTo(ExporterConfig.Protocol.GRPC);
    assertThat(c.exporter().headers()).containsExactly(Map.entry("a", "b"));
    assertThat(c.exporter().timeout()).isEqualTo(Duration.ofMillis(1234));
    assertThat(c.pids()).containsExactlyInAnyOrder(7, 8);
    assertThat(c.processes()).containsExactly("nginx");
    assertThat(c.ports()).containsExactly(81);
    assertThat(c.captureBytes()).isEqualTo(100);
    assertThat(c.ringBufferBytes()).isEqualTo(2 << 20);
    assertThat(c.captureVariant()).isEqualTo(io.periscope.bpf.CaptureVariant.COMPAT);
    assertThat(c.queryValues()).isTrue();
    assertThat(c.linkWindowNanos()).isZero();
    assertThat(c.sdkServerSpans()).isTrue();
    assertThat(c.stitchKeys()).isTrue();
    assertThat(c.injectTraceparent()).isTrue();
    assertThat(c.injectDespiteFionread()).isTrue();
    assertThat(c.samplingRatio()).isEqualTo(0.5);
    assertThat(c.healthAddress()).isEqualTo(new InetSocketAddress("127.0.0.1", 19299));
    assertThat(c.logFormat()).isEqualTo(AgentConfig.LogFormat.JSON);
    assertThat(c.metadata().cluster().source()).isEqualTo(io.periscope.metadata.k8s.ClusterAccess.Source.NONE);
    assertThat(c.metadata().procRoot()).isEqualTo(Path.of("/proc/self/root/proc"));
  }

  @Test
  void defaultsWhenNothingIsGiven() {
    AgentConfig c = AgentConfig.parse(List.of(), Map.of());
    assertThat(c.exporter().endpoint()).isNull();
    assertThat(c.samplingRatio()).isEqualTo(1.0);
    assertThat(c.healthAddress()).isNull();
    assertThat(c.logFormat()).isEqualTo(AgentConfig.LogFormat.TEXT);
    assertThat(c.ports()).isEmpty();
  }

  @Test
  void flagsBeatVariablesWhichBeatTheFile() throws IOException {
    Path file = file("""
        capture:
          bytes: 1000
          ring_buffer_mb: 2
          query_values: true
        filters:
          ports: [1, 2]
        export:
          endpoint: http://from-file:4318
          protocol: grpc
        """);
    Map<String, String> env = Map.of("PERISCOPE_CAPTURE_BYTES", "2000", "PERISCOPE_PORTS", "3",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318", "PERISCOPE_QUERY_VALUES", "false");

    AgentConfig fileAndEnv = AgentConfig.parse(List.of("--config", file.toString()), env);
    assertThat(fileAndEnv.captureBytes()).isEqualTo(2000);
    assertThat(fileAndEnv.ringBufferBytes()).as("only in the file").isEqualTo(2 << 20);
    assertThat(fileAndEnv.ports()).as("a list is replaced, not added to").containsExactly(3);
    assertThat(fileAndEnv.queryValues()).isFalse();
    assertThat(fileAndEnv.exporter().endpoint()).as("grpc: used as-is").isEqualTo(URI.create("http://from-env:4318"));
    assertThat(fileAndEnv.exporter().protocol()).isEqualTo(ExporterConfig.Protocol.GRPC);

    AgentConfig all = AgentConfig.parse(List.of("--config", file.toString(), "--capture-bytes", "3000",
        "--port", "4", "--port=5", "--otlp-endpoint", "http://from-flag:4318", "--otlp-protocol", "http/protobuf"), env);
    assertThat(all.captureBytes()).isEqualTo(3000);
    assertThat(all.ports()).containsExactlyInAnyOrder(4, 5);
    assertThat(all.exporter().endpoint()).isEqualTo(URI.create("http://from-flag:4318/v1/traces"));
  }

  @Test
  void theFileCanBeNamedByItsVariableAndTheFlagWins() throws IOException {
    Path a = file("capture:\n  bytes: 11\n");
    Path b = dir.resolve("b.yaml");
    Files.writeString(b, "capture:\n  bytes: 22\n");
    assertThat(AgentConfig.parse(List.of(), Map.of("PERISCOPE_CONFIG", a.toString())).captureBytes()).isEqualTo(11);
    assertThat(AgentConfig.parse(List.of("--config", b.toString()), Map.of("PERISCOPE_CONFIG", a.toString()))
        .captureBytes()).isEqualTo(22);
  }

  @Test
  void aTracesVariableBeatsTheFilesEndpoint() throws IOException {
    Path file = file("export:\n  endpoint: http://from-file:4318\n");
    AgentConfig c = AgentConfig.parse(List.of("--config", file.toString()),
        Map.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom"));
    assertThat(c.exporter().endpoint()).isEqualTo(URI.create("http://traces:4318/custom"));
    AgentConfig fileOnly = AgentConfig.parse(List.of("--config", file.toString()), Map.of());
    assertThat(fileOnly.exporter().endpoint()).isEqualTo(URI.create("http://from-file:4318/v1/traces"));
  }

  @Test
  void anEmptyFileMeansEveryDefault() throws IOException {
    assertThat(parse(file(""))).isEqualTo(AgentConfig.parse(List.of(), Map.of()));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      capture:\\n  byts: 10                 | FILE: unknown key 'capture.byts' (known keys: export.endpoint, export.protocol, export.headers, export.timeout_ms, filters.pids, filters.processes, filters.ports, capture.bytes, capture.ring_buffer_mb, capture.variant, capture.query_values, linking.window_ms, linking.sdk_server_spans, linking.stitch_keys, linking.inject_traceparent, linking.inject_despite_fionread, sampling.ratio, health.address, log.format, metadata.kubernetes, metadata.proc_root)
      capture:\\n  bytes: 0                 | FILE: capture.bytes: '0' is not a byte count from 1 to 8192
      capture:\\n  bytes: lots              | FILE: capture.bytes: 'lots' is not a byte count from 1 to 8192
      capture:\\n  ring_buffer_mb: 3        | FILE: capture.ring_buffer_mb: 3 is not a power of two (1, 2, 4, ... 1024)
      capture:\\n  query_values: yes please | FILE: capture.query_values: 'yes please' is not true or false
      capture:\\n  variant: newest         | FILE: capture.variant: 'newest' is not a capture variant, allowed: auto, full, compat
      capture:\\n  bytes:                   | FILE: capture.bytes has no value
      capture:\\n  bytes: [1, 2]            | FILE: capture.bytes must be a single value, not a list
      capture: 10                           | FILE: capture must be a map of keys, such as capture.bytes
      data: 10                              | FILE: data must be a map of keys, such as capture.bytes ('data' is not a section: export, filters, capture, linking, sampling, health, log, metadata)
      captur:\\n  bytes: 10                 | FILE: unknown key 'captur.bytes' (known keys: export.endpoint, export.protocol, export.headers, export.timeout_ms, filters.pids, filters.processes, filters.ports, capture.bytes, capture.ring_buffer_mb, capture.variant, capture.query_values, linking.window_ms, linking.sdk_server_spans, linking.stitch_keys, linking.inject_traceparent, linking.inject_despite_fionread, sampling.ratio, health.address, log.format, metadata.kubernetes, metadata.proc_root)
      - capture                             | FILE: must be a map of sections (export, filters, capture, linking, sampling, health, log, metadata)
      filters:\\n  ports: [80, 70000]       | FILE: filters.ports: '70000' is not a port (1-65535)
      filters:\\n  ports: []                | FILE: filters.ports is an empty list: leave the key out to mean every one
      filters:\\n  processes: [a-very-long-name-indeed] | FILE: filters.processes: 'a-very-long-name-indeed' is longer than 15 characters; the kernel keeps only the first 15 of a command name (see ps -o comm)
      export:\\n  protocol: http/json       | FILE: export.protocol: unsupported OTLP protocol 'http/json', allowed: grpc, http/protobuf
      export:\\n  endpoint: collector:4318  | FILE: export.endpoint: 'collector:4318' is not an http:// or https:// URL with a host
      export:\\n  timeout_ms: -5            | FILE: export.timeout_ms must be a positive whole number of milliseconds, got '-5'
      export:\\n  headers: token            | FILE: export.headers must be a map of names to values
      sampling:\\n  ratio: 1.5              | FILE: sampling.ratio: '1.5' is not a ratio from 0 to 1 (such as 0.25)
      health:\\n  address: 9464             | FILE: health.address: '9464' is not a HOST:PORT address to listen on, such as 0.0.0.0:9464 or 127.0.0.1:9464
      health:\\n  address: nowhere.invalid:9464 | FILE: health.address: host 'nowhere.invalid' is not an address of this machine (a HOST:PORT address to listen on, such as 0.0.0.0:9464 or 127.0.0.1:9464)
      log:\\n  format: xml                  | FILE: log.format: 'xml' is not a log format, allowed: text, json
      metadata:\\n  kubernetes: maybe         | FILE: metadata.kubernetes: 'maybe' is not auto or off
      capture:\\n  bytes: 1\\n  bytes: 2    | FILE: not valid YAML: found duplicate key bytes (line 3, column 3)
      'capture: [unclosed'                  | FILE: not valid YAML:
      """)
  void aBadFileIsRefusedNamingTheKeyAndWhatItAllows(String yaml, String message) throws IOException {
    Path file = file(yaml.replace("\\n", "\n"));
    String expected = message.replace("FILE", file.toString());
    if (expected.endsWith("not valid YAML:")) {
      assertThatThrownBy(() -> parse(file)).isInstanceOf(AgentConfig.ConfigException.class).hasMessageStartingWith(expected);
    } else {
      assertThatThrownBy(() -> parse(file)).isInstanceOf(AgentConfig.ConfigException.class).hasMessage(expected);
    }
  }

  @Test
  void aMissingFileIsRefused() {
    assertThatThrownBy(() -> AgentConfig.parse(List.of("--config", dir.resolve("nope.yaml").toString()), Map.of()))
        .hasMessage(dir.resolve("nope.yaml") + ": no such file (--config)");
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource(delimiter = '|', textBlock = """
      PERISCOPE_CAPTURE_BYTES  | 9000     | PERISCOPE_CAPTURE_BYTES: '9000' is not a byte count from 1 to 8192
      PERISCOPE_LOG_FORMAT     | xml      | PERISCOPE_LOG_FORMAT: 'xml' is not a log format, allowed: text, json
      PERISCOPE_QUERY_VALUES   | 1        | PERISCOPE_QUERY_VALUES: '1' is not true or false
      OTEL_TRACES_SAMPLER      | always_on | OTEL_TRACES_SAMPLER: 'always_on' is not supported, allowed: parentbased_always_on, parentbased_always_off, parentbased_traceidratio (with OTEL_TRACES_SAMPLER_ARG); Periscope's sampling is always parent-based
      OTEL_EXPORTER_OTLP_PROTOCOL | bogus | OTEL_EXPORTER_OTLP_PROTOCOL: unsupported OTLP protocol 'bogus', allowed: grpc, http/protobuf
      """)
  void aBadVariableIsRefusedByName(String variable, String value, String message) {
    assertThatThrownBy(() -> AgentConfig.parse(List.of(), Map.of(variable, value))).hasMessage(message);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      --sampling-ratio=2       | --sampling-ratio: '2' is not a ratio from 0 to 1 (such as 0.25)
      --health-address=:0      | --health-address: '0' is not a port (1-65535) in a HOST:PORT address to listen on, such as 0.0.0.0:9464 or 127.0.0.1:9464
      --otlp-timeout-ms=0      | --otlp-timeout-ms must be a positive whole number of milliseconds, got '0'
      --log-format             | --log-format needs a value (see --help)
      --verbose                | unknown option '--verbose' (see --help)
      """)
  void aBadFlagIsRefusedByName(String flag, String message) {
    assertThatThrownBy(() -> AgentConfig.parse(List.of(flag), Map.of())).hasMessage(message);
  }

  @Test
  void theSamplerVariablesMapToARatio() {
    assertThat(AgentConfig.parse(List.of(), Map.of("OTEL_TRACES_SAMPLER", "parentbased_always_off")).samplingRatio())
        .isZero();
    assertThat(AgentConfig.parse(List.of(), Map.of("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")).samplingRatio())
        .as("the specification's default argument").isEqualTo(1.0);
    assertThat(AgentConfig.parse(List.of("--sampling-ratio", "0.1"),
        Map.of("OTEL_TRACES_SAMPLER", "parentbased_always_off")).samplingRatio()).isEqualTo(0.1);
    assertThatThrownBy(() -> AgentConfig.parse(List.of(),
        Map.of("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "half")))
        .hasMessage("OTEL_TRACES_SAMPLER_ARG: 'half' is not a ratio from 0 to 1 (such as 0.25)");
  }

  @Test
  void headersFromTheFileKeepCharactersThatNeedEncoding() throws IOException {
    AgentConfig c = parse(file("export:\n  headers:\n    authorization: \"Bearer a+b/c=,d e%\"\n"));
    assertThat(c.exporter().headers()).containsExactly(Map.entry("authorization", "Bearer a+b/c=,d e%"));
  }

  private AgentConfig parse(Path file) {
    List<String> args = new ArrayList<>(List.of("--config", file.toString()));
    return AgentConfig.parse(args, Map.of());
  }

  private Path file(String yaml) throws IOException {
    Path file = Files.createTempFile(dir, "periscope", ".yaml");
    Files.writeString(file, yaml);
    return file;
  }
}
