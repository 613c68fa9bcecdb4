package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS through OpenSSL, in plaintext from the library's uprobes, with no key: curl -> nginx with
 * {@code ssl} (HTTP/1.1, and HTTP/2 by ALPN), curl -> python's {@code http.server} wrapped in
 * {@code ssl}, python's {@code urllib} -> nginx (all through the system's libssl.so.3), and a
 * client with OpenSSL linked into its executable. Certificates are made
 * here by openssl. Each exchange gives a CLIENT and a SERVER span, linked across the two processes,
 * with {@code url.scheme} https, and nothing of the ciphertext or of a secret header reaches a span.
 */
@Tag("kernel")
class TlsOpenSslTest {
  private static final int NGINX_PORT = 18_441;
  private static final int PYTHON_PORT = 18_442;
  private static final String SECRET = "Bearer tls-secret-token";

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess nginx;
  private static PeerProcess python;

  @BeforeAll
  static void start() throws Exception {
    HttpsExchanges.makeCertificate(tmp);
    Path site = Files.createDirectories(tmp.resolve("site"));
    Files.writeString(site.resolve("hello.txt"), "hello over TLS\n");
    Path conf = tmp.resolve("nginx.conf");
    Files.writeString(conf, """
        daemon off;
        master_process on;
        worker_processes 1;
        user root;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log;
        events {}
        http {
          access_log off;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d ssl http2;
            ssl_certificate %1$s/cert.pem;
            ssl_certificate_key %1$s/key.pem;
            root %1$s/site;
            location = /missing { return 404; }
          }
        }
        """.formatted(tmp, NGINX_PORT));
    Path server = tmp.resolve("https_server.py");
    Files.writeString(server, """
        import http.server, ssl, sys
        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
        httpd = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        print("ready", flush=True)
        httpd.serve_forever()
        """);
    tracing = TracingAgent.tracingPorts(NGINX_PORT, PYTHON_PORT);
    nginx = PeerProcess.server(tmp, NGINX_PORT, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c", conf.toString(),
        "-p", tmp.toString());
    python = PeerProcess.server(site, PYTHON_PORT, PeerProcess.PYTHON, server.toString(),
        Integer.toString(PYTHON_PORT), tmp.resolve("cert.pem").toString(), tmp.resolve("key.pem").toString());
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(python, nginx, tracing);
  }

  @Test
  void curlToNginxOverHttp11() throws Exception {
    PeerProcess.Ran curl = curl("--http1.1", "https://127.0.0.1:" + NGINX_PORT + "/hello.txt");
    assertThat(curl.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(curl.pid(), nginx.pids());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
      assertThat(s.attributes())
          .containsEntry("network.protocol.version", "1.1")
          .containsEntry("http.response.status_code", 200L);
    });
    // The CLIENT span names the whole https URL and not its parts; the SERVER span the parts.
    assertThat(only(spans, SpanKind.SPAN_KIND_CLIENT).attributes())
        .containsEntry("url.full", "https://127.0.0.1:" + NGINX_PORT + "/hello.txt")
        .containsEntry("url.scheme", "https")
        .doesNotContainKeys("url.path", "url.query");
    assertThat(only(spans, SpanKind.SPAN_KIND_SERVER).attributes())
        .containsEntry("url.path", "/hello.txt")
        .containsEntry("url.scheme", "https")
        .doesNotContainKeys("url.full", "url.query");
  }

  @Test
  void curlToNginxOverHttp2ByAlpn() throws Exception {
    PeerProcess.Ran curl = curl("--http2", "https://127.0.0.1:" + NGINX_PORT + "/missing");
    assertThat(curl.output().strip()).isEqualTo("404");
    List<ReceivedSpan> spans = linkedPair(curl.pid(), nginx.pids());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/missing");
      assertThat(s.attributes())
          .containsEntry("network.protocol.version", "2")
          .containsEntry("http.response.status_code", 404L);
    });
    assertThat(only(spans, SpanKind.SPAN_KIND_CLIENT).attributes())
        .containsEntry("url.full", "https://127.0.0.1:" + NGINX_PORT + "/missing")
        .doesNotContainKeys("url.path", "url.query");
  }

  @Test
  void curlToPythonsHttpServerWrappedInSsl() throws Exception {
    PeerProcess.Ran curl = curl("--http1.1", "https://127.0.0.1:" + PYTHON_PORT + "/hello.txt");
    assertThat(curl.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(curl.pid(), List.of(python.pid()));
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
    });
  }

  @Test
  void pythonUrllibToNginx() throws Exception {
    Path client = tmp.resolve("client.py");
    Files.writeString(client, """
        import ssl, sys, urllib.request
        context = ssl.create_default_context(cafile=sys.argv[2])
        context.check_hostname = False
        request = urllib.request.Request(sys.argv[1], headers={"Authorization": sys.argv[3]})
        print(urllib.request.urlopen(request, context=context).status)
        """);
    PeerProcess.Ran urllib = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, client.toString(),
        "https://127.0.0.1:" + NGINX_PORT + "/hello.txt", tmp.resolve("cert.pem").toString(), SECRET);
    assertThat(urllib.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(urllib.pid(), nginx.pids());
    assertThat(spans).allSatisfy(s -> assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt"));
  }

  /**
   * A client with OpenSSL linked into its executable (as some builds of node, haproxy or envoy
   * are): the agent finds SSL_write in the executable's symbols and probes the executable itself.
   * It is probed once a scan has seen the process (every 2 s), so the client waits before its call.
   */
  @Test
  void clientWithOpenSslLinkedIntoTheExecutable() throws Exception {
    Path source = Path.of(TlsOpenSslTest.class.getResource("static_tls_client.c").toURI());
    Path client = tmp.resolve("static_tls_client");
    PeerProcess.run(tmp, "cc", "-O1", "-o", client.toString(), source.toString(), "-Wl,-Bstatic", "-lssl", "-lcrypto",
        "-Wl,-Bdynamic", "-ldl", "-lpthread");
    assertThat(PeerProcess.run(tmp, "ldd", client.toString())).doesNotContain("libssl");
    PeerProcess.Ran call = PeerProcess.runWithPid(tmp, client.toString(), Integer.toString(NGINX_PORT), "/hello.txt",
        "4");
    assertThat(call.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(call.pid(), nginx.pids());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello.txt");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
    });
    assertThat(tracing.agent.tlsLibraries()).anySatisfy(file -> assertThat(file).endsWith("/static_tls_client"));
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).findFirst().orElseThrow();
  }

  private static PeerProcess.Ran curl(String version, String url) throws Exception {
    return PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-k", version, "-H", "Authorization: " + SECRET,
        "-o", "/dev/null", "-w", "%{http_code}\\n", url);
  }

  private static List<ReceivedSpan> linkedPair(long clientPid, List<Long> serverPids) {
    return HttpsExchanges.linkedPair(tracing, clientPid, serverPids, "tls-secret-token");
  }
}
