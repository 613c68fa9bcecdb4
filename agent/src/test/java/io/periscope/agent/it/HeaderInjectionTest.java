package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --inject-traceparent} with real peers: curl calls a python service, which calls another
 * on the thread serving the request (as a service on another node would be called). Each service
 * answers with the traceparent it received and the body it got, so the test sees the requests as
 * the applications saw them, and compares them with the same requests made with injection off.
 */
@Tag("kernel")
class HeaderInjectionTest {
  private static final int MIDDLE_PORT = 19_370;
  private static final int DOWNSTREAM_PORT = 19_371;
  private static final String OWN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  private static final Pattern TRACEPARENT = Pattern.compile("\"traceparent\": (null|\"([^\"]*)\")");
  private static final Pattern W3C = Pattern.compile("00-([0-9a-f]{32})-([0-9a-f]{16})-01");

  @TempDir
  Path tmp;

  /** What one curl run printed (the middle service's answer), and curl's pid. */
  record Answer(long pid, String body) {
    /** The traceparents the middle and the downstream service received, in that order (null: none). */
    List<String> traceparents() {
      List<String> seen = new ArrayList<>();
      Matcher m = TRACEPARENT.matcher(body);
      while (m.find()) {
        seen.add(m.group(2));
      }
      return seen;
    }

    /** The answer with the received traceparents left out: what must not change with injection. */
    String withoutTraceparents() {
      return TRACEPARENT.matcher(body).replaceAll("\"traceparent\": _");
    }
  }

  @Test
  void requestsWithoutATraceparentGetTheirClientSpansContextAndNothingElseChanges() throws Exception {
    String script = Path.of(HeaderInjectionTest.class.getResource("echo_server.py").toURI()).toString();
    Answer plainOff;
    Answer ownOff;
    try (TracingAgent off = TracingAgent.start("--port", Integer.toString(MIDDLE_PORT), "--port",
        Integer.toString(DOWNSTREAM_PORT));
        PeerProcess downstream = PeerProcess.server(tmp, DOWNSTREAM_PORT, PeerProcess.PYTHON, script,
            Integer.toString(DOWNSTREAM_PORT));
        PeerProcess middle = PeerProcess.server(tmp, MIDDLE_PORT, PeerProcess.PYTHON, script,
            Integer.toString(MIDDLE_PORT), Integer.toString(DOWNSTREAM_PORT))) {
      plainOff = post("/inject/plain", null);
      ownOff = post("/inject/own", OWN);
    }
    assertThat(plainOff.traceparents()).as(plainOff.body).containsExactly(null, null);

    try (TracingAgent on = TracingAgent.start("--port", Integer.toString(MIDDLE_PORT), "--port",
        Integer.toString(DOWNSTREAM_PORT), "--inject-traceparent", "--inject-despite-fionread");
        PeerProcess downstream = PeerProcess.server(tmp, DOWNSTREAM_PORT, PeerProcess.PYTHON, script,
            Integer.toString(DOWNSTREAM_PORT));
        PeerProcess middle = PeerProcess.server(tmp, MIDDLE_PORT, PeerProcess.PYTHON, script,
            Integer.toString(MIDDLE_PORT), Integer.toString(DOWNSTREAM_PORT))) {
      Answer plain = post("/inject/plain", null);
      Answer own = post("/inject/own", OWN);

      // Bodies, lengths and paths reach both services as with injection off; curl got its 200s.
      assertThat(plain.withoutTraceparents()).isEqualTo(plainOff.withoutTraceparents());
      assertThat(own.withoutTraceparents()).isEqualTo(ownOff.withoutTraceparents());
      assertThat(plain.body).contains("\"body\": \"hello injection\"", "\"content_length\": \"15\"");

      List<Long> pids = List.of(plain.pid, own.pid, middle.pid(), downstream.pid());
      // plain: curl CLIENT, middle SERVER + CLIENT, downstream SERVER; own: curl sent its own
      // header (an SDK's, to Periscope: no CLIENT span), middle SERVER + CLIENT, downstream SERVER.
      List<ReceivedSpan> spans = on.awaitSpans(pids, 7);
      String all = TracingAgent.describe(spans);

      // curl's request arrived with curl's CLIENT span context; the middle's call with its own.
      ReceivedSpan curl = one(spans, plain.pid, SpanKind.SPAN_KIND_CLIENT, all);
      ReceivedSpan middleServer = one(spans, middle.pid(), SpanKind.SPAN_KIND_SERVER, "/inject/plain", all);
      ReceivedSpan middleClient = one(spans, middle.pid(), SpanKind.SPAN_KIND_CLIENT, "/inject/plain", all);
      ReceivedSpan downstreamServer = one(spans, downstream.pid(), SpanKind.SPAN_KIND_SERVER, "/inject/plain", all);
      assertThat(curl.isRoot()).isTrue();
      assertThat(plain.traceparents()).containsExactly(
          "00-" + curl.traceId() + "-" + curl.spanId() + "-01",
          "00-" + curl.traceId() + "-" + middleClient.spanId() + "-01");
      assertThat(middleServer.traceId()).isEqualTo(curl.traceId());
      assertThat(middleServer.parentSpanId()).isEqualTo(curl.spanId());
      assertThat(middleClient.parentSpanId()).as("a call made serving the request: its child" + all)
          .isEqualTo(middleServer.spanId());
      assertThat(middleClient.attributes()).doesNotContainKey("periscope.link.unlinked");
      assertThat(downstreamServer.parentSpanId()).isEqualTo(middleClient.spanId());
      assertThat(downstreamServer.traceId()).isEqualTo(curl.traceId());

      // A request that had a traceparent arrives with it untouched; the call it caused continues its trace.
      Matcher ownContext = W3C.matcher(OWN);
      assertThat(ownContext.matches()).isTrue();
      ReceivedSpan ownServer = one(spans, middle.pid(), SpanKind.SPAN_KIND_SERVER, "/inject/own", all);
      ReceivedSpan ownClient = one(spans, middle.pid(), SpanKind.SPAN_KIND_CLIENT, "/inject/own", all);
      assertThat(own.traceparents()).containsExactly(OWN,
          "00-" + ownContext.group(1) + "-" + ownClient.spanId() + "-01");
      assertThat(ownServer.parentSpanId()).isEqualTo(ownContext.group(2));
      assertThat(ownClient.parentSpanId()).isEqualTo(ownServer.spanId());
      assertThat(spans.stream().filter(s -> TracingAgent.pid(s) == own.pid)).as("curl's own header: an SDK's call")
          .isEmpty();

      assertThat(on.agent.captureCounters().traceparentsInjected()).isEqualTo(3);
      assertThat(on.agent.captureCounters().injectionsFailed()).isZero();
      assertThat(on.agent.linkStats().injectedElsewhere()).isZero();
      assertThat(on.agent.pipelineStats().http1ParseFailures()).isZero();
      on.assertNoKernelDrops();
    }
  }

  private Answer post(String path, String traceparent) throws Exception {
    List<String> command = new ArrayList<>(List.of("/usr/bin/curl", "-sS", "--fail", "--noproxy", "*",
        "--data-binary", "hello injection", "-H", "Content-Type: text/plain"));
    if (traceparent != null) {
      command.addAll(List.of("-H", "traceparent: " + traceparent));
    }
    command.add("http://127.0.0.1:" + MIDDLE_PORT + path);
    PeerProcess.Ran ran = PeerProcess.runWithPid(tmp, command.toArray(String[]::new));
    return new Answer(ran.pid(), ran.output());
  }

  private static ReceivedSpan one(List<ReceivedSpan> spans, long pid, SpanKind kind, String all) {
    List<ReceivedSpan> found = spans.stream().filter(s -> TracingAgent.pid(s) == pid && s.kind() == kind).toList();
    assertThat(found).as(kind + " of pid " + pid + " in" + all).hasSize(1);
    return found.getFirst();
  }

  private static ReceivedSpan one(List<ReceivedSpan> spans, long pid, SpanKind kind, String path, String all) {
    List<ReceivedSpan> found = spans.stream()
        .filter(s -> TracingAgent.pid(s) == pid && s.kind() == kind && path.equals(s.urlPath()))
        .toList();
    assertThat(found).as(kind + " " + path + " of pid " + pid + " in" + all).hasSize(1);
    return found.getFirst();
  }
}
