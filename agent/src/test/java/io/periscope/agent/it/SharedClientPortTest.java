package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
import io.periscope.agent.testing.ReceivedSpan;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A traced client whose local port is, or was, the local port of one of the agent's own
 * connections (its OTLP exports; in these tests also the checks that a peer listens) is traced at
 * both ends. The agent must ignore the collector end of its own export connection and nothing
 * else: Linux gives one ephemeral port to several connections at once when their destinations
 * differ, and hands a port, even the same pair of endpoints (TIME_WAIT is reused on loopback), to
 * the next connection once the agent's is gone. In the other kernel tests this happens by chance,
 * as a SERVER span missing now and then; here it is made certain: the client binds the port (with
 * SO_REUSEADDR, as the agent's socket has while open).
 */
@Tag("kernel")
class SharedClientPortTest {
  private static final int PORT = 19_360;
  private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

  /** GET PATH from 127.0.0.1:PORT on a connection from 127.0.0.1:LOCAL_PORT; prints the status line. */
  private static final String CLIENT = """
      import socket, sys
      port, local_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
      s = socket.socket()
      s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      try:
          s.bind(("127.0.0.1", local_port))
      except OSError:
          print("port taken")  # by a connection another process made since: the test tries another
          sys.exit(0)
      s.connect(("127.0.0.1", port))
      s.sendall(("GET %s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n" % path).encode())
      answer = b""
      while True:
          data = s.recv(65536)
          if not data:
              break
          answer += data
      print(answer.split(b"\\r\\n")[0].decode())
      """;

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess python;

  @BeforeAll
  static void start() throws Exception {
    String script = Path.of(SharedClientPortTest.class.getResource("chain_server.py").toURI()).toString();
    tracing = TracingAgent.tracingPorts(PORT);
    python = PeerProcess.server(tmp, PORT, PeerProcess.PYTHON, script, Integer.toString(PORT));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(python, tracing);
  }

  @Test
  void aClientOnTheLocalPortOfAnOpenConnectionOfTheAgentsIsTracedAtBothEnds() throws Exception {
    try (ServerSocket elsewhere = new ServerSocket(0, 1, LOOPBACK);
        Socket agentOwn = new Socket()) {
      // Open while the client runs, as the agent's export connection is; SO_REUSEADDR lets the client bind its port.
      agentOwn.setReuseAddress(true);
      agentOwn.connect(new InetSocketAddress(LOOPBACK, elsewhere.getLocalPort()));
      assertTracedAtBothEnds(agentOwn.getLocalPort(), "/open");
    }
  }

  @Test
  void aClientOnTheLocalPortOfAClosedConnectionOfTheAgentsIsTracedAtBothEnds() throws Exception {
    for (int attempt = 0; ; attempt++) {
      int port;
      try (ServerSocket elsewhere = new ServerSocket(0, 1, LOOPBACK);
          Socket agentOwn = new Socket()) {
        // A port the kernel picked at connect(), as for every connection the agent's process makes
        // (exports, and the tests' checks that a peer listens).
        agentOwn.connect(new InetSocketAddress(LOOPBACK, elsewhere.getLocalPort()));
        port = agentOwn.getLocalPort();
        // Reset, not closed: no TIME_WAIT, so the port is free again at once.
        agentOwn.setSoLinger(true, 0);
      }
      if (assertTracedAtBothEnds(port, "/closed", attempt)) {
        return;
      }
    }
  }

  @Test
  void aClientOnTheVeryEndpointsOfAClosedConnectionOfTheAgentsIsTracedAtBothEnds() throws Exception {
    for (int attempt = 0; ; attempt++) {
      int port;
      try (Socket agentOwn = new Socket()) {
        // As the tests' check that a peer listens does: a connection of the agent's process to the
        // traced server itself. The client below then has the same two endpoints.
        agentOwn.connect(new InetSocketAddress(LOOPBACK, PORT));
        port = agentOwn.getLocalPort();
        agentOwn.setSoLinger(true, 0);
      }
      if (assertTracedAtBothEnds(port, "/same-endpoints", attempt)) {
        return;
      }
    }
  }

  private static void assertTracedAtBothEnds(int localPort, String path) throws Exception {
    assertThat(assertTracedAtBothEnds(localPort, path, 0)).as("the client could bind port " + localPort).isTrue();
  }

  /**
   * False when another process's connection took the freed port before the client could bind it
   * (the machine runs other tests): the caller tries with another port, a few times at most.
   */
  private static boolean assertTracedAtBothEnds(int localPort, String path, int attempt) throws Exception {
    PeerProcess.Ran client = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, "-c", CLIENT, Integer.toString(PORT),
        Integer.toString(localPort), path);
    if (client.output().strip().equals("port taken") && attempt < 4) {
      return false;
    }
    assertThat(client.output().strip()).isEqualTo("HTTP/1.1 200 OK");

    List<ReceivedSpan> spans = RequestChain.collect(tracing, List.of(client.pid(), python.pid()), 2);
    RequestChain chains = RequestChain.of(tracing, spans, List.of(path),
        Hop.of("client CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(client.pid())),
        Hop.of("python SERVER", SpanKind.SPAN_KIND_SERVER, List.of(python.pid())));
    chains.assertOneTraceEach();
    assertThat(chains.span(path, 1).attributes()).containsEntry("client.port", (long) localPort);
    return true;
  }
}
