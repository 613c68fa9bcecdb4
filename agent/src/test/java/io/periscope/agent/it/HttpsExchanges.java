package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What every traced HTTPS exchange must give, whichever TLS library carried it. */
final class HttpsExchanges {

  private HttpsExchanges() {}

  /**
   * A self-signed certificate for localhost, made by openssl: {@code cert.pem} and {@code key.pem}
   * in {@code dir}.
   */
  static void makeCertificate(Path dir) throws IOException, InterruptedException {
    PeerProcess.run(dir, "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout",
        dir.resolve("key.pem").toString(), "-out", dir.resolve("cert.pem").toString());
  }

  /**
   * The client's CLIENT span and the server's SERVER span of one GET: https, one trace, the
   * server's span the child of the client's (linked on this node by their plaintext offsets), the
   * server's within the client's in time, and neither they nor the agent's log carrying the secret
   * or ciphertext.
   */
  static List<ReceivedSpan> linkedPair(TracingAgent tracing, long clientPid, List<Long> serverPids, String secret) {
    List<Long> pids = new ArrayList<>(serverPids);
    pids.add(clientPid);
    List<ReceivedSpan> spans = tracing.awaitSpans(pids, 2);
    assertThat(spans).as(TracingAgent.describe(spans)).hasSize(2);
    ReceivedSpan client = spans.stream().filter(s -> s.kind() == SpanKind.SPAN_KIND_CLIENT).findFirst().orElseThrow();
    ReceivedSpan server = spans.stream().filter(s -> s.kind() == SpanKind.SPAN_KIND_SERVER).findFirst().orElseThrow();
    assertThat(TracingAgent.pid(client)).isEqualTo(clientPid);
    assertThat(TracingAgent.pid(server)).isIn(serverPids);
    assertThat(server.traceId()).as(TracingAgent.describe(spans)).isEqualTo(client.traceId());
    assertThat(server.parentSpanId()).isEqualTo(client.spanId());
    assertThat(server.startEpochNanos()).isGreaterThanOrEqualTo(client.startEpochNanos());
    assertThat(server.endEpochNanos()).isLessThanOrEqualTo(client.endEpochNanos() + WriteExitRace.NANOS);
    assertThat(spans).allSatisfy(s -> {
      assertThat(s.name()).isEqualTo("GET");
      assertThat(s.attributes()).containsEntry("url.scheme", "https").containsEntry("http.request.method", "GET");
      assertThat(s.attributes().toString()).doesNotContain(secret);
    });
    tracing.assertLogsKeep(secret);
    tracing.assertNoKernelDrops();
    return spans;
  }
}
