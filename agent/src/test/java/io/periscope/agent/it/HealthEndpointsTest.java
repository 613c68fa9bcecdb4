package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.Agent;
import io.periscope.agent.health.HealthServer;
import io.periscope.agent.testing.PrometheusScrape;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /healthz, /readyz and /metrics of a running agent on the real kernel: status codes through the
 * agent's life, a scrape that parses as Prometheus reads it, and counters that move when requests
 * are traced, when exports fail, and when the kernel drops events.
 */
@Tag("kernel")
class HealthEndpointsTest {
  private static final int SERVER_PORT = 19_201;
  private static final int HEALTH_PORT = 19_202;
  private static final int BULK_SERVER_PORT = 19_203;
  private static final int BULK_HEALTH_PORT = 19_204;

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @TempDir
  Path site;

  @Test
  void endpointsFollowTheAgentsLifeAndCountersMoveWithTraffic() throws Exception {
    Files.writeString(site.resolve("hello.txt"), "hello\n");
    AtomicReference<Agent> agent = new AtomicReference<>();
    try (HealthServer health = HealthServer.start(new InetSocketAddress("127.0.0.1", HEALTH_PORT), agent::get, "test");
        PeerProcess server = PeerProcess.server(site, SERVER_PORT, PeerProcess.PYTHON, "-m", "http.server",
            "--bind", "127.0.0.1", Integer.toString(SERVER_PORT))) {
      // Before the programs are attached: alive, not ready.
      assertThat(get(HEALTH_PORT, "/healthz")).isEqualTo(new Answer(200, "alive\n"));
      assertThat(get(HEALTH_PORT, "/readyz")).isEqualTo(new Answer(503, "not ready: starting: eBPF programs not attached yet\n"));
      assertThat(scrape(HEALTH_PORT).value("periscope_ready")).isZero();

      try (TracingAgent tracing = TracingAgent.tracingPorts(SERVER_PORT)) {
        agent.set(tracing.agent);
        Answer ready = get(HEALTH_PORT, "/readyz");
        assertThat(ready.status()).as(ready.body()).isEqualTo(200);
        assertThat(ready.body()).matches("ready: \\d+ eBPF programs attached, export: terminal\n");
        PrometheusScrape before = scrape(HEALTH_PORT);
        assertThat(before.value("periscope_ready")).isEqualTo(1);
        assertThat(before.value("periscope_ebpf_programs_attached")).isEqualTo(tracing.agent.programs().size());
        // This machine's libssl and libcrypto, at least; nothing it could not read.
        assertThat(before.value("periscope_tls_files_probed")).isEqualTo(tracing.agent.tlsLibraries().size())
            .isGreaterThanOrEqualTo(2);
        assertThat(before.value("periscope_tls_files_skipped_total")).isZero();
        assertThat(before.type("periscope_export_duration_seconds")).isEqualTo("histogram");

        int requests = 3;
        List<Long> pids = new java.util.ArrayList<>(List.of(server.pid()));
        for (int i = 0; i < requests; i++) {
          pids.add(curl(SERVER_PORT, "/hello.txt"));
        }
        tracing.awaitSpans(pids, 2 * requests);
        tracing.quietPipelineStats(Duration.ofMillis(300));
        PrometheusScrape after = scrape(HEALTH_PORT);
        assertThat(after.value("periscope_exchanges_total") - before.value("periscope_exchanges_total"))
            .isEqualTo(2 * requests);
        assertThat(after.value("periscope_spans_produced_total") - before.value("periscope_spans_produced_total"))
            .isEqualTo(2 * requests);
        assertThat(after.value("periscope_spans_exported_total") - before.value("periscope_spans_exported_total"))
            .isEqualTo(2 * requests);
        assertThat(after.value("periscope_connections_tracked_total")
            - before.value("periscope_connections_tracked_total")).isEqualTo(2 * requests);
        assertThat(after.value("periscope_events_read_total")).isGreaterThan(before.value("periscope_events_read_total"));
        assertThat(after.value("periscope_kernel_events_total")).isGreaterThan(before.value("periscope_kernel_events_total"));
        assertThat(after.value("periscope_export_duration_seconds_count"))
            .isGreaterThan(before.value("periscope_export_duration_seconds_count"));
        assertThat(after.value("periscope_parse_failures_total", "protocol", "http1"))
            .isEqualTo(before.value("periscope_parse_failures_total", "protocol", "http1"));
        assertThat(after.value("periscope_spans_dropped_total", "reason", "export_failed")).isZero();

        // The collector goes away: exports fail, and the spans they carried are counted as lost.
        tracing.receiver.close();
        long curl = curl(SERVER_PORT, "/hello.txt");
        PrometheusScrape failing = awaitScrape(HEALTH_PORT,
            s -> s.value("periscope_export_failures_total") > 0, Duration.ofSeconds(15));
        assertThat(failing.value("periscope_spans_dropped_total", "reason", "export_failed")).isPositive();
        assertThat(curl).isPositive();

        assertThat(get(HEALTH_PORT, "/nothing").status()).isEqualTo(404);
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(uri(HEALTH_PORT, "/metrics"))
            .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
        assertThat(http.send(HttpRequest.newBuilder(uri(HEALTH_PORT, "/metrics")).GET().build(),
            HttpResponse.BodyHandlers.ofString()).headers().firstValue("Content-Type"))
            .hasValue("text/plain; version=0.0.4; charset=utf-8");
      }
      // Closed: stopping on purpose is not "dead", but no longer ready.
      assertThat(get(HEALTH_PORT, "/healthz").status()).isEqualTo(200);
      assertThat(get(HEALTH_PORT, "/readyz")).isEqualTo(new Answer(503, "not ready: stopping\n"));
    }
  }

  @Test
  void eventsTheKernelDropsShowInTheMetrics() throws Exception {
    // A sparse 256 MiB file, served by python in 64 KiB writes: with a 1 MiB ring buffer, the
    // records of one 5 ms poll interval of this transfer do not fit.
    try (RandomAccessFile big = new RandomAccessFile(site.resolve("big.bin").toFile(), "rw")) {
      big.setLength(256L << 20);
    }
    AtomicReference<Agent> agent = new AtomicReference<>();
    try (TracingAgent tracing = TracingAgent.start("--port", Integer.toString(BULK_SERVER_PORT), "--ring-buffer-mb", "1");
        HealthServer health = HealthServer.start(new InetSocketAddress("127.0.0.1", BULK_HEALTH_PORT), agent::get,
            "test");
        PeerProcess server = PeerProcess.server(site, BULK_SERVER_PORT, PeerProcess.PYTHON, "-m", "http.server",
            "--bind", "127.0.0.1", Integer.toString(BULK_SERVER_PORT))) {
      agent.set(tracing.agent);
      assertThat(scrape(BULK_HEALTH_PORT).value("periscope_kernel_events_dropped_total", "reason", "ring_buffer_full"))
          .isZero();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (tracing.agent.captureCounters().ringBufferDrops() == 0) {
        assertThat(System.nanoTime()).as("the kernel dropped no event within 60 s of bulk transfers").isLessThan(deadline);
        curl(BULK_SERVER_PORT, "/big.bin");
      }
      long dropped = tracing.agent.captureCounters().ringBufferDrops();
      PrometheusScrape scrape = scrape(BULK_HEALTH_PORT);
      assertThat(scrape.value("periscope_kernel_events_dropped_total", "reason", "ring_buffer_full"))
          .isGreaterThanOrEqualTo(dropped);
    }
  }

  private record Answer(int status, String body) {}

  private Answer get(int port, String path) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri(port, path)).timeout(Duration.ofSeconds(10)).GET()
        .build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), r.body());
  }

  private PrometheusScrape scrape(int port) throws IOException, InterruptedException {
    Answer a = get(port, "/metrics");
    assertThat(a.status()).isEqualTo(200);
    return PrometheusScrape.parse(a.body());
  }

  private PrometheusScrape awaitScrape(int port, java.util.function.Predicate<PrometheusScrape> until, Duration timeout)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      PrometheusScrape s = scrape(port);
      if (until.test(s)) {
        return s;
      }
      assertThat(System.nanoTime()).as("the metrics did not change within " + timeout + ": " + s.samples())
          .isLessThan(deadline);
      Thread.sleep(200);
    }
  }

  private static URI uri(int port, String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  private long curl(int port, String path) throws Exception {
    return PeerProcess.runWithPid(site, "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1:" + port + path).pid();
  }
}
