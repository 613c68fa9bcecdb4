package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
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
 * curl -> nginx (reverse proxy, one process) -> {@code python3 -m http.server}, none of which sends a
 * {@code traceparent}: each request is one trace of four spans, curl CLIENT -> nginx SERVER ->
 * nginx CLIENT -> python SERVER, linked between processes by the client endpoint and TCP sequence
 * number, and inside nginx by the thread serving the request.
 */
@Tag("kernel")
class ProxyChainTest {
  private static final int NGINX_PORT = 19_300;
  private static final int PYTHON_PORT = 19_301;
  private static final String BASE = "http://127.0.0.1:" + NGINX_PORT;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess python;
  private static PeerProcess nginx;

  @BeforeAll
  static void start() throws Exception {
    Path site = Files.createDirectories(tmp.resolve("site"));
    for (String name : List.of("one", "two", "three", "four", "five", "six")) {
      Files.writeString(site.resolve(name + ".txt"), "file " + name + "\n");
    }
    Path conf = tmp.resolve("nginx.conf");
    // No master: the one nginx process both accepts and proxies, on one thread.
    Files.writeString(conf, """
        daemon off;
        master_process off;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log;
        events {}
        http {
          access_log off;
          keepalive_timeout 30;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d;
            location / { proxy_pass http://127.0.0.1:%3$d; }
          }
        }
        """.formatted(tmp, NGINX_PORT, PYTHON_PORT));
    tracing = TracingAgent.tracingPorts(NGINX_PORT, PYTHON_PORT);
    python = PeerProcess.server(site, PYTHON_PORT, PeerProcess.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
        Integer.toString(PYTHON_PORT));
    nginx = PeerProcess.server(tmp, NGINX_PORT, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c", conf.toString(),
        "-p", tmp.toString());
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(nginx, python, tracing);
  }

  @Test
  void sequentialRequestsOnOneKeepAliveConnectionAreOneFourSpanTraceEach() throws Exception {
    List<String> paths = List.of("/one.txt", "/two.txt", "/three.txt");
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--noproxy", "*",
        "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n",
        BASE + paths.get(0), BASE + paths.get(1), BASE + paths.get(2));
    assertThat(curl.output().lines().toList()).containsExactly("200 1", "200 0", "200 0");

    assertFourSpanTraces(paths, List.of(curl.pid()));
  }

  @Test
  void requestsOfSeparateCurlProcessesAreOneFourSpanTraceEach() throws Exception {
    List<String> paths = List.of("/four.txt", "/five.txt", "/six.txt");
    List<Long> curls = new ArrayList<>();
    for (String path : paths) {
      PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--noproxy", "*",
          "-o", "/dev/null", "-w", "%{http_code}\\n", BASE + path);
      assertThat(curl.output().strip()).isEqualTo("200");
      curls.add(curl.pid());
    }

    assertFourSpanTraces(paths, curls);
  }

  private static void assertFourSpanTraces(List<String> paths, List<Long> curls) {
    List<Long> pids = new ArrayList<>(curls);
    pids.addAll(nginx.pids());
    pids.add(python.pid());
    List<ReceivedSpan> spans = RequestChain.collect(tracing, pids, 4 * paths.size());

    RequestChain chains = RequestChain.of(tracing, spans, paths,
        Hop.of("curl CLIENT", SpanKind.SPAN_KIND_CLIENT, curls),
        Hop.of("nginx SERVER", SpanKind.SPAN_KIND_SERVER, nginx.pids()),
        Hop.of("nginx CLIENT", SpanKind.SPAN_KIND_CLIENT, nginx.pids()),
        Hop.of("python SERVER", SpanKind.SPAN_KIND_SERVER, List.of(python.pid())));
    chains.assertOneTraceEach();
    for (String path : paths) {
      ReceivedSpan nginxServer = chains.span(path, 1);
      ReceivedSpan nginxClient = chains.span(path, 2);
      // Inside nginx: its call upstream is the child of the request it proxies, not of another.
      assertThat(nginxClient.parentSpanId()).as(path).isEqualTo(nginxServer.spanId());
      assertThat(nginxServer.attributes())
          .containsEntry("url.path", path)
          .containsEntry("server.port", (long) NGINX_PORT);
      // A CLIENT span names the whole URL: nginx asks for its upstream by proxy_pass's host and port.
      assertThat(nginxClient.urlPath()).as(path).isEqualTo(path);
      assertThat(nginxClient.attributes())
          .containsEntry("url.full", "http://127.0.0.1:" + PYTHON_PORT + path)
          .containsEntry("network.peer.port", (long) PYTHON_PORT);
      assertThat(chains.span(path, 0).attributes()).containsEntry("url.full", BASE + path);
      assertThat(chains.span(path, 3).attributes()).containsEntry("http.response.status_code", 200L);
    }
    tracing.assertNoKernelDrops();
  }
}
