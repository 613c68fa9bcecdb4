package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * curl --http2 and nghttp -u -> nghttpx (h2c via {@code Upgrade: h2c}) -> python http.server,
 * traced from the kernel on nghttpx's frontend port only. The upgraded request is sent as HTTP/1.1
 * and answered on HTTP/2 stream 1: it is one CLIENT and one SERVER span, version "2", linked; later
 * requests on the connection are plain HTTP/2 streams.
 */
@Tag("kernel")
class Http2UpgradeTest {
  private static final int PORT = 19_040;
  /** python http.server behind nghttpx; not traced, so only the frontend connection is seen. */
  private static final int BACKEND_PORT = 19_041;
  private static final String BASE = "http://127.0.0.1:" + PORT;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess backend;
  private static PeerProcess nghttpx;

  @BeforeAll
  static void start() throws Exception {
    Path site = Files.createDirectories(tmp.resolve("site"));
    Files.writeString(site.resolve("a.txt"), "first file\n");
    Files.writeString(site.resolve("b.txt"), "second file\n");
    backend = PeerProcess.server(site, BACKEND_PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(BACKEND_PORT));
    tracing = TracingAgent.tracingPorts(PORT);
    // --conf=/dev/null: not the Debian sample configuration, which adds a frontend and syslog.
    nghttpx = PeerProcess.server(tmp, PORT, "/usr/sbin/nghttpx", "--conf=/dev/null",
        "--frontend=127.0.0.1," + PORT + ";no-tls", "--backend=127.0.0.1," + BACKEND_PORT,
        "--workers=1", "--no-ocsp", "--errorlog-file=" + tmp.resolve("nghttpx-error.log"));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(nghttpx, backend, tracing);
  }

  @Test
  void curlUpgradedRequestIsOneLinkedSpanPair() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--http2", "-o", "/dev/null",
        "-w", "%{http_code} %{http_version}\\n", BASE + "/a.txt");
    assertThat(curl.output().strip()).as("curl upgraded to HTTP/2").isEqualTo("200 2");
    SpanPair request = SpanPair.only(awaitSpans(curl.pid(), 2), curl.pid(), nghttpx.pids());
    Http2SpanAssert.assertGet(request, "/a.txt", 200, PORT, "curl/");
    assertHealthy();
  }

  @Test
  void nghttpUpgradedRequestAndTheStreamAfterItAreLinkedSpanPairs() throws Exception {
    // The first URL goes in the Upgrade request (stream 1), the second on a new stream afterwards.
    PeerProcess.Ran nghttp = PeerProcess.runWithPid(tmp, "/usr/bin/nghttp", "-n", "-s", "-u",
        BASE + "/a.txt", BASE + "/b.txt");
    assertThat(nghttp.output()).as("nghttp's statistics").contains("/a.txt").contains("/b.txt");
    List<SpanPair> requests = SpanPair.all(awaitSpans(nghttp.pid(), 4), nghttp.pid(), nghttpx.pids(), 2);
    for (String path : List.of("/a.txt", "/b.txt")) {
      List<SpanPair> matching = requests.stream()
          .filter(r -> path.equals(r.client().urlPath())).toList();
      assertThat(matching).as("requests for " + path + " in " + requests).hasSize(1);
      Http2SpanAssert.assertGet(matching.getFirst(), path, 200, PORT, "nghttp2/");
    }
    assertThat(requests).extracting(r -> r.server().attributes().get("client.port"))
        .containsOnly(requests.getFirst().server().attributes().get("client.port"));
    assertHealthy();
  }

  private static List<ReceivedSpan> awaitSpans(long client, int count) {
    List<Long> pids = new ArrayList<>(nghttpx.pids());
    pids.add(client);
    return tracing.awaitSpans(pids, count);
  }

  private static void assertHealthy() {
    assertThat(tracing.agent.pipelineStats().http2ParseFailures()).as("HTTP/2 parse failures").isZero();
    tracing.assertNoKernelDrops();
  }
}
