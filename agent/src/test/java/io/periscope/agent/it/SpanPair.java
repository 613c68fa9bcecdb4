package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A call both of whose ends were traced on this node: the client's CLIENT span and the server's
 * SERVER span, joined by same-node linking (one trace, the server span a child of the client span).
 */
record SpanPair(ReceivedSpan client, ReceivedSpan server) {

  /**
   * The one call among {@code spans}: exactly one CLIENT span, of {@code clientPid}, and one SERVER
   * span, of one of {@code serverPids}, linked.
   */
  static SpanPair only(List<ReceivedSpan> spans, long clientPid, Collection<Long> serverPids) {
    List<SpanPair> pairs = all(spans, clientPid, serverPids, 1);
    return pairs.getFirst();
  }

  /**
   * Exactly {@code count} calls among {@code spans}: {@code count} CLIENT spans of {@code clientPid}
   * and {@code count} SERVER spans of {@code serverPids}, nothing else, each server span the child of
   * a different client span. Returned in the order the client spans arrived.
   */
  static List<SpanPair> all(List<ReceivedSpan> spans, long clientPid, Collection<Long> serverPids, int count) {
    String all = TracingAgent.describe(spans);
    List<ReceivedSpan> clients = ofKind(spans, SpanKind.SPAN_KIND_CLIENT);
    List<ReceivedSpan> servers = ofKind(spans, SpanKind.SPAN_KIND_SERVER);
    assertThat(clients).as("CLIENT spans in" + all).hasSize(count);
    assertThat(servers).as("SERVER spans in" + all).hasSize(count);
    assertThat(spans).as("spans of other kinds in" + all).hasSize(2 * count);
    assertThat(clients).allSatisfy(c -> assertThat(TracingAgent.pid(c)).as("client pid").isEqualTo(clientPid));
    assertThat(servers).allSatisfy(s -> assertThat(TracingAgent.pid(s)).as("server pid").isIn(serverPids));

    Map<String, ReceivedSpan> clientsById = new HashMap<>();
    for (ReceivedSpan c : clients) {
      // No traceparent anywhere in these tests: every client span is the root of its own trace.
      assertThat(c.isRoot()).as("client span is a root: " + c).isTrue();
      assertThat(c.traceId()).matches("[0-9a-f]{32}").isNotEqualTo("0".repeat(32));
      assertThat(clientsById.put(c.spanId(), c)).as("duplicate client span id " + c.spanId()).isNull();
    }
    Map<String, ReceivedSpan> serverByClient = new HashMap<>();
    for (ReceivedSpan s : servers) {
      ReceivedSpan parent = clientsById.get(s.parentSpanId());
      assertThat(parent).as("the CLIENT span that is the parent of " + s + " in" + all).isNotNull();
      assertThat(s.traceId()).as("server span in its client's trace").isEqualTo(parent.traceId());
      assertThat(serverByClient.put(parent.spanId(), s))
          .as("a second SERVER span with the parent " + parent.spanId() + " in" + all).isNull();
    }
    List<SpanPair> pairs = new ArrayList<>();
    for (ReceivedSpan c : clients) {
      pairs.add(new SpanPair(c, serverByClient.get(c.spanId())));
    }
    return pairs;
  }

  static List<ReceivedSpan> ofKind(List<ReceivedSpan> spans, SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).toList();
  }

  /** Both spans, client first. */
  List<ReceivedSpan> both() {
    return List.of(client, server);
  }
}
