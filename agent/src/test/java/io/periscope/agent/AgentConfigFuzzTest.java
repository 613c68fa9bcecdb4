package io.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.periscope.agent.testing.FuzzInput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Coverage-guided fuzzing of what configures the agent from outside: the YAML file and
 * {@code OTEL_RESOURCE_ATTRIBUTES}. A mistake must be a {@link AgentConfig.ConfigException}, which
 * the launcher reports in one line and exits 2 on; anything else thrown is a crash with a stack trace.
 */
class AgentConfigFuzzTest {
  /** The variables every run sets: the health address is set here so that a file's never makes a DNS lookup. */
  private static final Map<String, String> ENV = Map.of("PERISCOPE_HEALTH_ADDRESS", "127.0.0.1:9464");
  private static final Path FILE = file();

  @FuzzTest
  void configFile(byte[] raw) throws IOException {
    Files.write(FILE, FuzzInput.of(raw).data());
    try {
      AgentConfig config = AgentConfig.parse(List.of("--config", FILE.toString()), ENV);
      assertThat(config.captureBytes()).isBetween(1, io.periscope.bpf.SocketEvent.MAX_CAPTURE);
      assertThat(config.samplingRatio()).isBetween(0.0, 1.0);
      assertThat(config.ports()).allMatch(port -> port >= 1 && port <= 65535);
    } catch (AgentConfig.ConfigException e) {
      assertThat(e.getMessage()).as("a mistake names the file").contains(FILE.toString());
    }
  }

  /** Parsed, the attributes encode back to a value that parses to the same attributes. */
  @FuzzTest
  void resourceAttributes(byte[] raw) {
    String value = new String(FuzzInput.of(raw).data(), StandardCharsets.UTF_8);
    Map<String, String> attributes;
    try {
      attributes = AgentConfig.parse(List.of(), Map.of("OTEL_RESOURCE_ATTRIBUTES", value)).metadata()
          .resourceAttributes();
    } catch (AgentConfig.ConfigException e) {
      assertThat(e.getMessage()).startsWith("OTEL_RESOURCE_ATTRIBUTES: ");
      return;
    }
    String encoded = attributes.entrySet().stream()
        .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8).replace("+", "%20"))
        .collect(Collectors.joining(","));
    if (attributes.keySet().stream().noneMatch(k -> k.contains(",") || k.contains("="))) {
      assertThat(AgentConfig.parse(List.of(), Map.of("OTEL_RESOURCE_ATTRIBUTES", encoded)).metadata()
          .resourceAttributes()).isEqualTo(attributes);
    }
    assertThat(attributes.keySet()).allMatch(k -> !k.isBlank() && k.equals(k.strip()));
  }

  private static Path file() {
    try {
      Path file = Files.createTempFile("periscope-fuzz", ".yaml");
      file.toFile().deleteOnExit();
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
