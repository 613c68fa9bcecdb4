package io.periscope.bench;

import io.periscope.agent.http1.Http1Head;
import io.periscope.agent.http1.Http1Parser;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/** HTTP/1.x message parsing alone: one operation is one message (a request or a response). */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-XX:+UseSerialGC", "-Xmx192m"})
public class Http1ParserBenchmark {
  private final MemorySegment request = MemorySegment.ofArray(RecordedTraffic.REQUEST);
  private final MemorySegment response = MemorySegment.ofArray(RecordedTraffic.RESPONSE);
  /**
   * A request whose head carries a 16 KiB token, fed as the kernel records it when one syscall moved
   * it: in pieces of 8 KiB (MAX_CAPTURE), the request line in the first, Host and traceparent in the last.
   */
  private final MemorySegment longHead = MemorySegment.ofArray(
      ("GET /api/orders?id=42 HTTP/1.1\r\nAuthorization: Bearer " + "j".repeat(16_384) + "\r\nHost: orders:8080\r\n"
          + "User-Agent: curl/8.5.0\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
          + "Accept: */*\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
  private static final int PIECE = 8192;
  private Http1Parser requests;
  private Http1Parser responses;

  @Setup
  public void parsers(Blackhole blackhole) {
    Http1Parser.Listener listener = new Http1Parser.Listener() {
      @Override
      public void onMessageStart(long offsetInPiece) {}

      @Override
      public void onHead(Http1Head head) {
        blackhole.consume(head);
      }

      @Override
      public void onMessageEnd() {}

      @Override
      public boolean answersHeadRequest() {
        return false;
      }
    };
    requests = Http1Parser.requests(listener);
    responses = Http1Parser.responses(listener);
  }

  @Benchmark
  public boolean request() {
    requests.feed(request, 0, (int) request.byteSize(), 0);
    return requests.failed();
  }

  /** One op = one message of about 16.5 KiB, in three pieces. */
  @Benchmark
  public boolean requestWithLongHead() {
    int size = (int) longHead.byteSize();
    for (int from = 0; from < size; from += PIECE) {
      requests.feed(longHead, from, Math.min(PIECE, size - from), 0);
    }
    return requests.failed();
  }

  @Benchmark
  public boolean response() {
    responses.feed(response, 0, (int) response.byteSize(), 0);
    return responses.failed();
  }
}
