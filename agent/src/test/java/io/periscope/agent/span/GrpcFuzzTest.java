package io.periscope.agent.span;

import static io.periscope.agent.testing.Http2Traffic.PREFACE;
import static io.periscope.agent.testing.Http2Traffic.concat;
import static io.periscope.agent.testing.Http2Traffic.data;
import static io.periscope.agent.testing.Http2Traffic.frame;
import static io.periscope.agent.testing.Http2Traffic.settings;
import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.agent.testing.CollectingSpanSink;
import io.periscope.agent.testing.FuzzInput;
import io.periscope.agent.testing.Http2Traffic;
import io.periscope.agent.testing.Http2Traffic.Direction;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of gRPC's path and status parsing, as a call goes through the pipeline:
 * a gRPC call over HTTP/2 (netty's HPACK encoder) whose {@code :path}, {@code grpc-status} and
 * {@code grpc-message} are the fuzzer's, seen from both ends, to spans. The data is the three
 * values separated by line feeds; flag bit 0 sends the status in a Trailers-Only response.
 */
class GrpcFuzzTest {
  private static final AttributeKey<String> RPC_SERVICE = AttributeKey.stringKey("rpc.service");
  private static final AttributeKey<String> RPC_METHOD = AttributeKey.stringKey("rpc.method");
  private static final AttributeKey<Long> GRPC_STATUS = AttributeKey.longKey("rpc.grpc.status_code");

  @FuzzTest
  void pathAndStatus(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    String[] values = new String(input.data(), StandardCharsets.ISO_8859_1).split("\n", 3);
    String path = values[0];
    String grpcStatus = values.length > 1 ? values[1] : "0";
    String grpcMessage = values.length > 2 ? values[2] : null;

    List<HttpExchange> exchanges = new ArrayList<>();
    PipelineStats stats = new PipelineStats();
    ConnectionTracker tracker = new ConnectionTracker(exchanges::add, stats);
    call(tracker, path, grpcStatus, grpcMessage, input.flag(0));

    assertThat(stats.snapshot().internalErrors()).isZero();
    assertThat(stats.snapshot().http2ParseFailures()).isZero();
    assertThat(exchanges).as("the call, from each end").hasSize(2);
    List<SpanData> spans = new ArrayList<>();
    SpanFactory factory = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(),
        new CollectingSpanSink(spans), false);
    for (HttpExchange exchange : exchanges) {
      assertThat(exchange.request().target()).isEqualTo(path);
      assertThat(exchange.response().grpcStatus()).isEqualTo(expectedStatus(grpcStatus));
      String message = exchange.response().grpcMessage();
      if (grpcMessage == null) {
        assertThat(message).isNull();
      } else {
        assertThat(message.length()).as("grpc-message is kept up to 256 bytes").isLessThanOrEqualTo(256);
      }
      factory.onExchange(exchange);
    }
    assertThat(spans).hasSize(2);
    GrpcMethod method = GrpcMethod.parse(path);
    for (SpanData span : spans) {
      if (method != null) {
        assertThat(span.getName()).isEqualTo(path.substring(1));
        assertThat(span.getAttributes().get(RPC_SERVICE) + "/" + span.getAttributes().get(RPC_METHOD))
            .isEqualTo(span.getName());
        assertThat(span.getAttributes().get(RPC_METHOD)).doesNotContain("/");
      } else {
        assertThat(span.getName()).isEqualTo("POST");
        assertThat(span.getAttributes().get(RPC_SERVICE)).isNull();
      }
      assertThat(span.getAttributes().get(GRPC_STATUS)).isEqualTo((long) expectedStatus(grpcStatus));
    }
  }

  /**
   * What a gRPC library makes of a {@code grpc-status}: its decimal value; UNKNOWN (2) when it is
   * not a number (grpc-java, grpc-go, grpc-core alike).
   */
  private static int expectedStatus(String value) {
    if (value.isEmpty() || value.length() > 9 || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return 2;
    }
    return Integer.parseInt(value);
  }

  private static void call(ConnectionTracker tracker, String path, String status, String message,
      boolean trailersOnly) {
    Http2Traffic.Clock clock = new Http2Traffic.Clock();
    byte[] lo = SocketEventEncoder.v4(127, 0, 0, 1);
    Direction.Peer client = new Direction.Peer(200, 201, "grpc-client", 0x1000, 5, lo, 41_000, lo, 50_051);
    Direction.Peer server = new Direction.Peer(300, 301, "grpc-server", 0x2000, 9, lo, 50_051, lo, 41_000);
    Direction clientOut = new Direction(client, SocketEvent.DIRECTION_EGRESS, Direction.Mode.FRAMES, 7_000, clock)
        .afterPreface();
    Direction serverIn = new Direction(server, SocketEvent.DIRECTION_INGRESS, Direction.Mode.FRAMES, 7_000, clock)
        .afterPreface();
    Direction serverOut = new Direction(server, SocketEvent.DIRECTION_EGRESS, Direction.Mode.FRAMES, 90_000, clock);
    Direction clientIn = new Direction(client, SocketEvent.DIRECTION_INGRESS, Direction.Mode.FRAMES, 90_000, clock);
    Http2Traffic.Hpack requests = new Http2Traffic.Hpack();
    Http2Traffic.Hpack responses = new Http2Traffic.Hpack();

    byte[] request = concat(PREFACE, settings(4, 65_535), requests.headers(1, false, ":method", "POST",
        ":scheme", "http", ":path", path, ":authority", "localhost:50051", "content-type", "application/grpc",
        "te", "trailers"), data(1, 12, true));
    List<String> trailers = new ArrayList<>(List.of("grpc-status", status));
    if (message != null) {
      trailers.addAll(List.of("grpc-message", message));
    }
    byte[] response = trailersOnly
        ? concat(settings(), frame(4, 1, 0, new byte[0]), responses.headers(1, true, withStatus(trailers)))
        : concat(settings(), frame(4, 1, 0, new byte[0]),
            responses.headers(1, false, ":status", "200", "content-type", "application/grpc"),
            data(1, 20, false), responses.headers(1, true, trailers.toArray(String[]::new)));
    feed(tracker, clientOut.syscall(request));
    feed(tracker, serverIn.syscall(request));
    feed(tracker, serverOut.syscall(response));
    feed(tracker, clientIn.syscall(response));
  }

  private static String[] withStatus(List<String> trailers) {
    List<String> all = new ArrayList<>(List.of(":status", "200", "content-type", "application/grpc"));
    all.addAll(trailers);
    return all.toArray(String[]::new);
  }

  private static void feed(ConnectionTracker tracker, List<byte[]> records) {
    for (byte[] record : records) {
      tracker.onRecord(MemorySegment.ofArray(record), 0, record.length);
    }
  }
}
