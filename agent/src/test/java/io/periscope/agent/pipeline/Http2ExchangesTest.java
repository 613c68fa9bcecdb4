package io.periscope.agent.pipeline;

import static io.periscope.agent.testing.Http2Traffic.CONTINUATION;
import static io.periscope.agent.testing.Http2Traffic.END_HEADERS;
import static io.periscope.agent.testing.Http2Traffic.HEADERS;
import static io.periscope.agent.testing.Http2Traffic.PING;
import static io.periscope.agent.testing.Http2Traffic.PREFACE;
import static io.periscope.agent.testing.Http2Traffic.concat;
import static io.periscope.agent.testing.Http2Traffic.data;
import static io.periscope.agent.testing.Http2Traffic.frame;
import static io.periscope.agent.testing.Http2Traffic.goAway;
import static io.periscope.agent.testing.Http2Traffic.rst;
import static io.periscope.agent.testing.Http2Traffic.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.periscope.agent.testing.Http2Traffic;
import io.periscope.agent.testing.Http2Traffic.Direction;
import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** HTTP/2 streams to exchanges, through the connection tracker, on records shaped as the kernel makes them. */
class Http2ExchangesTest {
  private static final String TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  private final List<HttpExchange> exchanges = new ArrayList<>();
  private final PipelineStats stats = new PipelineStats();
  private final ConnectionTracker tracker = new ConnectionTracker(exchanges::add, stats);
  private final Http2Traffic.Clock clock = new Http2Traffic.Clock();
  private int nextSock = 0x10_000;
  private int nextPort = 41_000;

  /** Both ends of one connection on this host: a client process and a server process, as the kernel sees them. */
  private final class Conversation {
    final Direction.Peer client;
    final Direction.Peer server;
    final Direction clientOut;
    final Direction clientIn;
    final Direction serverIn;
    final Direction serverOut;
    final Http2Traffic.Hpack requests = new Http2Traffic.Hpack();
    final Http2Traffic.Hpack responses = new Http2Traffic.Hpack();

    /** @param opened the agent saw connect() and accept() (else it joins an open connection midway) */
    Conversation(boolean opened) {
      int port = nextPort++;
      byte[] lo = SocketEventEncoder.v4(127, 0, 0, 1);
      client = new Direction.Peer(200, 201, "grpc-client", nextSock++, 5, lo, port, lo, 50_051);
      server = new Direction.Peer(300, 301, "grpc-server", nextSock++, 9, lo, 50_051, lo, port);
      Direction.Mode mode = Direction.Mode.FRAMES;
      clientOut = new Direction(client, SocketEvent.DIRECTION_EGRESS, mode, 7_000, clock);
      serverIn = new Direction(server, SocketEvent.DIRECTION_INGRESS, mode, 7_000, clock);
      clientIn = new Direction(client, SocketEvent.DIRECTION_INGRESS, mode, 90_000, clock);
      serverOut = new Direction(server, SocketEvent.DIRECTION_EGRESS, mode, 90_000, clock);
      if (opened) {
        open(client, SocketEvent.ORIGIN_CONNECT);
        open(server, SocketEvent.ORIGIN_ACCEPT);
        clientOut.afterPreface();
        serverIn.afterPreface();
      }
    }

    /** The client writes these bytes in one syscall; the server reads them in one. */
    void request(byte[] bytes) {
      feed(clientOut.syscall(bytes));
      feed(serverIn.syscall(bytes));
    }

    void response(byte[] bytes) {
      feed(serverOut.syscall(bytes));
      feed(clientIn.syscall(bytes));
    }

    /** The preface and SETTINGS of both sides. */
    Conversation start() {
      request(concat(PREFACE, settings(4, 65_535)));
      response(concat(settings(4, 65_535), frame(4, 1, 0, new byte[0])));
      request(frame(4, 1, 0, new byte[0]));
      return this;
    }

    byte[] grpcRequest(int stream, String path) {
      return concat(requests.headers(stream, false, ":method", "POST", ":scheme", "http", ":path", path,
              ":authority", "localhost:50051", "content-type", "application/grpc", "te", "trailers",
              "user-agent", "grpc-python/1.51.1", "traceparent", TRACEPARENT),
          data(stream, 12, true));
    }

    byte[] grpcResponse(int stream, int status, String message) {
      List<String> trailers = new ArrayList<>(List.of("grpc-status", Integer.toString(status)));
      if (message != null) {
        trailers.addAll(List.of("grpc-message", message));
      }
      return concat(responses.headers(stream, false, ":status", "200", "content-type", "application/grpc"),
          data(stream, 20, false), responses.headers(stream, true, trailers.toArray(String[]::new)));
    }

    List<HttpExchange> ofServer() {
      return exchanges.stream().filter(e -> e.peer().tgid() == server.tgid()).toList();
    }

    List<HttpExchange> ofClient() {
      return exchanges.stream().filter(e -> e.peer().tgid() == client.tgid()).toList();
    }
  }

  @Test
  void grpcUnaryCallOnBothEnds() {
    Conversation c = new Conversation(true).start();
    c.request(c.grpcRequest(1, "/demo.Echo/Unary"));
    c.response(c.grpcResponse(1, 0, null));

    assertThat(exchanges).hasSize(2);
    for (HttpExchange e : exchanges) {
      assertThat(e.protocolVersion()).isEqualTo("2");
      assertThat(e.request().method()).isEqualTo("POST");
      assertThat(e.request().target()).isEqualTo("/demo.Echo/Unary");
      assertThat(e.request().authority()).isEqualTo("localhost:50051");
      assertThat(e.request().scheme()).isEqualTo("http");
      assertThat(e.request().isGrpc()).isTrue();
      assertThat(e.request().userAgent()).isEqualTo("grpc-python/1.51.1");
      assertThat(e.request().traceparent()).isEqualTo(TRACEPARENT);
      assertThat(e.response().status()).isEqualTo(200);
      assertThat(e.response().grpcStatus()).isZero();
      assertThat(e.streamError()).isNull();
      assertThat(e.headersIncomplete()).isFalse();
    }
    HttpExchange server = c.ofServer().getFirst();
    HttpExchange client = c.ofClient().getFirst();
    assertThat(server.peer().role()).isEqualTo(Peer.Role.SERVER);
    assertThat(client.peer().role()).isEqualTo(Peer.Role.CLIENT);
    assertThat(server.requestSequence()).as("both ends name the same request").isEqualTo(client.requestSequence());
    assertThat(server.startNanos()).isLessThan(server.endNanos());
    assertThat(client.startNanos()).as("the client began sending first").isLessThan(server.startNanos());
    assertThat(client.endNanos()).as("and read the end last").isGreaterThan(server.endNanos());
    assertThat(stats.snapshot().http2ParseFailures()).isZero();
  }

  @Test
  void errorsComeFromTrailersOrATrailersOnlyResponse() {
    Conversation c = new Conversation(true).start();
    c.request(c.grpcRequest(1, "/demo.Echo/Fail"));
    c.response(c.grpcResponse(1, 5, "no such thing: %E2%9C%93 100%25"));
    c.request(c.grpcRequest(3, "/demo.Echo/Missing"));
    c.response(c.responses.headers(3, true, ":status", "200", "content-type", "application/grpc",
        "grpc-status", "12", "grpc-message", "unknown method"));

    assertThat(c.ofServer()).extracting(e -> e.response().grpcStatus()).containsExactly(5, 12);
    assertThat(c.ofServer()).extracting(e -> e.response().grpcMessage())
        .containsExactly("no such thing: \u2713 100%", "unknown method");
  }

  /** gRPC libraries read a grpc-status that is not a number as UNKNOWN: never as OK. */
  @Test
  void aGrpcStatusThatIsNotANumberIsUnknown() {
    Conversation c = new Conversation(true).start();
    c.request(c.grpcRequest(1, "/demo.Echo/Odd"));
    c.response(c.responses.headers(1, true, ":status", "200", "content-type", "application/grpc",
        "grpc-status", "OK"));
    c.request(c.grpcRequest(3, "/demo.Echo/Long"));
    c.response(c.responses.headers(3, true, ":status", "200", "content-type", "application/grpc",
        "grpc-status", "0000000000"));

    assertThat(c.ofServer()).extracting(e -> e.response().grpcStatus()).containsExactly(2, 2);
  }

  /** Trailers of a stream whose request the agent never saw, or garbage: a whole block without :method or :path. */
  @Test
  void aHeaderBlockWithoutMethodOrPathIsNoRequest() {
    Conversation c = new Conversation(true).start();
    c.request(c.requests.headers(3, true, "x-checksum", "abc", "content-type", "application/grpc"));
    c.response(c.responses.headers(3, true, ":status", "200", "grpc-status", "0"));

    assertThat(exchanges).isEmpty();
    assertThat(stats.snapshot().unmatchedResponses()).as("the response, on each end").isEqualTo(2);
    assertThat(stats.snapshot().http2ParseFailures()).isZero();
  }

  @Test
  void interleavedStreamsEachBecomeAnExchange() {
    Conversation c = new Conversation(true).start();
    byte[] a = c.requests.headers(1, false, ":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "h");
    byte[] b = c.requests.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/b", ":authority", "h");
    byte[] d = c.requests.headers(5, true, ":method", "DELETE", ":scheme", "http", ":path", "/d", ":authority", "h");
    c.request(concat(a, b, d, data(1, 3, true)));
    c.response(concat(c.responses.headers(5, true, ":status", "204"),
        c.responses.headers(1, false, ":status", "200"), c.responses.headers(3, false, ":status", "404")));
    c.response(concat(data(3, 100, true), data(1, 100, false)));
    c.response(data(1, 5, true));

    assertThat(c.ofServer()).extracting(e -> e.request().target() + " " + e.response().status())
        .containsExactly("/d 204", "/b 404", "/a 200");
    assertThat(c.ofClient()).hasSize(3);
  }

  @Test
  void aResetOrAGoAwayEndsStreamsWithAnError() {
    Conversation c = new Conversation(true).start();
    c.request(c.grpcRequest(1, "/demo.Echo/Slow"));
    c.request(rst(1, 8)); // the client cancels
    c.request(c.grpcRequest(3, "/demo.Echo/A"));
    c.request(c.grpcRequest(5, "/demo.Echo/B"));
    c.request(c.grpcRequest(7, "/demo.Echo/C"));
    c.response(goAway(3, 0)); // the server will finish 3 but never saw 5 and 7
    c.response(c.grpcResponse(3, 0, null));

    assertThat(c.ofServer()).extracting(e -> e.request().target() + " " + e.streamError())
        .containsExactly("/demo.Echo/Slow CANCEL", "/demo.Echo/B GOAWAY", "/demo.Echo/C GOAWAY", "/demo.Echo/A null");
    assertThat(c.ofClient()).extracting(HttpExchange::streamError).containsExactly("CANCEL", "GOAWAY", "GOAWAY", null);
  }

  /** A connection that ends mid-stream (reset, or closed by either end) ends its open streams, saying how. */
  @Test
  void aConnectionEndingMidStreamEndsItsStreams() {
    Conversation c = new Conversation(true).start();
    c.request(c.grpcRequest(1, "/demo.Echo/Slow"));
    c.request(c.grpcRequest(3, "/demo.Echo/Half"));
    c.response(c.responses.headers(3, false, ":status", "200", "content-type", "application/grpc"));
    closeBoth(c);

    assertThat(c.ofServer()).extracting(e -> e.request().target() + " " + e.streamError())
        .containsExactly("/demo.Echo/Slow connection_closed", "/demo.Echo/Half response_incomplete");
    assertThat(c.ofClient()).extracting(e -> e.request().target() + " " + e.streamError())
        .containsExactly("/demo.Echo/Slow connection_closed", "/demo.Echo/Half response_incomplete");
    assertThat(c.ofClient()).allSatisfy(e -> assertThat(e.endNanos()).isGreaterThanOrEqualTo(e.startNanos()));
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(4);
  }

  @Test
  void interimResponsesAreNotTheResponse() {
    Conversation c = new Conversation(true).start();
    c.request(c.requests.headers(1, false, ":method", "PUT", ":scheme", "http", ":path", "/up", ":authority", "h",
        "expect", "100-continue"));
    c.response(c.responses.headers(1, false, ":status", "100"));
    c.request(data(1, 10, true));
    c.response(c.responses.headers(1, true, ":status", "201"));
    assertThat(c.ofServer()).singleElement().satisfies(e -> assertThat(e.response().status()).isEqualTo(201));
  }

  /** A client opening 10,000 streams that are never answered costs at most MAX_STREAMS of them, each counted. */
  @Test
  void openStreamsAreBounded() {
    Conversation c = new Conversation(true).start();
    for (int i = 0; i < 10_000; i++) {
      c.request(c.requests.headers(2 * i + 1, true, ":method", "GET", ":scheme", "http", ":path", "/" + (i % 7),
          ":authority", "h"));
    }
    assertThat(stats.snapshot().http2StreamsEvicted()).isEqualTo(2L * (10_000 - Http2Exchanges.MAX_STREAMS));
    // The newest streams are still tracked and complete normally.
    c.response(c.responses.headers(19_999, true, ":status", "200"));
    assertThat(exchanges).hasSize(2);
    closeBoth(c);
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(2L * (Http2Exchanges.MAX_STREAMS - 1));
  }

  /**
   * A connection open before the agent started: no preface, no SETTINGS, and a dynamic table whose
   * entries the agent never saw. The role comes from the first request; unknown fields stay unknown,
   * and the exchange says its headers were incomplete.
   */
  @Test
  void aConnectionJoinedMidwayIsTracedWithWhatCanBeKnown() {
    Conversation c = new Conversation(false);
    c.requests.block(":method", "POST", ":scheme", "http", ":path", "/demo.Echo/Unary", ":authority", "h:1",
        "content-type", "application/grpc"); // before the agent: :path, :authority, content-type now indexed
    c.responses.block(":status", "200", "content-type", "application/grpc");
    c.responses.block("grpc-status", "0");
    c.request(c.grpcRequest(41, "/demo.Echo/Unary"));
    c.response(c.grpcResponse(41, 0, null));

    assertThat(exchanges).hasSize(2).allSatisfy(e -> {
      assertThat(e.headersIncomplete()).isTrue();
      assertThat(e.request().method()).as("the static table names it").isEqualTo("POST");
      assertThat(e.request().target()).as("never guessed").isNull();
      assertThat(e.request().isGrpc()).isFalse();
    });
    assertThat(c.ofServer().getFirst().peer().role()).isEqualTo(Peer.Role.SERVER);
    assertThat(c.ofClient().getFirst().peer().role()).isEqualTo(Peer.Role.CLIENT);
    assertThat(stats.snapshot().http2ParseFailures()).isZero();
  }

  /** HTTP/1.1 Upgrade: h2c: the upgraded request is stream 1, answered over HTTP/2 after the 101. */
  @Test
  void anUpgradedRequestIsAnsweredOnStreamOne() {
    byte[] lo = SocketEventEncoder.v4(127, 0, 0, 1);
    Direction.Peer server = new Direction.Peer(400, 401, "nghttpx", nextSock++, 3, lo, 8080, lo, 43_210);
    open(server, SocketEvent.ORIGIN_ACCEPT);
    Direction in = new Direction(server, SocketEvent.DIRECTION_INGRESS, Direction.Mode.BYTES, 1, clock);
    Direction out = new Direction(server, SocketEvent.DIRECTION_EGRESS, Direction.Mode.BYTES, 1, clock);
    feed(in.syscall(ascii("GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nUser-Agent: curl/7.88.1\r\n\r\n")));
    Http2Traffic.Hpack hpack = new Http2Traffic.Hpack();
    feed(out.syscall(concat(ascii("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
        settings(3, 100))));
    in.mode(Direction.Mode.FRAMES).afterPreface();
    feed(in.syscall(concat(PREFACE, settings(), frame(4, 1, 0, new byte[0]))));
    out.mode(Direction.Mode.FRAMES);
    feed(out.syscall(concat(frame(4, 1, 0, new byte[0]), hpack.headers(1, false, ":status", "200"), data(1, 6, true))));

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.protocolVersion()).isEqualTo("2");
      assertThat(e.request().method()).isEqualTo("GET");
      assertThat(e.request().target()).isEqualTo("/index.html");
      assertThat(e.request().authority()).isEqualTo("localhost:8080");
      assertThat(e.request().userAgent()).isEqualTo("curl/7.88.1");
      assertThat(e.response().status()).isEqualTo(200);
      assertThat(e.peer().role()).isEqualTo(Peer.Role.SERVER);
    });
    assertThat(stats.snapshot().http2ParseFailures()).isZero();
    assertThat(stats.snapshot().http2Resyncs()).isZero();
  }

  /**
   * Hostile bytes fail their own connection, counted once, with no exception and no exchange; a
   * connection beside it goes on.
   */
  @Test
  void badInputFailsOnlyItsConnection() {
    String[] cases = {
      "invalid frame length", "frame larger than SETTINGS allow", "HPACK table size update beyond the limit",
      "HPACK integer overflow", "garbage after the preface", "truncated CONTINUATION sequence", "HPACK index 0",
    };
    for (String what : cases) {
      exchanges.clear();
      long before = stats.snapshot().http2ParseFailures();
      Conversation bad = new Conversation(true);
      Conversation good = new Conversation(true).start();
      assertThatCode(() -> {
        if (what.equals("garbage after the preface")) {
          byte[] garbage = new byte[200];
          new Random(3).nextBytes(garbage);
          bad.request(concat(PREFACE, garbage));
          return;
        }
        bad.start();
        switch (what) {
          case "invalid frame length" -> bad.request(frame(PING, 0, 0, new byte[9]));
          case "frame larger than SETTINGS allow" -> bad.request(frame(HEADERS, END_HEADERS, 1, new byte[20_000]));
          case "HPACK table size update beyond the limit" -> bad.request(frame(HEADERS, END_HEADERS, 1, hex("3f8120 82")));
          case "HPACK integer overflow" -> bad.request(frame(HEADERS, END_HEADERS, 1, hex("ffffffffffff7f")));
          case "truncated CONTINUATION sequence" -> bad.request(concat(frame(HEADERS, 0, 1, hex("82")), data(1, 5, true)));
          case "HPACK index 0" -> bad.request(frame(HEADERS, END_HEADERS, 1, hex("80")));
          default -> throw new AssertionError(what);
        }
        bad.request(frame(CONTINUATION, END_HEADERS, 1, hex("84"))); // anything after is ignored
        bad.response(bad.responses.headers(1, true, ":status", "200"));
      }).as(what).doesNotThrowAnyException();
      good.request(good.grpcRequest(1, "/demo.Echo/Unary"));
      good.response(good.grpcResponse(1, 0, null));

      assertThat(stats.snapshot().http2ParseFailures() - before).as("%s: both ends fail", what).isEqualTo(2);
      int goodPort = good.client.localPort();
      assertThat(exchanges).as(what).hasSize(2)
          .allSatisfy(e -> assertThat(List.of(e.peer().localPort(), e.peer().remotePort())).contains(goodPort));
    }
    assertThat(stats.snapshot().internalErrors()).isZero();
  }

  /** Random damage to a real-looking conversation: never an exception, never an internal error. */
  @Test
  void mutatedTrafficNeverBreaksThePipeline() {
    Random random = new Random(7);
    for (int round = 0; round < 300; round++) {
      Conversation c = new Conversation(random.nextBoolean());
      byte[] request = concat(PREFACE, settings(), c.grpcRequest(1, "/demo.Echo/Unary"), c.grpcRequest(3, "/x/y"));
      byte[] response = concat(settings(), c.grpcResponse(3, 2, "boom"), c.grpcResponse(1, 0, null));
      for (int flips = random.nextInt(6); flips >= 0; flips--) {
        byte[] target = random.nextBoolean() ? request : response;
        target[random.nextInt(target.length)] ^= (byte) (1 << random.nextInt(8));
      }
      assertThatCode(() -> {
        c.request(request);
        c.response(response);
        closeBoth(c);
      }).doesNotThrowAnyException();
    }
    assertThat(stats.snapshot().internalErrors()).isZero();
  }

  private void closeBoth(Conversation c) {
    for (Direction.Peer end : List.of(c.client, c.server)) {
      feed(List.of(SocketEventEncoder.close().process(end.tgid(), end.tid(), end.comm()).socket(end.sock(), end.fd())
          .endpoints(end.localAddress(), end.localPort(), end.remoteAddress(), end.remotePort()).time(0, 1).encode()));
    }
  }

  private void open(Direction.Peer end, byte origin) {
    feed(List.of(SocketEventEncoder.open(origin).process(end.tgid(), end.tid(), end.comm()).socket(end.sock(), end.fd())
        .endpoints(end.localAddress(), end.localPort(), end.remoteAddress(), end.remotePort()).time(0, 1).encode()));
  }

  private void feed(List<byte[]> records) {
    for (byte[] r : records) {
      tracker.onRecord(MemorySegment.ofArray(r), 0, r.length);
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] hex(String s) {
    return HexFormat.of().parseHex(s.replace(" ", ""));
  }
}
