package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A server that peeks at a request (recv with MSG_PEEK, as protocol sniffers and some proxies do)
 * before reading it: the peeked bytes are read again, so they must not be captured twice.
 */
@Tag("kernel")
class PeekingServerTest {
  private static final int PORT = 18_521;

  @TempDir
  Path dir;

  @Test
  void peekedBytesAreCapturedOnce() throws Exception {
    Path server = dir.resolve("peek.py");
    Files.writeString(server, """
        import socket
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', %d)); s.listen(8)
        while True:
            c, _ = s.accept()
            c.recv(4096, socket.MSG_PEEK)
            c.recvfrom(4096, socket.MSG_PEEK)
            request = c.recv(4096)
            c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok')
            c.close()
        """.formatted(PORT));
    try (TracingAgent tracing = TracingAgent.tracingPorts(PORT);
        PeerProcess peeker = PeerProcess.server(dir, PORT, PeerProcess.PYTHON, server.toString())) {
      PeerProcess.Ran curl = PeerProcess.runWithPid(dir, "curl", "-sS", "http://127.0.0.1:" + PORT + "/peeked");
      assertThat(curl.output()).isEqualTo("ok");

      List<ReceivedSpan> spans = tracing.awaitSpans(List.of(peeker.pid(), curl.pid()), 2);
      assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
      assertThat(spans).extracting(ReceivedSpan::kind)
          .containsExactlyInAnyOrder(SpanKind.SPAN_KIND_SERVER, SpanKind.SPAN_KIND_CLIENT);
      assertThat(spans).allSatisfy(s -> assertThat(s.urlPath()).as(s.toString()).isEqualTo("/peeked"));
      assertThat(spans).filteredOn(s -> s.kind() == SpanKind.SPAN_KIND_CLIENT).singleElement()
          .satisfies(s -> assertThat(s.attributes())
              .containsEntry("url.full", "http://127.0.0.1:" + PORT + "/peeked"));
      assertThat(tracing.agent.pipelineStats().http1ParseFailures()).isZero();
      assertThat(tracing.agent.pipelineStats().incompleteExchanges()).isZero();
    }
  }
}
