package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS stacks that keep OpenSSL away from the socket (memory BIOs): the program does the socket I/O
 * itself, so no syscall happens inside SSL_read or SSL_write. Python's asyncio (server and client)
 * and grpcio (gRPC's C core, BIO pairs; all four call shapes and an error status) hand OpenSSL what
 * they read with BIO_write; node (its own OpenSSL, linked into the executable) reads the socket
 * straight into its BIO's memory, and is found by the ciphertext it writes. Each exchange is one
 * CLIENT and one SERVER span, linked across processes.
 */
@Tag("kernel")
class TlsMemoryBioTest {
  private static final int ASYNCIO_PORT = 18_445;
  private static final int GRPC_PORT = 18_446;
  private static final int NODE_PORT = 18_449;
  private static final String NODE = "/usr/bin/node";
  private static final String SECRET = "Bearer memory-bio-secret";
  private static final String SERVICE = "demo.Echo";

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess asyncioServer;
  private static PeerProcess grpcServer;
  private static PeerProcess nodeServer;
  private static Path node;
  private static Path asyncio;
  private static Path grpc;
  private static String grpcTls;

  @BeforeAll
  static void start() throws Exception {
    HttpsExchanges.makeCertificate(tmp);
    asyncio = Path.of(TlsMemoryBioTest.class.getResource("asyncio_https.py").toURI());
    grpc = Path.of(TlsMemoryBioTest.class.getResource("grpc_echo.py").toURI());
    grpcTls = "GRPC_ECHO_TLS=" + tmp.resolve("cert.pem") + ":" + tmp.resolve("key.pem");
    node = Path.of(TlsMemoryBioTest.class.getResource("node_https.js").toURI());
    tracing = TracingAgent.tracingPorts(ASYNCIO_PORT, GRPC_PORT, NODE_PORT);
    asyncioServer = PeerProcess.server(tmp, ASYNCIO_PORT, PeerProcess.PYTHON, asyncio.toString(), "server",
        Integer.toString(ASYNCIO_PORT), tmp.resolve("cert.pem").toString(), tmp.resolve("key.pem").toString());
    grpcServer = PeerProcess.server(tmp, GRPC_PORT, "/usr/bin/env", grpcTls, PeerProcess.PYTHON, grpc.toString(),
        "server", Integer.toString(GRPC_PORT));
    nodeServer = PeerProcess.server(tmp, NODE_PORT, NODE, node.toString(), "server", Integer.toString(NODE_PORT),
        tmp.resolve("cert.pem").toString(), tmp.resolve("key.pem").toString());
    // node carries its own OpenSSL: its calls are seen once the executable is probed.
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!tracing.agent.tlsLibraries().contains(NODE) && System.nanoTime() < deadline) {
      TracingAgent.sleep(Duration.ofMillis(100));
    }
    assertThat(tracing.agent.tlsLibraries()).contains(NODE);
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(asyncioServer, grpcServer, nodeServer, tracing);
  }

  @Test
  void curlToAnAsyncioServer() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-k", "--http1.1", "-H",
        "Authorization: " + SECRET, "-o", "/dev/null", "-w", "%{http_code}\\n",
        "https://127.0.0.1:" + ASYNCIO_PORT + "/hello");
    assertThat(curl.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(curl.pid(), asyncioServer.pid());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
    });
  }

  @Test
  void asyncioClientToAnAsyncioServer() throws Exception {
    PeerProcess.Ran get = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, asyncio.toString(), "get",
        Integer.toString(ASYNCIO_PORT), "/missing", SECRET);
    assertThat(get.output().strip()).isEqualTo("404");
    List<ReceivedSpan> spans = linkedPair(get.pid(), asyncioServer.pid());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/missing");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 404L);
    });
  }

  @Test
  void curlToANodeServer() throws Exception {
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "-k", "--http1.1", "-H",
        "Authorization: " + SECRET, "-o", "/dev/null", "-w", "%{http_code}\\n",
        "https://127.0.0.1:" + NODE_PORT + "/hello");
    assertThat(curl.output().strip()).isEqualTo("200");
    List<ReceivedSpan> spans = linkedPair(curl.pid(), nodeServer.pid());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/hello");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 200L);
    });
  }

  @Test
  void nodeClientToANodeServer() throws Exception {
    PeerProcess.Ran get = PeerProcess.runWithPid(tmp, NODE, node.toString(), "get", Integer.toString(NODE_PORT),
        "/missing", SECRET);
    assertThat(get.output().strip()).isEqualTo("404");
    List<ReceivedSpan> spans = linkedPair(get.pid(), nodeServer.pid());
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.urlPath()).as(s.toString()).isEqualTo("/missing");
      assertThat(s.attributes()).containsEntry("http.response.status_code", 404L);
    });
  }

  @Test
  void grpcUnaryOverTls() throws Exception {
    assertGrpc(grpcCall("unary", "OK ipv4:127.0.0.1:"), "Unary", 0, null);
  }

  @Test
  void grpcServerStreamingOverTls() throws Exception {
    assertGrpc(grpcCall("server_stream", "OK 5"), "ServerStream", 0, null);
  }

  @Test
  void grpcClientStreamingOverTls() throws Exception {
    assertGrpc(grpcCall("client_stream", "OK 4"), "ClientStream", 0, null);
  }

  @Test
  void grpcBidirectionalStreamingOverTls() throws Exception {
    assertGrpc(grpcCall("bidi", "OK one,two,three"), "Bidi", 0, null);
  }

  @Test
  void grpcNotFoundOverTls() throws Exception {
    assertGrpc(grpcCall("not_found", "NOT_FOUND "), "Lookup", 5, "NOT_FOUND");
  }

  private static SpanPair grpcCall(String name, String expectedOutput) throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, "/usr/bin/env", grpcTls, PeerProcess.PYTHON,
        grpc.toString(), "client", Integer.toString(GRPC_PORT), name);
    assertThat(client.output().strip()).as("what the client printed").startsWith(expectedOutput);
    List<ReceivedSpan> spans = tracing.awaitSpans(List.of(client.pid(), grpcServer.pid()), 2);
    SpanPair pair = SpanPair.only(spans, client.pid(), List.of(grpcServer.pid()));
    tracing.assertNoParseFailuresOrDrops();
    return pair;
  }

  private static void assertGrpc(SpanPair call, String method, @Nullable Integer code, @Nullable String clientError) {
    // The client names the server as its certificate does (grpc.ssl_target_name_override): :authority localhost.
    GrpcSpanAssert.assertCall(call, SERVICE, method, "localhost", GRPC_PORT, code, clientError);
  }

  private static List<ReceivedSpan> linkedPair(long clientPid, long serverPid) {
    return HttpsExchanges.linkedPair(tracing, clientPid, List.of(serverPid), "memory-bio-secret");
  }
}
