package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.link.LinkStats;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.agent.testing.SemanticConventions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The spans of requests that each pass through the same chain of traced processes, hop by hop (for
 * example curl CLIENT, nginx SERVER, nginx CLIENT, python SERVER), told apart by their path, which
 * is unique per request and passed on unchanged by every hop.
 *
 * <p>{@link #of} checks that the spans are exactly one per request and hop, nothing more; then
 * {@link #assertOneTraceEach} checks the structure, and {@link #score} measures how well linking did.
 */
final class RequestChain {
  /** The span every request gets at one point of the chain. */
  record Hop(String name, Predicate<ReceivedSpan> matcher) {
    /** Periscope's span of this kind in one of these processes. */
    static Hop of(String name, SpanKind kind, Collection<Long> pids) {
      List<Long> copy = List.copyOf(pids);
      return new Hop(name, s -> s.kind() == kind && copy.contains(TracingAgent.pid(s)));
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /**
   * How well the spans were linked. A span should have a parent when it is not the first of its
   * chain, and its right parent is the span of the hop before it, of the same request.
   *
   * @param right      spans whose parent is the right span (same trace, the parent span id)
   * @param withParent spans that have a parent, right or wrong
   * @param expected   spans that should have a parent
   */
  record LinkScore(int right, int withParent, int expected) {
    /** Of the spans with a parent, the share whose parent is the right one; 1 when none has one. */
    double precision() {
      return withParent == 0 ? 1.0 : (double) right / withParent;
    }

    /** Of the spans that should have a parent, the share that have the right one. */
    double recall() {
      return expected == 0 ? 1.0 : (double) right / expected;
    }

    @Override
    public String toString() {
      return "precision %.4f (%d/%d), recall %.4f (%d/%d)".formatted(precision(), right, withParent, recall(), right,
          expected);
    }
  }

  private final List<Hop> hops;
  private final List<String> paths;
  private final List<ReceivedSpan> spans;
  /** {@link #describe}, as of {@link #of}. */
  private final String description;
  /** Per path, the span of each hop, in chain order. */
  private final Map<String, List<ReceivedSpan>> chains;

  private RequestChain(List<Hop> hops, List<String> paths, List<ReceivedSpan> spans, String description,
      Map<String, List<ReceivedSpan>> chains) {
    this.hops = hops;
    this.paths = paths;
    this.spans = spans;
    this.description = description;
    this.chains = chains;
  }

  /**
   * The chains of these requests: every one of {@code spans} is of one of the hops and one of the
   * paths, and every path has exactly one span at every hop. Failures list the spans with their ids
   * and {@code tracing}'s counters.
   */
  static RequestChain of(TracingAgent tracing, List<ReceivedSpan> spans, List<String> paths, Hop... hops) {
    String all = describe(tracing, spans);
    List<Hop> hopList = List.of(hops);
    Map<String, List<ReceivedSpan>> chains = new LinkedHashMap<>();
    for (String path : paths) {
      List<ReceivedSpan> chain = new ArrayList<>();
      for (Hop hop : hopList) {
        List<ReceivedSpan> found = spans.stream().filter(hop.matcher()).filter(s -> path.equals(pathOf(s))).toList();
        assertThat(found).as("the " + hop + " span of " + path + " in" + all).hasSize(1);
        chain.add(found.getFirst());
      }
      chains.put(path, chain);
    }
    assertThat(spans).as("spans of no hop or of no request in" + all).hasSize(paths.size() * hopList.size());
    // No span names a parent that was never exported (an SDK's spans reach the same receiver).
    Set<String> exported = new HashSet<>();
    tracing.receiver.allSpans().forEach(s -> exported.add(s.spanId()));
    SemanticConventions.assertNoDanglingParents(spans, exported);
    return new RequestChain(hopList, List.copyOf(paths), List.copyOf(spans), all, chains);
  }

  /** The spans with their ids, one a line, then what the agent counted: for failure messages. */
  static String describe(TracingAgent tracing, List<ReceivedSpan> spans) {
    StringBuilder out = new StringBuilder();
    for (ReceivedSpan s : spans) {
      out.append("\n  ").append(s.kind().name().substring("SPAN_KIND_".length())).append(' ').append(pathOf(s))
          .append(" pid=").append(TracingAgent.pid(s))
          .append(" service=").append(s.resourceAttributes().get("service.name"))
          .append(" thread=").append(s.attributes().get("thread.id"))
          .append(" trace=").append(s.traceId()).append(" span=").append(s.spanId())
          .append(" parent=").append(s.isRoot() ? "-" : s.parentSpanId())
          .append(" start=").append(s.startEpochNanos()).append(" end=").append(s.endEpochNanos());
      if (s.attributes().get("periscope.link.unlinked") instanceof String why) {
        out.append(" unlinked=").append(why);
      }
      if (s.attributes().get("periscope.stitch_key") instanceof String key) {
        out.append(" key=").append(key);
      }
      if (s.attributes().get("network.peer.port") instanceof Long port) {
        out.append(" peer.port=").append(port);
      }
    }
    LinkStats l = tracing.agent.linkStats();
    out.append("\n  pipeline: ").append(tracing.agent.pipelineStats())
        .append("\n  capture: ").append(tracing.agent.captureCounters())
        .append("\n  linking: linked=").append(l.linked()).append(" inProcess=").append(l.linkedInProcess())
        .append(" ambiguous=").append(l.ambiguous()).append(" unlinkedAfterWait=").append(l.unlinkedAfterWait())
        .append(" heldOverflow=").append(l.heldOverflow()).append(" sdkProcesses=").append(l.sdkProcesses())
        .append(" sdkClientSpans=").append(l.sdkClientSpans()).append(" sdkServerSpans=").append(l.sdkServerSpans());
    return out.toString();
  }

  /**
   * The spans of these processes once {@code count} have arrived or 20 s have passed, whichever is
   * first, and a moment longer to catch extra ones. Unlike {@link TracingAgent#awaitSpans} it does
   * not fail when some are missing: {@link #of} then says which request lacks which span.
   */
  static List<ReceivedSpan> collect(TracingAgent tracing, Collection<Long> pids, int count) {
    Predicate<ReceivedSpan> ours = s -> pids.contains(TracingAgent.pid(s));
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (tracing.receiver.spans().stream().filter(ours).count() < count && System.nanoTime() < deadline) {
      TracingAgent.sleep(Duration.ofMillis(50));
    }
    // Spans are exported in batches every second: give stragglers (which would be wrong) time to show.
    TracingAgent.sleep(Duration.ofMillis(1500));
    return tracing.receiver.spans().stream().filter(ours).toList();
  }

  /** The span's path: {@code url.path}, else the path of {@code url.full} (CLIENT spans have only that). */
  static @Nullable String pathOf(ReceivedSpan span) {
    return span.urlPath();
  }

  /** The span of this request at this hop. */
  ReceivedSpan span(String path, int hop) {
    return chains.get(path).get(hop);
  }

  /**
   * Each request is one trace of its own: the first span a root, every other the child of the span
   * before it, and no span of another request in it.
   */
  void assertOneTraceEach() {
    String all = description;
    Set<String> traceIds = new HashSet<>();
    for (String path : paths) {
      List<ReceivedSpan> chain = chains.get(path);
      ReceivedSpan first = chain.getFirst();
      assertThat(first.isRoot()).as("the " + hops.getFirst() + " span of " + path + " is a root: " + first).isTrue();
      assertThat(first.traceId()).matches("[0-9a-f]{32}").isNotEqualTo("0".repeat(32));
      for (int i = 1; i < chain.size(); i++) {
        ReceivedSpan parent = chain.get(i - 1);
        ReceivedSpan child = chain.get(i);
        String what = "the " + hops.get(i) + " span of " + path + " as the child of its " + hops.get(i - 1) + " span ("
            + parent.spanId() + ") in" + all;
        assertThat(child.traceId()).as(what).isEqualTo(first.traceId());
        assertThat(child.parentSpanId()).as(what).isEqualTo(parent.spanId());
        assertThat(child.attributes()).as(what).doesNotContainKey("periscope.link.unlinked");
      }
      assertThat(traceIds.add(first.traceId())).as("a trace of its own for " + path + " in" + all).isTrue();
    }
  }

  /** Linking of every span but the first of each chain, against the right parent. */
  LinkScore score() {
    return score(0, hops.size());
  }

  /** Linking of the spans at hop {@code hop}. */
  LinkScore score(int hop) {
    return score(hop, hop + 1);
  }

  private LinkScore score(int fromHop, int toHop) {
    int right = 0;
    int withParent = 0;
    int expected = 0;
    for (List<ReceivedSpan> chain : chains.values()) {
      for (int i = fromHop; i < toHop; i++) {
        ReceivedSpan span = chain.get(i);
        if (i > 0) {
          expected++;
        }
        if (!span.isRoot()) {
          withParent++;
          ReceivedSpan parent = i > 0 ? chain.get(i - 1) : null;
          if (parent != null && span.parentSpanId().equals(parent.spanId())
              && span.traceId().equals(parent.traceId())) {
            right++;
          }
        }
      }
    }
    return new LinkScore(right, withParent, expected);
  }

  /** The spans at this hop that have no parent. */
  List<ReceivedSpan> roots(int hop) {
    return chains.values().stream().map(chain -> chain.get(hop)).filter(ReceivedSpan::isRoot).toList();
  }

  /** Every span that has a parent. */
  List<ReceivedSpan> withParent() {
    return spans.stream().filter(s -> !s.isRoot()).toList();
  }

  /** The spans, with their ids, and the agent's counters as of {@link #of}: for failure messages. */
  String description() {
    return description;
  }

  List<Hop> hops() {
    return hops;
  }
}
