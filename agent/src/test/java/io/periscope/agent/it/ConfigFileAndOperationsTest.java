package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.PrometheusScrape;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent as the DaemonSet runs it: {@code --config FILE} with the health endpoints and JSON
 * logs, in its own JVM; and a bad file refused at startup with exit status 2.
 */
@Tag("kernel")
class ConfigFileAndOperationsTest {
  private static final int SERVER_PORT = 19_205;
  private static final int HEALTH_PORT = 19_206;
  private static final String JSON_LINE =
      "\\{\"time\":\"[^\"]+Z\",\"level\":\"(info|warn|error|debug)\",\"logger\":\"[^\"]*\",\"message\":\"(\\\\.|[^\"\\\\])*\"(,\"error\":\"(\\\\.|[^\"\\\\])*\")?}";

  @TempDir
  Path site;

  private final HttpClient http = HttpClient.newHttpClient();

  @Test
  void aConfigFileSetsFiltersHealthAndJsonLogs() throws Exception {
    Files.writeString(site.resolve("hello.txt"), "hello\n");
    Path config = site.resolve("config.yaml");
    Files.writeString(config, """
        filters:
          ports: [%d]
        health:
          address: 127.0.0.1:%d
        log:
          format: json
        """.formatted(SERVER_PORT, HEALTH_PORT));
    try (PeerProcess server = PeerProcess.server(site, SERVER_PORT, PeerProcess.PYTHON, "-m", "http.server",
            "--bind", "127.0.0.1", Integer.toString(SERVER_PORT));
        AgentProcess agent = AgentProcess.start(command("--config", config.toString()),
            Map.of(), site)) {
      awaitReady(agent);
      PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + SERVER_PORT + "/hello.txt");
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      while (PrometheusScrape.parse(get("/metrics").body()).value("periscope_exchanges_total") < 2) {
        assertThat(System.nanoTime()).as("two exchanges traced on the configured port").isLessThan(deadline);
        Thread.sleep(100);
      }

      assertThat(agent.stop(Duration.ofSeconds(10))).as(agent.stderr()).isZero();
      List<String> lines = agent.stderr().lines().toList();
      assertThat(lines).as("every log event is one JSON object on one line").isNotEmpty()
          .allSatisfy(line -> assertThat(line).matches(JSON_LINE));
      assertThat(agent.stderr())
          .containsPattern("\"message\":\"periscope \\S+: tracing HTTP/1.x, HTTP/2 and gRPC on kernel \\S+, \\d+ (of \\d+ )?eBPF programs attached[^;]*;"
              + " kernel: full capture; verifier: at most \\d+ instructions \\(\\w+\\), stack \\d+ of 512 bytes \\(\\w+\\);"
              + " processes: all \\(except this agent\\); ports: \\[" + SERVER_PORT + "]; export: terminal; sampling: 1.0;"
              + " health: http://127.0.0.1:" + HEALTH_PORT + "\"")
          .contains("\"message\":\"stopping: flushing spans and detaching from the kernel\"")
          .containsPattern("\"message\":\"pipeline: \\d+ events, 2 connections");
    }
  }

  @Test
  void aBadConfigFileStopsTheAgentWithStatus2NamingTheKey() throws Exception {
    Path config = site.resolve("bad.yaml");
    Files.writeString(config, "capture:\n  ring_buffer_mb: 3\n");
    try (AgentProcess agent = AgentProcess.start(command("--config", config.toString()),
        Map.of(), site)) {
      assertThat(agent.awaitExit(Duration.ofSeconds(20))).isEqualTo(2);
      assertThat(agent.stderr())
          .isEqualTo("periscope: " + config + ": capture.ring_buffer_mb: 3 is not a power of two (1, 2, 4, ... 1024)\n");
    }
  }

  private void awaitReady(AgentProcess agent) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      try {
        HttpResponse<String> r = get("/readyz");
        if (r.statusCode() == 200) {
          return;
        }
        assertThat(r.statusCode()).isEqualTo(503);
      } catch (java.io.IOException notListeningYet) {
        // the JVM is still starting
      }
      assertThat(System.nanoTime()).as("ready within 30 s; stderr:\n" + agent.stderr()).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  private HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HEALTH_PORT + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static List<String> command(String... args) {
    List<String> command = new ArrayList<>(AgentProcess.javaCommand(System.getProperty("java.class.path")));
    command.addAll(List.of(args));
    return command;
  }
}
