package io.periscope.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.agent.span.ClockAnchor;
import io.periscope.agent.span.SpanFactory;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanBatcher;
import io.periscope.exporter.SpanSink;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A collector that stops answering while linked exchanges go on: the export queue fills and drops
 * spans. A server's span ends, and is queued, before its client's; what is exported must still
 * never name a parent that is not exported. The same run without the parents' room shows that it
 * would.
 */
class ExportQueueDropsTest {
  private static final int QUEUE = 64;
  private static final int BATCH = 8;
  /** Linked exchanges in flight at once: fewer than the queue's room for parents (an eighth: 8). */
  private static final int IN_FLIGHT = 5;
  private static final int WAVES = 12;

  @Test
  void noExportedSpanNamesAParentThatWasDropped() throws Exception {
    Run run = run(batcher -> batcher);
    assertThat(run.stats().spansDropped()).as("the queue overflowed").isGreaterThan(0);
    assertThat(dangling(run.exported())).isEmpty();
  }

  @Test
  void withoutTheParentsRoomChildrenWouldBeExportedWithoutTheirParents() throws Exception {
    Run run = run(batcher -> new SpanSink() { // as every sink was: a parent is offered as any span
      @Override
      public boolean offer(SpanData span) {
        return batcher.offer(span);
      }

      @Override
      public ExportStats stats() {
        return batcher.stats();
      }

      @Override
      public void close() {
        batcher.close();
      }
    });
    assertThat(dangling(run.exported())).isNotEmpty();
  }

  record Run(List<SpanData> exported, ExportStats stats) {}

  private static Run run(Function<SpanBatcher, SpanSink> sinkOf) throws Exception {
    StalledCollector collector = new StalledCollector();
    SpanBatcher batcher = SpanBatcher.builder(collector).setMaxQueueSize(QUEUE).setMaxBatchSize(BATCH)
        .setScheduleDelay(Duration.ofHours(1)).build();
    SpanSink sink = sinkOf.apply(batcher);
    TraceLinker linker = new TraceLinker(
        new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), sink, false), 1_000_000, 64);
    long now = 1_000;
    // A first batch of unlinked calls: the collector holds it, and stops taking more.
    for (int i = 0; i < BATCH; i++) {
      exchange(linker, peer(Peer.Role.CLIENT, 10, 30_000 + i, 9_000), i, now++, now++);
    }
    assertThat(collector.firstBatch.await(10, TimeUnit.SECONDS)).isTrue();
    for (int wave = 0; wave < WAVES; wave++) {
      List<Peer[]> calls = new ArrayList<>();
      for (int i = 0; i < IN_FLIGHT; i++) {
        int port = 40_000 + wave * IN_FLIGHT + i;
        Peer client = peer(Peer.Role.CLIENT, 101, port, 8_000);
        linker.onConnection(client);
        linker.onRequest(client, 101, port, now++, request());
        Peer server = peer(Peer.Role.SERVER, 202, 8_000, port);
        linker.onRequest(server, 202, port, now++, request());
        calls.add(new Peer[] {client, server});
      }
      for (Peer[] call : calls) { // servers answer first
        linker.onExchange(exchange(call[1], call[1].remotePort(), now - 50, now++));
      }
      for (Peer[] call : calls) {
        linker.onExchange(exchange(call[0], call[0].localPort(), now - 100, now++));
      }
    }
    collector.open();
    sink.close();
    return new Run(collector.spans(), batcher.stats());
  }

  /** Spans whose parent is not among the spans exported (every parent here is on this node). */
  private static List<SpanData> dangling(Collection<SpanData> exported) {
    Set<String> ids = new HashSet<>();
    exported.forEach(s -> ids.add(s.getSpanId()));
    return exported.stream().filter(s -> s.getParentSpanContext().isValid())
        .filter(s -> !ids.contains(s.getParentSpanId())).toList();
  }

  private static void exchange(TraceLinker linker, Peer client, long sequence, long start, long end) {
    linker.onConnection(client);
    linker.onRequest(client, client.tgid(), sequence, start, request());
    linker.onExchange(exchange(client, sequence, start, end));
  }

  private static HttpExchange exchange(Peer peer, long sequence, long start, long end) {
    return new HttpExchange(peer, peer.tgid(), "1.1", request(), ResponseHead.http(200), null, false, start, end,
        sequence);
  }

  private static RequestHead request() {
    return new RequestHead("GET", "/", "localhost", null, "curl/8", null, null, null);
  }

  private static Peer peer(Peer.Role role, int tgid, int localPort, int remotePort) {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    return new Peer(tgid, "p" + tgid, role, loopback, localPort, loopback, remotePort, "127.0.0.1", "127.0.0.1");
  }

  /** Takes the first batch, then answers nothing until opened; keeps what it was given. */
  private static final class StalledCollector implements SpanExporter {
    final CountDownLatch firstBatch = new CountDownLatch(1);
    private final CountDownLatch opened = new CountDownLatch(1);
    private final List<SpanData> spans = new ArrayList<>();

    @Override
    public CompletableResultCode export(Collection<SpanData> batch) {
      synchronized (this) {
        spans.addAll(batch);
      }
      firstBatch.countDown();
      try {
        opened.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return CompletableResultCode.ofFailure();
      }
      return CompletableResultCode.ofSuccess();
    }

    void open() {
      opened.countDown();
    }

    synchronized List<SpanData> spans() {
      return List.copyOf(spans);
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }
}
