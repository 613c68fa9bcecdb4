package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With {@code --stitch-keys}, both ends of a curl -> python request carry the same
 * {@code periscope.stitch_key}: the client's endpoint, as curl itself reports it, and the TCP
 * sequence number of the request's first byte.
 */
@Tag("kernel")
class StitchKeyTest {
  private static final int PORT = 19_350;
  private static final Pattern KEY = Pattern.compile("127\\.0\\.0\\.1:(\\d+)/(\\d+)");

  @TempDir
  static Path tmp;
  private static TracingAgent tracing;
  private static PeerProcess python;

  @BeforeAll
  static void start() throws Exception {
    String script = Path.of(StitchKeyTest.class.getResource("chain_server.py").toURI()).toString();
    tracing = TracingAgent.start("--port", Integer.toString(PORT), "--stitch-keys");
    python = PeerProcess.server(tmp, PORT, PeerProcess.PYTHON, script, Integer.toString(PORT));
  }

  @AfterAll
  static void stop() {
    PeerProcess.closeAll(python, tracing);
  }

  @Test
  void bothEndsOfEachRequestCarryTheClientEndpointAndTheRequestsSequenceNumber() throws Exception {
    String base = "http://127.0.0.1:" + PORT;
    List<String> paths = List.of("/stitch/first", "/stitch/second");
    // Two requests on one keep-alive connection: the second starts as many bytes after the first
    // as curl sent for the first.
    PeerProcess.Ran curl = PeerProcess.runWithPid(tmp, "/usr/bin/curl", "-sS", "--noproxy", "*",
        "-o", "/dev/null", "-o", "/dev/null", "-w", "%{local_ip} %{local_port} %{size_request} %{num_connects}\\n",
        base + paths.get(0), base + paths.get(1));
    List<String[]> transfers = curl.output().lines().map(line -> line.split(" ")).toList();
    assertThat(transfers).as(curl.output()).hasSize(2);
    String localIp = transfers.get(0)[0];
    String localPort = transfers.get(0)[1];
    long firstRequestBytes = Long.parseLong(transfers.get(0)[2]);
    assertThat(localIp).isEqualTo("127.0.0.1");
    assertThat(transfers.get(1)[1]).as("one connection").isEqualTo(localPort);
    assertThat(transfers.get(1)[3]).as("the second request reused the connection").isEqualTo("0");

    List<ReceivedSpan> spans = RequestChain.collect(tracing, List.of(curl.pid(), python.pid()), 4);
    RequestChain chains = RequestChain.of(tracing, spans, paths,
        Hop.of("curl CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(curl.pid())),
        Hop.of("python SERVER", SpanKind.SPAN_KIND_SERVER, List.of(python.pid())));
    chains.assertOneTraceEach();

    long[] sequences = new long[paths.size()];
    for (int i = 0; i < paths.size(); i++) {
      String path = paths.get(i);
      Object clientKey = chains.span(path, 0).attributes().get("periscope.stitch_key");
      Object serverKey = chains.span(path, 1).attributes().get("periscope.stitch_key");
      assertThat(clientKey)
          .as("the CLIENT span's stitch key of " + path + " in" + RequestChain.describe(tracing, spans))
          .isInstanceOf(String.class);
      assertThat(serverKey).as("the SERVER span's stitch key of " + path).isEqualTo(clientKey);
      Matcher key = KEY.matcher((String) clientKey);
      assertThat(key.matches()).as("<client ip>:<client port>/<sequence>: " + clientKey).isTrue();
      assertThat(key.group(1)).as("the client port curl used").isEqualTo(localPort);
      sequences[i] = Long.parseLong(key.group(2));
      assertThat(sequences[i]).as("an unsigned 32-bit TCP sequence number").isBetween(0L, 0xffff_ffffL);
    }
    assertThat(sequences[1]).as("the second request's sequence number: the first's + the first request's "
        + firstRequestBytes + " bytes").isEqualTo((sequences[0] + firstRequestBytes) & 0xffff_ffffL);
    tracing.assertNoKernelDrops();
  }
}
