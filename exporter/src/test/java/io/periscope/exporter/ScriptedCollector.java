package io.periscope.exporter;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A collector on a fixed loopback port that a test brings up and down (down: the port refuses
 * connections, and connections that were open are cut, as when a collector's process dies) and
 * that meets each request with the next {@link CollectorFault} of its script, {@link
 * CollectorFault#HEALTHY} once the script is spent. It records when each request arrived, by both
 * clocks, so tests assert waits against the collector's own timestamps.
 */
abstract class ScriptedCollector implements AutoCloseable {
  /** One request as it arrived: monotonic and wall-clock time, and how many spans it carried. */
  record Arrival(long nanoTime, Instant wallClock, int spans) {}

  final int port;
  private final Deque<CollectorFault> script = new ConcurrentLinkedDeque<>();
  private volatile CollectorFault afterScript = CollectorFault.HEALTHY;
  private final List<Arrival> arrivals = new ArrayList<>(); // guarded by itself
  // Span ids, not a count: delivery is at least once (a request taken whose answer was cut is sent again).
  private final Set<ByteString> spansTaken = ConcurrentHashMap.newKeySet();
  // Counted down when the collector closes for good: cuts the wait of a slow answer short.
  final CountDownLatch closing = new CountDownLatch(1);

  /** A collector on a port that was free a moment ago; it is down until {@link #start()}. */
  ScriptedCollector() {
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The endpoint an exporter of this protocol is given. */
  abstract URI endpoint();

  /** Starts taking connections on {@link #port}. */
  abstract void start() throws IOException;

  /** Stops as a crashed collector does: the port refuses, open connections are cut. */
  abstract void stop();

  /** Meets the next requests with {@code faults}, in order, then with {@link #always}'s fault. */
  final void script(CollectorFault... faults) {
    script.addAll(List.of(faults));
  }

  /** Meets every request once the script is spent with {@code fault}. */
  final void always(CollectorFault fault) {
    afterScript = fault;
  }

  /** Called by the protocol's server for each request's body: records it, picks the fault. */
  final CollectorFault arrived(byte[] request) {
    int spans = spansIn(request);
    synchronized (arrivals) {
      arrivals.add(new Arrival(System.nanoTime(), Instant.now(), spans));
      arrivals.notifyAll();
    }
    CollectorFault next = script.pollFirst();
    return next != null ? next : afterScript;
  }

  /** Called when the collector answered a request with success. */
  final void took(byte[] request) {
    took(request, 0);
  }

  /** Called when the collector answered a request with success, having rejected its last {@code rejected} spans. */
  final void took(byte[] request, long rejected) {
    List<ByteString> ids =
        parse(request).getResourceSpansList().stream()
            .flatMap(resource -> resource.getScopeSpansList().stream())
            .flatMap(scope -> scope.getSpansList().stream())
            .map(span -> span.getSpanId())
            .toList();
    spansTaken.addAll(ids.subList(0, (int) Math.max(ids.size() - rejected, 0)));
  }

  /**
   * Distinct spans in requests the collector answered with success, less those it said it
   * rejected: what reached the backend.
   */
  final long spansTaken() {
    return spansTaken.size();
  }

  final List<Arrival> arrivals() {
    synchronized (arrivals) {
      return List.copyOf(arrivals);
    }
  }

  /** Waits until {@code count} requests in all have arrived; returns all that have. */
  final List<Arrival> awaitArrivals(int count) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    synchronized (arrivals) {
      while (arrivals.size() < count) {
        long left = deadline - System.nanoTime();
        assertThat(left).as("%d requests within 10 s, got %d", count, arrivals.size()).isPositive();
        TimeUnit.NANOSECONDS.timedWait(arrivals, left);
      }
      return List.copyOf(arrivals);
    }
  }

  @Override
  public void close() {
    closing.countDown();
    stop();
  }

  private static int spansIn(byte[] request) {
    return parse(request).getResourceSpansList().stream()
        .flatMap(resource -> resource.getScopeSpansList().stream())
        .mapToInt(scope -> scope.getSpansCount())
        .sum();
  }

  private static ExportTraceServiceRequest parse(byte[] request) {
    try {
      return ExportTraceServiceRequest.parseFrom(request);
    } catch (IOException e) {
      throw new AssertionError("the exporter sent a request that is not an ExportTraceServiceRequest", e);
    }
  }
}
