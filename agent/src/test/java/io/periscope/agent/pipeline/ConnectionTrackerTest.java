package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.periscope.bpf.SocketEvent;
import io.periscope.bpf.SocketEventEncoder;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** End to end from encoded capture records to {@link HttpExchange}s, with a controlled clock. */
class ConnectionTrackerTest {
  private static final String TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  private final List<HttpExchange> exchanges = new ArrayList<>();
  private final PipelineStats stats = new PipelineStats();
  private ConnectionTracker tracker = new ConnectionTracker(exchanges::add, stats);
  /** Monotonic nanoseconds: every event takes a fresh, increasing enter/exit pair. */
  private long clock = 1_000_000;

  // ---------------------------------------------------------------------------------------------
  // Roles, times, threads and sequence numbers

  @Test
  void serverRoleRequestReadResponseWritten() throws Exception {
    Conn server = conn(0xffff_8881_0000_1000L, 100, "python3", "10.0.0.5", 8080, "10.0.0.9", 50_000);
    open(server, SocketEvent.ORIGIN_ACCEPT);

    server.tid = 101;
    Fed firstRead = read(server, "GET /hello?x=1 HTTP/1.1\r\nHost: svc:8080\r\nUser-Agent: curl/8.5.0\r\n");
    server.tid = 102;
    read(server, "traceparent: " + TRACEPARENT + "\r\n\r\n");
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assertThat(exchanges).as("the body is still to come").isEmpty();
    server.tid = 103;
    Fed lastWrite = write(server, "hello");

    assertThat(exchanges).hasSize(1);
    HttpExchange e = exchanges.getFirst();
    assertThat(e.peer().role()).isEqualTo(Peer.Role.SERVER);
    assertThat(e.peer().tgid()).isEqualTo(100);
    assertThat(e.peer().comm()).isEqualTo("python3");
    assertThat(e.peer().localAddress()).isEqualTo(InetAddress.getByName("10.0.0.5"));
    assertThat(e.peer().localPort()).isEqualTo(8080);
    assertThat(e.peer().remoteAddress()).isEqualTo(InetAddress.getByName("10.0.0.9"));
    assertThat(e.peer().remotePort()).isEqualTo(50_000);
    assertThat(e.tid()).as("the thread that read the first request byte").isEqualTo(101);
    assertThat(e.request().method()).isEqualTo("GET");
    assertThat(e.request().target()).isEqualTo("/hello?x=1");
    assertThat(e.request().authority()).isEqualTo("svc:8080");
    assertThat(e.request().userAgent()).isEqualTo("curl/8.5.0");
    assertThat(e.request().traceparent()).isEqualTo(TRACEPARENT);
    assertThat(e.response().status()).isEqualTo(200);
    assertThat(e.startNanos()).as("server: the first request byte was there to read").isEqualTo(firstRead.exit());
    assertThat(e.endNanos()).as("the write completing the response").isEqualTo(lastWrite.exit());
    assertThat(e.requestSequence()).isEqualTo(firstRead.seq());
    assertThat(stats.snapshot()).isEqualTo(counts().events(5).connectionsTracked(1).exchanges(1).build());
  }

  @Test
  void clientRoleRequestWrittenResponseRead() throws Exception {
    Conn client = conn(0xffff_8881_0000_2000L, 200, "curl", "10.0.0.9", 50_000, "10.0.0.5", 8080);
    open(client, SocketEvent.ORIGIN_CONNECT);

    client.tid = 201;
    Fed firstWrite = write(client, "POST /orders HTTP/1.1\r\nHost: orders\r\nContent-Length: 11\r\n\r\n");
    client.tid = 202;
    write(client, "{\"id\":1234}");
    read(client, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n");
    Fed lastRead = read(client, "\r\nok");

    assertThat(exchanges).hasSize(1);
    HttpExchange e = exchanges.getFirst();
    assertThat(e.peer().role()).isEqualTo(Peer.Role.CLIENT);
    assertThat(e.peer().localPort()).isEqualTo(50_000);
    assertThat(e.peer().remoteAddress()).isEqualTo(InetAddress.getByName("10.0.0.5"));
    assertThat(e.peer().remotePort()).isEqualTo(8080);
    assertThat(e.tid()).isEqualTo(201);
    assertThat(e.request().method()).isEqualTo("POST");
    assertThat(e.response().status()).isEqualTo(201);
    assertThat(e.startNanos()).as("client: the application began to send the request").isEqualTo(firstWrite.enter());
    assertThat(e.endNanos()).as("the read completing the response").isEqualTo(lastRead.exit());
    assertThat(e.requestSequence()).isEqualTo(firstWrite.seq());
  }

  @Test
  void requestSequenceIsTheEventSequencePlusTheMessageOffsetModulo2To32() {
    Conn server = conn(0x3000, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_000);
    String zero = "POST /zero HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    server.ingressSeq = 0xffff_fff0L - zero.length();
    // The client ends its body with a stray CRLF, then pipelines two requests.
    String first = "\r\nGET /first HTTP/1.1\r\nHost: h\r\n\r\n";
    String second = "GET /second HTTP/1.1\r\nHost: h\r\n\r\n";

    Fed zeroRead = read(server, zero);
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    Fed read = read(server, first + second);
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(read.seq()).isEqualTo(0xffff_fff0L);
    assertThat(exchanges).extracting(HttpExchange::requestSequence).containsExactly(zeroRead.seq(),
        (read.seq() + 2) & 0xffff_ffffL, (read.seq() + first.length()) & 0xffff_ffffL);
    assertThat(exchanges.get(2).requestSequence()).as("wrapped past 2^32").isLessThan(read.seq());
    assertThat(exchanges.get(1).startNanos()).isEqualTo(read.exit());
    assertThat(exchanges.get(2).startNanos()).isEqualTo(read.exit());
  }

  @Test
  void keepAliveExchangesOnOneConnection() {
    Conn server = conn(0x4000, 1, "nginx", "127.0.0.1", 80, "127.0.0.1", 40_001);
    open(server, SocketEvent.ORIGIN_ACCEPT);
    List<Fed> starts = new ArrayList<>();
    List<Fed> ends = new ArrayList<>();

    for (int i = 0; i < 3; i++) {
      server.tid = 10 + i;
      starts.add(read(server, "GET /item/" + i + " HTTP/1.1\r\nHost: h\r\n\r\n"));
      write(server, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
      ends.add(write(server, "ab" + i));
    }

    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/item/0", "/item/1", "/item/2");
    assertThat(exchanges).extracting(HttpExchange::tid).containsExactly(10, 11, 12);
    assertThat(exchanges).extracting(HttpExchange::startNanos).containsExactlyElementsOf(
        starts.stream().map(Fed::exit).toList());
    assertThat(exchanges).extracting(HttpExchange::endNanos).containsExactlyElementsOf(
        ends.stream().map(Fed::exit).toList());
    assertThat(exchanges).extracting(HttpExchange::requestSequence).containsExactlyElementsOf(
        starts.stream().map(Fed::seq).toList());
    assertThat(stats.snapshot().connectionsTracked()).isEqualTo(1);
  }

  @Test
  void pipelinedRequestsInOneSendAndResponsesInOneWritePairInOrder() {
    Conn client = conn(0x5000, 300, "wrk", "127.0.0.1", 40_002, "127.0.0.1", 8080);
    String a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    String b = "HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
    String c = "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    String d = "GET /d HTTP/1.1\r\nHost: h\r\n\r\n";

    Fed send = write(client, a + b + c + d);
    Fed receive = read(client, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
        + "HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n" // answers HEAD: no body follows
        + "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nC\r\n0\r\n\r\n"
        + "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nD");

    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/a", "/b", "/c", "/d");
    assertThat(exchanges).extracting(e -> e.response().status()).containsExactly(200, 200, 201, 404);
    assertThat(exchanges).allSatisfy(e -> {
      assertThat(e.startNanos()).isEqualTo(send.enter());
      assertThat(e.endNanos()).isEqualTo(receive.exit());
    });
    assertThat(exchanges).extracting(HttpExchange::requestSequence).containsExactly(send.seq(),
        send.seq() + a.length(), send.seq() + (a + b).length(), send.seq() + (a + b + c).length());
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void interimResponseIsNotTheAnswer() {
    Conn client = conn(0x5100, 301, "curl", "127.0.0.1", 40_003, "127.0.0.1", 8080);

    Fed head = write(client, "PUT /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    read(client, "HTTP/1.1 100 Continue\r\n\r\n");
    assertThat(exchanges).isEmpty();
    write(client, "abc");
    Fed fin = read(client, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(exchanges).hasSize(1);
    assertThat(exchanges.getFirst().response().status()).isEqualTo(204);
    assertThat(exchanges.getFirst().startNanos()).isEqualTo(head.enter());
    assertThat(exchanges.getFirst().endNanos()).isEqualTo(fin.exit());
  }

  // ---------------------------------------------------------------------------------------------
  // Many connections at once

  @Test
  void concurrentConnectionsInterleavedRoundRobin() {
    int n = 6;
    int m = 5;
    List<Conn> conns = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      // Even connections are servers (requests read), odd ones clients (requests written).
      Conn c = conn(0x10_0000L + i * 0x100, 1000 + i, "proc" + i, "127.0.0.1", 9000 + i, "127.0.0.2", 41_000 + i);
      c.ingressSeq = 1_000L * i;
      c.egressSeq = 7_000_000L + 1_000L * i;
      conns.add(c);
      open(c, i % 2 == 0 ? SocketEvent.ORIGIN_ACCEPT : SocketEvent.ORIGIN_CONNECT);
    }

    for (int r = 0; r < m; r++) {
      // Each message in two events, each event of one connection followed by the same event of the next.
      for (int step = 0; step < 4; step++) {
        for (int i = 0; i < n; i++) {
          Conn c = conns.get(i);
          boolean server = i % 2 == 0;
          String request = "GET /c" + i + "/r" + r + " HTTP/1.1\r\nHost: conn" + i + "\r\n\r\n";
          String response = "HTTP/1.1 " + (200 + i * 10 + r) + " OK\r\nContent-Length: 4\r\n\r\n" + "c" + i + "r" + r;
          String message = step < 2 ? request : response;
          String part = step % 2 == 0 ? message.substring(0, 20) : message.substring(20);
          boolean requestSide = step < 2;
          if (requestSide == server) {
            read(c, part);
          } else {
            write(c, part);
          }
        }
      }
    }

    assertThat(exchanges).hasSize(n * m);
    for (HttpExchange e : exchanges) {
      int i = e.peer().localPort() - 9000;
      String target = e.request().target();
      assertThat(target).startsWith("/c" + i + "/r");
      int r = Integer.parseInt(target.substring(target.lastIndexOf('r') + 1));
      assertThat(e.response().status()).as("the response of %s", target).isEqualTo(200 + i * 10 + r);
      assertThat(e.request().authority()).isEqualTo("conn" + i);
      assertThat(e.peer().tgid()).isEqualTo(1000 + i);
      assertThat(e.peer().role()).isEqualTo(i % 2 == 0 ? Peer.Role.SERVER : Peer.Role.CLIENT);
    }
    assertThat(stats.snapshot()).isEqualTo(counts().events(n + n * m * 4L).connectionsTracked(n)
        .exchanges((long) n * m).build());
  }

  // ---------------------------------------------------------------------------------------------
  // What the agent cannot pair or parse

  @Test
  void responseWithNoRequestSeenIsCountedThenTheNextExchangeWorks() {
    Conn client = conn(0x6000, 400, "python3", "127.0.0.1", 40_010, "127.0.0.1", 8000);

    // The agent started after the request went out: the first thing seen is its response.
    read(client, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");

    assertThat(exchanges).isEmpty();
    assertThat(stats.snapshot().unmatchedResponses()).isEqualTo(1);

    write(client, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    read(client, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).hasSize(1);
    assertThat(exchanges.getFirst().request().target()).isEqualTo("/next");
    assertThat(exchanges.getFirst().response().status()).isEqualTo(202);
    assertThat(exchanges.getFirst().peer().role()).isEqualTo(Peer.Role.CLIENT);
    assertThat(stats.snapshot().unmatchedResponses()).isEqualTo(1);
  }

  @Test
  void serverWritingAResponseFirstIsAServer() {
    Conn server = conn(0x6100, 401, "gunicorn", "127.0.0.1", 8000, "127.0.0.1", 40_011);

    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    read(server, "GET /after HTTP/1.1\r\n\r\n");
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(stats.snapshot().unmatchedResponses()).isEqualTo(1);
    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.peer().role()).isEqualTo(Peer.Role.SERVER);
      assertThat(e.request().target()).isEqualTo("/after");
    });
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"random", "tls"})
  void nonHttpBytesAreWrittenOffWhileAnotherConnectionWorks(String kind) {
    Conn other = conn(0x7000, 500, "tls-client", "127.0.0.1", 40_020, "127.0.0.1", 443);
    Conn http = conn(0x7100, 501, "curl", "127.0.0.1", 40_021, "127.0.0.1", 80);
    Random random = new Random(42);

    for (int i = 0; i < Connection.MAX_DETECTION_ATTEMPTS; i++) {
      assertThat(stats.snapshot().connectionsNotHttp()).isZero();
      byte[] bytes = new byte[300];
      random.nextBytes(bytes);
      if (kind.equals("tls")) {
        byte[] hello = {0x16, 0x03, 0x01, 0x01, 0x20, 0x01, 0x00, 0x01, 0x1c, 0x03, 0x03};
        System.arraycopy(hello, 0, bytes, 0, hello.length);
      }
      dataEvent(other, i % 2 == 0 ? SocketEvent.DIRECTION_EGRESS : SocketEvent.DIRECTION_INGRESS, bytes, bytes.length);
      if (i == 1) {
        write(http, "GET /meanwhile HTTP/1.1\r\nHost: h\r\n\r\n");
      }
      if (i == 2) {
        read(http, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      }
    }
    assertThat(stats.snapshot().connectionsNotHttp()).isEqualTo(1);

    // Written off for good: even HTTP-looking bytes later on are not parsed.
    write(other, "GET /late HTTP/1.1\r\n\r\n");
    read(other, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).singleElement().satisfies(e -> assertThat(e.request().target()).isEqualTo("/meanwhile"));
    assertThat(stats.snapshot().connectionsNotHttp()).isEqualTo(1);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void emptyReadsDoNotCountAsFailedDetection() {
    Conn server = conn(0x7200, 502, "srv", "127.0.0.1", 80, "127.0.0.1", 40_022);

    for (int i = 0; i < Connection.MAX_DETECTION_ATTEMPTS + 2; i++) {
      dataEvent(server, SocketEvent.DIRECTION_INGRESS, new byte[0], 0); // EOF before anything
      dataEvent(server, SocketEvent.DIRECTION_EGRESS, new byte[0], 4096); // sendfile: nothing captured
    }
    read(server, "GET / HTTP/1.1\r\n\r\n");
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(stats.snapshot().connectionsNotHttp()).isZero();
    assertThat(exchanges).hasSize(1);
  }

  @Test
  void http2PrefaceIsCountedNotParsed() {
    Conn client = conn(0x7300, 503, "nghttp", "127.0.0.1", 40_023, "127.0.0.1", 8443);

    write(client, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0012\u0004\u0000\u0000\u0000\u0000\u0000");
    read(client, "\u0000\u0000\u0000\u0004\u0000\u0000\u0000\u0000\u0000");

    assertThat(stats.snapshot().connectionsHttp2()).isEqualTo(1);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
    assertThat(stats.snapshot().connectionsNotHttp()).isZero();
    assertThat(exchanges).isEmpty();
  }

  @Test
  void sixtyFourKibHeaderFailsItsConnectionOnly() {
    Conn big = conn(0x8000, 600, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_030);
    Conn fine = conn(0x8100, 600, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_031);
    String head = "GET /big HTTP/1.1\r\nX-Big: " + "x".repeat(64 * 1024) + "\r\n\r\n";

    read(fine, "GET /fine HTTP/1.1\r\n");
    // Reads of at most MAX_CAPTURE bytes, all captured.
    for (int from = 0; from < head.length(); from += SocketEvent.MAX_CAPTURE) {
      read(big, head.substring(from, Math.min(head.length(), from + SocketEvent.MAX_CAPTURE)));
      if (from == SocketEvent.MAX_CAPTURE) {
        read(fine, "Host: h\r\n\r\n");
      }
    }
    assertThat(stats.snapshot().http1ParseFailures()).isEqualTo(1);
    write(big, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
    read(big, "GET /again HTTP/1.1\r\n\r\n");
    write(fine, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).singleElement().satisfies(e -> assertThat(e.request().target()).isEqualTo("/fine"));
    assertThat(stats.snapshot().http1ParseFailures()).as("a failed connection is counted once").isEqualTo(1);
  }

  @Test
  void captureCutInsideAHeadFailsTheConnection() {
    Conn server = conn(0x8200, 601, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_032);
    byte[] head = ("GET /cut HTTP/1.1\r\nX-Big: " + "y".repeat(20_000) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);

    dataEvent(server, SocketEvent.DIRECTION_INGRESS, Arrays.copyOf(head, SocketEvent.MAX_CAPTURE), head.length);

    assertThat(stats.snapshot().http1ParseFailures()).isEqualTo(1);
  }

  @Test
  void bodiesBeyondTheCaptureAreSkipped() {
    Conn server = conn(0x8300, 602, "nginx", "127.0.0.1", 80, "127.0.0.1", 40_033);
    byte[] upload = ("POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + "u".repeat(100_000))
        .getBytes(StandardCharsets.US_ASCII);

    // The request's body is cut at the capture limit; the response body goes out by sendfile.
    dataEvent(server, SocketEvent.DIRECTION_INGRESS, Arrays.copyOf(upload, SocketEvent.MAX_CAPTURE), upload.length);
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n");
    assertThat(exchanges).isEmpty();
    Fed sendfile = dataEvent(server, SocketEvent.DIRECTION_EGRESS, new byte[0], 50_000);

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/upload");
      assertThat(e.endNanos()).isEqualTo(sendfile.exit());
    });
    read(server, "GET /next HTTP/1.1\r\n\r\n");
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).hasSize(2);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void aChunkLargerThanTheCaptureKeepsItsFramingThroughTheTail() {
    // python's http.server writes size line, data and CRLF of a chunk in one write.
    Conn server = conn(0x8400, 603, "python3", "127.0.0.1", 8000, "127.0.0.1", 40_034);
    read(server, "GET /chunked HTTP/1.1\r\n\r\n");
    write(server, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    kernelCut(server, SocketEvent.DIRECTION_EGRESS, "19000\r\n" + "x".repeat(0x19000) + "\r\n");
    Fed last = write(server, "0\r\n\r\n");
    read(server, "GET /after HTTP/1.1\r\n\r\n");
    write(server, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/chunked", "/after");
    assertThat(exchanges.getFirst().endNanos()).isEqualTo(last.exit());
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void manyChunksInOneLargeReadEndAtTheLastChunkInTheTail() {
    // curl reads 100 KiB at a time: most chunk boundaries fall where the capture was cut.
    Conn client = conn(0x8500, 604, "curl", "127.0.0.1", 40_035, "127.0.0.1", 8000);
    write(client, "GET /many HTTP/1.1\r\nHost: x\r\n\r\n");
    StringBuilder body = new StringBuilder("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 60; i++) {
      body.append("3e8\r\n").append("y".repeat(1000)).append("\r\n");
    }
    kernelCut(client, SocketEvent.DIRECTION_INGRESS, body.toString());
    assertThat(exchanges).as("the body is not over yet").isEmpty();
    Fed end = kernelCut(client, SocketEvent.DIRECTION_INGRESS,
        ("3e8\r\n" + "z".repeat(1000) + "\r\n").repeat(40) + "0\r\n\r\n");

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/many");
      assertThat(e.endNanos()).isEqualTo(end.exit());
    });
    write(client, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    read(client, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assertThat(exchanges).hasSize(2);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void switchingProtocolsEndsHttp1ParsingWithoutFailures() {
    Conn server = conn(0x8400, 603, "ws-server", "127.0.0.1", 8080, "127.0.0.1", 40_034);

    read(server, "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    Fed switched = write(server, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    dataEvent(server, SocketEvent.DIRECTION_INGRESS, new byte[] {(byte) 0x81, (byte) 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 11);
    dataEvent(server, SocketEvent.DIRECTION_EGRESS, new byte[] {(byte) 0x81, 0x02, 'h', 'i'}, 4);
    close(server);

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.response().status()).isEqualTo(101);
      assertThat(e.endNanos()).isEqualTo(switched.exit());
    });
    assertThat(stats.snapshot()).isEqualTo(counts().events(5).connectionsTracked(1).exchanges(1).build());
  }

  @Test
  void connectTunnelEndsTheExchangeAtTheEstablishedResponse() {
    Conn client = conn(0x8500, 604, "curl", "127.0.0.1", 40_035, "127.0.0.1", 3128);

    Fed connect = write(client, "CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n");
    Fed established = read(client, "HTTP/1.1 200 Connection Established\r\n\r\n");
    // RFC 9112 §6.3 rule 2: the tunnel starts right after that head; it carries TLS, not HTTP/1.
    dataEvent(client, SocketEvent.DIRECTION_EGRESS, tlsRecord(1), 64);
    dataEvent(client, SocketEvent.DIRECTION_INGRESS, tlsRecord(2), 64);

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().method()).isEqualTo("CONNECT");
      assertThat(e.request().target()).isEqualTo("db.example:443");
      assertThat(e.response().status()).isEqualTo(200);
      assertThat(e.startNanos()).isEqualTo(connect.enter());
      assertThat(e.endNanos()).isEqualTo(established.exit());
    });
    close(client);
    assertThat(exchanges).hasSize(1);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
    assertThat(stats.snapshot().incompleteExchanges()).isZero();
  }

  @Test
  void refusedConnectIsAnOrdinaryExchange() {
    Conn client = conn(0x8600, 605, "curl", "127.0.0.1", 40_036, "127.0.0.1", 3128);

    write(client, "CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n");
    read(client, "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied");
    write(client, "GET http://ok.example/ HTTP/1.1\r\nHost: ok.example\r\n\r\n");
    read(client, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).extracting(e -> e.response().status()).containsExactly(403, 200);
  }

  @Test
  void pipelineOverflowGivesUpOnTheConnectionOnce() {
    Conn client = conn(0x8700, 606, "bench", "127.0.0.1", 40_037, "127.0.0.1", 8080);
    StringBuilder requests = new StringBuilder();
    for (int i = 0; i < Http1Exchanges.MAX_PIPELINED + 6; i++) {
      requests.append("GET /p").append(i).append(" HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    write(client, requests.toString());
    read(client, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(stats.snapshot().pipelineOverflows()).isEqualTo(1);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
    assertThat(exchanges).isEmpty();
  }

  // ---------------------------------------------------------------------------------------------
  // Connection lifecycle

  @Test
  void connectionClosedMidRequestIsIncomplete() {
    Conn midHead = conn(0x9000, 700, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_040);
    Conn midBody = conn(0x9100, 700, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_041);
    Conn unanswered = conn(0x9200, 700, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_042);

    read(midHead, "GET /half HTTP/1.1\r\nHo");
    Fed midBodyStart = read(midBody, "POST /half HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
    read(unanswered, "GET /never-answered HTTP/1.1\r\n\r\n");
    write(unanswered, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    close(midHead);
    long midBodyClosed = close(midBody);
    close(unanswered);

    // A request whose head was read is an exchange, ended by the close: a half head is not.
    assertThat(exchanges).hasSize(2);
    assertThat(exchanges.get(0)).satisfies(e -> {
      assertThat(e.request().method()).isEqualTo("POST");
      assertThat(e.response().status()).isZero();
      assertThat(e.streamError()).isEqualTo(HttpExchange.CONNECTION_CLOSED);
      assertThat(e.startNanos()).isEqualTo(midBodyStart.exit());
      assertThat(e.endNanos()).isEqualTo(midBodyClosed);
    });
    assertThat(exchanges.get(1)).satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/never-answered");
      assertThat(e.response().status()).as("the head that was written").isEqualTo(200);
      assertThat(e.streamError()).isEqualTo(HttpExchange.RESPONSE_INCOMPLETE);
    });
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(3);
    assertThat(tracker.size()).isZero();
  }

  @Test
  void aClientThatClosesBeforeTheResponseStillHasItsExchange() {
    Conn client = conn(0x9050, 704, "curl", "127.0.0.1", 40_046, "127.0.0.1", 8080);
    open(client, SocketEvent.ORIGIN_CONNECT);

    Fed sent = write(client, "GET /slow HTTP/1.1\r\nHost: h:8080\r\n\r\n");
    long closed = close(client); // curl --max-time

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.peer().role()).isEqualTo(Peer.Role.CLIENT);
      assertThat(e.streamError()).isEqualTo(HttpExchange.CONNECTION_CLOSED);
      assertThat(e.startNanos()).isEqualTo(sent.enter());
      assertThat(e.endNanos()).isEqualTo(closed);
      assertThat(e.requestSequence()).isEqualTo(sent.seq());
    });
  }

  /** A restart (the kernel lost its place: a Go TLS read it did not see) is no close: nothing is ended. */
  @Test
  void aRestartEndsNoExchange() {
    Conn client = conn(0x9055, 708, "go-client", "127.0.0.1", 40_050, "127.0.0.1", 8443);
    write(client, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    close(client, SocketEvent.FLAG_RESTART);

    assertThat(exchanges).isEmpty();
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(1);
    // A write that began before the restart, reported after it (Go reports a call when it returns):
    // part of what was lost, never the request of the next response.
    long restartedAt = clock;
    feed(record(client, SocketEvent.DIRECTION_EGRESS, "GET /lost HTTP/1.1\r\nHost: h\r\n\r\n"
        .getBytes(StandardCharsets.ISO_8859_1), 31, restartedAt - 5, clock += 10, client.egressSeq));
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(2);
    write(client, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    read(client, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).singleElement().satisfies(e -> assertThat(e.request().target()).isEqualTo("/next"));
  }

  /**
   * Overload: the kernel shed a keep-alive connection (the response to /a did not fit in the ring
   * buffer) and follows it again from the next request, flagged. /a is lost, counted, and never
   * paired with /b's response.
   */
  @Test
  void aConnectionShedUnderOverloadIsFollowedAgainFromTheFlaggedRequest() {
    Conn server = conn(0x9070, 709, "nginx", "127.0.0.1", 8080, "127.0.0.1", 40_060);
    read(server, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    server.egressSeq += 38; // the response to /a, lost in the kernel
    byte[] next = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
    feed(SocketEventEncoder.data(SocketEvent.DIRECTION_INGRESS, next).flags(SocketEvent.FLAG_LOST_BEFORE)
        .process(server.tgid, server.tid, server.comm).socket(server.sock, server.fd)
        .endpoints(server.localAddress, server.localPort, server.remoteAddress, server.remotePort)
        .time(clock += 10, clock += 7).sequence(server.ingressSeq).totalLength(next.length).encode());
    write(server, "HTTP/1.1 204 No Content\r\n\r\n");

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/b");
      assertThat(e.response().status()).isEqualTo(204);
    });
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(1);
  }

  /** A connection that closes while shed ends nothing: its open request's answer was lost, not absent. */
  @Test
  void aCloseWhileShedEndsNoExchange() {
    Conn client = conn(0x9075, 710, "curl", "127.0.0.1", 40_061, "127.0.0.1", 8080);
    write(client, "GET /lost HTTP/1.1\r\nHost: h\r\n\r\n");
    close(client, SocketEvent.FLAG_LOST_BEFORE);

    assertThat(exchanges).isEmpty();
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(1);
  }

  @Test
  void aClientThatReadsOnlyTheHeadKeepsTheStatus() {
    Conn client = conn(0x9060, 705, "wget", "127.0.0.1", 40_047, "127.0.0.1", 8080);

    write(client, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    read(client, "HTTP/1.1 404 Not Found\r\nContent-Length: 5000\r\n\r\n<html>");
    close(client); // wget on a 404: the body is not read

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.response().status()).isEqualTo(404);
      assertThat(e.streamError()).isEqualTo(HttpExchange.RESPONSE_INCOMPLETE);
    });
  }

  /** A client that reads the status line, a byte at a time, and no more: the status is what it read. */
  @Test
  void aClientThatReadsOnlyTheStatusLineKeepsItsStatus() {
    Conn client = conn(0x9065, 709, "python3", "127.0.0.1", 40_051, "127.0.0.1", 8080);
    Conn halfLine = conn(0x9066, 709, "python3", "127.0.0.1", 40_052, "127.0.0.1", 8080);

    write(client, "GET /large HTTP/1.1\r\nHost: h\r\n\r\n");
    for (char c : "HTTP/1.1 200 OK\r\n".toCharArray()) {
      read(client, String.valueOf(c));
    }
    close(client);
    write(halfLine, "GET /large HTTP/1.1\r\nHost: h\r\n\r\n");
    read(halfLine, "HTTP/1.1 20");
    close(halfLine);

    assertThat(exchanges).extracting(e -> e.response().status() + " " + e.streamError())
        .containsExactly("200 response_incomplete", "0 connection_closed");
  }

  @Test
  void pipelineOverflowInventsNoExchangesAtTheClose() {
    Conn client = conn(0x9070, 706, "bench", "127.0.0.1", 40_048, "127.0.0.1", 8080);
    StringBuilder requests = new StringBuilder();
    for (int i = 0; i < Http1Exchanges.MAX_PIPELINED + 1; i++) {
      requests.append("GET /p").append(i).append(" HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    write(client, requests.toString());
    close(client);

    assertThat(exchanges).as("their responses were never followed: nothing is known of them").isEmpty();
  }

  /** What the kernel sends for one syscall whose head is longer than the capture: pieces, seq by seq. */
  @Test
  void aHeadLongerThanTheCaptureComesInPiecesAndParsesWhole() {
    Conn server = conn(0x9080, 707, "node", "127.0.0.1", 8080, "127.0.0.1", 40_049);
    String head = "POST /big-head HTTP/1.1\r\nCookie: " + "c".repeat(40_000) + "\r\nHost: svc:8080\r\n"
        + "traceparent: " + TRACEPARENT + "\r\nUser-Agent: curl/8\r\nContent-Length: 4\r\n\r\nbody";
    Fed first = null;
    for (int from = 0; from < head.length(); from += SocketEvent.MAX_CAPTURE) {
      Fed piece = read(server, head.substring(from, Math.min(head.length(), from + SocketEvent.MAX_CAPTURE)));
      first = first == null ? piece : first;
    }
    write(server, "HTTP/1.1 204 No Content\r\n\r\n");

    Fed start = first;
    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/big-head");
      assertThat(e.request().authority()).isEqualTo("svc:8080");
      assertThat(e.request().traceparent()).isEqualTo(TRACEPARENT);
      assertThat(e.request().userAgent()).isEqualTo("curl/8");
      assertThat(e.response().status()).isEqualTo(204);
      assertThat(e.requestSequence()).isEqualTo(start.seq());
    });
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void closeDelimitedResponseCompletesAtConnClose() {
    Conn server = conn(0x9300, 701, "python3", "127.0.0.1", 8000, "127.0.0.1", 40_043);
    open(server, SocketEvent.ORIGIN_ACCEPT);

    read(server, "GET /file.txt HTTP/1.0\r\nUser-Agent: Wget/1.21\r\n\r\n");
    write(server, "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12\r\nContent-type: text/plain\r\n\r\n");
    Fed lastWrite = write(server, "the whole file");
    assertThat(exchanges).as("only the close ends this response").isEmpty();
    close(server);

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.protocolVersion()).isEqualTo("1.0");
      assertThat(e.response().status()).isEqualTo(200);
      // HttpExchange.endNanos: the last response byte left.
      assertThat(e.endNanos()).isEqualTo(lastWrite.exit());
    });
    assertThat(stats.snapshot().incompleteExchanges()).isZero();
  }

  @Test
  void closeDelimitedResponseCompletesAtEndOfStreamOnTheClient() {
    Conn client = conn(0x9400, 702, "wget", "127.0.0.1", 40_044, "127.0.0.1", 8000);

    write(client, "GET /file.txt HTTP/1.0\r\n\r\n");
    read(client, "HTTP/1.0 200 OK\r\n\r\nsome");
    read(client, " bytes");
    assertThat(exchanges).isEmpty();
    Fed eof = dataEvent(client, SocketEvent.DIRECTION_INGRESS, new byte[0], 0);

    assertThat(exchanges).singleElement().satisfies(e -> assertThat(e.endNanos()).isEqualTo(eof.exit()));
    close(client);
    assertThat(exchanges).hasSize(1);
  }

  @Test
  void endOfStreamFromTheClientDoesNotDisturbTheServer() {
    Conn server = conn(0x9500, 703, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_045);

    read(server, "GET /then-shutdown-wr HTTP/1.1\r\n\r\n");
    dataEvent(server, SocketEvent.DIRECTION_INGRESS, new byte[0], 0); // shutdown(SHUT_WR) by the client
    write(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).hasSize(1);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
  }

  @Test
  void connOpenOnATrackedSocketStartsAfresh() {
    Conn old = conn(0xa000, 800, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_050);
    open(old, SocketEvent.ORIGIN_ACCEPT);
    read(old, "GET /old HTTP/1.1\r\nHo");

    // The kernel reused the socket's memory for a new connection: same key, new peer.
    Conn reused = conn(0xa000, 801, "other", "127.0.0.1", 9090, "127.0.0.1", 40_051);
    open(reused, SocketEvent.ORIGIN_ACCEPT);
    read(reused, "GET /new HTTP/1.1\r\nHost: h\r\n\r\n");
    write(reused, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).singleElement().satisfies(e -> {
      assertThat(e.request().target()).isEqualTo("/new");
      assertThat(e.peer().tgid()).isEqualTo(801);
      assertThat(e.peer().localPort()).isEqualTo(9090);
    });
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(1);
    assertThat(stats.snapshot().connectionsTracked()).isEqualTo(2);
    assertThat(stats.snapshot().http1ParseFailures()).isZero();
    assertThat(tracker.size()).isEqualTo(1);
  }

  @Test
  void malformedRecordsAreCounted() {
    Conn c = conn(0xb000, 900, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_060);
    byte[] good = record(c, SocketEvent.DIRECTION_INGRESS, "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
        18, 1, 2, 0);

    feed(Arrays.copyOf(good, 50)); // shorter than the header
    feed(new byte[0]);
    feed(Arrays.copyOf(good, good.length - 1)); // shorter than its stated payload
    byte[] unknownType = good.clone();
    unknownType[0] = 9;
    feed(unknownType);

    assertThat(stats.snapshot()).isEqualTo(counts().events(4).malformedEvents(4).build());
    assertThat(tracker.size()).isZero();
    assertThat(exchanges).isEmpty();

    feed(good);
    assertThat(tracker.size()).isEqualTo(1);
    assertThat(stats.snapshot().malformedEvents()).isEqualTo(4);
  }

  @Test
  void boundedByMaxConnectionsEvictingTheLeastRecent() {
    tracker = new ConnectionTracker(exchanges::add, stats, 2, ConnectionTracker.DEFAULT_IDLE_TIMEOUT_NANOS);
    Conn a = conn(0xc000, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_070);
    Conn b = conn(0xc100, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_071);
    Conn c = conn(0xc200, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_072);

    open(a, SocketEvent.ORIGIN_ACCEPT);
    open(b, SocketEvent.ORIGIN_ACCEPT);
    read(b, "GET /b HTTP/1.1\r\n\r\n");
    read(a, "GET /a HTTP/1.1\r\n\r\n"); // a is now the most recent
    open(c, SocketEvent.ORIGIN_ACCEPT);

    assertThat(tracker.size()).isEqualTo(2);
    assertThat(stats.snapshot().connectionsEvicted()).isEqualTo(1);
    assertThat(stats.snapshot().incompleteExchanges()).as("b's request").isEqualTo(1);

    write(a, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).singleElement().satisfies(e -> assertThat(e.request().target()).isEqualTo("/a"));

    // b comes back as a stranger: its response has no request any more, and c (least recent) goes.
    write(b, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).hasSize(1);
    assertThat(stats.snapshot().unmatchedResponses()).isEqualTo(1);
    assertThat(stats.snapshot().connectionsEvicted()).isEqualTo(2);
    assertThat(stats.snapshot().connectionsTracked()).isEqualTo(4);
    assertThat(tracker.size()).isEqualTo(2);
  }

  @Test
  void evictingAnOpenCloseDelimitedResponseNeverCompletesIt() {
    long timeout = 5_000_000;
    tracker = new ConnectionTracker(exchanges::add, stats, 100, timeout);
    Conn server = conn(0x9400, 702, "python3", "127.0.0.1", 8000, "127.0.0.1", 40_044);
    open(server, SocketEvent.ORIGIN_ACCEPT);
    read(server, "GET /stream HTTP/1.0\r\n\r\n");
    Fed last = write(server, "HTTP/1.0 200 OK\r\nContent-type: text/plain\r\n\r\nstill streaming");

    tracker.evictIdle(last.exit() + timeout + 1);

    assertThat(exchanges).as("the response had not ended: no span may claim it did").isEmpty();
    assertThat(stats.snapshot().connectionsEvicted()).isEqualTo(1);
    assertThat(stats.snapshot().incompleteExchanges()).isEqualTo(1);
  }

  @Test
  void evictIdleDropsConnectionsIdleLongerThanTheTimeout() {
    long timeout = 5_000_000;
    tracker = new ConnectionTracker(exchanges::add, stats, 100, timeout);
    Conn idle = conn(0xd000, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_080);
    Conn exactlyAtTimeout = conn(0xd100, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_081);
    Conn busy = conn(0xd200, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_082);

    read(idle, "GET /idle HTTP/1.1\r\n\r\n");
    clock += 1_000_000;
    Fed edge = read(exactlyAtTimeout, "GET /edge HTTP/1.1\r\n\r\n");
    clock += 3_000_000;
    read(busy, "GET /busy HTTP/1.1\r\n\r\n");

    tracker.evictIdle(edge.exit() + timeout);

    assertThat(tracker.size()).isEqualTo(2);
    assertThat(stats.snapshot().connectionsEvicted()).isEqualTo(1);
    assertThat(stats.snapshot().incompleteExchanges()).as("the idle one's request").isEqualTo(1);

    write(exactlyAtTimeout, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    write(busy, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/edge", "/busy");

    tracker.evictIdle(clock + timeout + 1);
    assertThat(tracker.size()).isZero();
    assertThat(stats.snapshot().connectionsEvicted()).isEqualTo(3);
  }

  @Test
  void aThrowingSinkCostsOnlyItsConnection() {
    Consumer<HttpExchange> throwOnBoom = e -> {
      if (e.request().target().startsWith("/boom")) {
        throw new IllegalStateException("sink bug");
      }
      exchanges.add(e);
    };
    tracker = new ConnectionTracker(throwOnBoom::accept, stats);
    Conn boom = conn(0xe000, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_090);
    Conn fine = conn(0xe100, 1, "srv", "127.0.0.1", 8080, "127.0.0.1", 40_091);

    read(boom, "GET /boom HTTP/1.1\r\n\r\n");
    read(fine, "GET /fine HTTP/1.1\r\n\r\n");
    assertThatCode(() -> write(boom, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).doesNotThrowAnyException();
    write(fine, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/fine");
    assertThat(tracker.size()).as("the connection whose exchange threw is dropped").isEqualTo(1);
    assertThat(stats.snapshot().internalErrors()).as("and counted").isEqualTo(1);

    // The same socket, next request: tracked afresh.
    read(boom, "GET /after HTTP/1.1\r\n\r\n");
    write(boom, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assertThat(exchanges).extracting(e -> e.request().target()).containsExactly("/fine", "/after");
    assertThat(stats.snapshot().connectionsTracked()).isEqualTo(3);
  }

  @Test
  void aSinkThrowingAtCloseOrEvictionDoesNotEscape() {
    tracker = new ConnectionTracker(e -> {
      throw new IllegalStateException("sink bug");
    }, stats, 1, ConnectionTracker.DEFAULT_IDLE_TIMEOUT_NANOS);
    Conn closing = conn(0xe200, 1, "srv", "127.0.0.1", 8000, "127.0.0.1", 40_092);
    Conn evicted = conn(0xe300, 1, "srv", "127.0.0.1", 8000, "127.0.0.1", 40_093);
    Conn newcomer = conn(0xe400, 1, "srv", "127.0.0.1", 8000, "127.0.0.1", 40_094);

    read(closing, "GET / HTTP/1.0\r\n\r\n");
    write(closing, "HTTP/1.0 200 OK\r\n\r\nuntil close");
    assertThatCode(() -> close(closing)).doesNotThrowAnyException();

    read(evicted, "GET / HTTP/1.0\r\n\r\n");
    write(evicted, "HTTP/1.0 200 OK\r\n\r\nuntil close");
    assertThatCode(() -> read(newcomer, "GET / HTTP/1.1\r\n\r\n")).doesNotThrowAnyException();

    assertThat(tracker.size()).isLessThanOrEqualTo(1);
  }

  // =============================================================================================
  // Harness

  /** One end of a TCP connection as one process sees it, with its own sequence numbers. */
  private static final class Conn {
    final long sock;
    final int fd;
    final int tgid;
    final String comm;
    final byte[] localAddress;
    final int localPort;
    final byte[] remoteAddress;
    final int remotePort;
    int tid;
    long ingressSeq = 1_000;
    long egressSeq = 500_000;

    Conn(long sock, int tgid, String comm, byte[] localAddress, int localPort, byte[] remoteAddress, int remotePort) {
      this.sock = sock;
      this.fd = (int) (sock & 0xff) + 3;
      this.tgid = tgid;
      this.tid = tgid;
      this.comm = comm;
      this.localAddress = localAddress;
      this.localPort = localPort;
      this.remoteAddress = remoteAddress;
      this.remotePort = remotePort;
    }
  }

  /** What a data event carried: its times, its first byte's sequence number, and its thread. */
  private record Fed(long enter, long exit, long seq, int tid) {}

  private static Conn conn(long sock, int tgid, String comm, String local, int localPort, String remote,
      int remotePort) {
    return new Conn(sock, tgid, comm, v4(local), localPort, v4(remote), remotePort);
  }

  private static byte[] v4(String dotted) {
    String[] p = dotted.split("\\.");
    return SocketEventEncoder.v4(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]),
        Integer.parseInt(p[3]));
  }

  private Fed read(Conn c, String payload) {
    byte[] bytes = payload.getBytes(StandardCharsets.ISO_8859_1);
    return dataEvent(c, SocketEvent.DIRECTION_INGRESS, bytes, bytes.length);
  }

  private Fed write(Conn c, String payload) {
    byte[] bytes = payload.getBytes(StandardCharsets.ISO_8859_1);
    return dataEvent(c, SocketEvent.DIRECTION_EGRESS, bytes, bytes.length);
  }

  /** A data event of {@code total} bytes moved, of which {@code captured} were copied. */
  private Fed dataEvent(Conn c, byte direction, byte[] captured, int total) {
    long enter = clock += 10;
    long exit = clock += 7;
    boolean ingress = direction == SocketEvent.DIRECTION_INGRESS;
    long seq = ingress ? c.ingressSeq : c.egressSeq;
    feed(record(c, direction, captured, total, enter, exit, seq));
    if (ingress) {
      c.ingressSeq = (c.ingressSeq + total) & 0xffff_ffffL;
    } else {
      c.egressSeq = (c.egressSeq + total) & 0xffff_ffffL;
    }
    return new Fed(enter, exit, seq, c.tid);
  }

  private static byte[] record(Conn c, byte direction, byte[] captured, int total, long enter, long exit, long seq) {
    return record(c, direction, captured, new byte[0], total, enter, exit, seq);
  }

  private static byte[] record(Conn c, byte direction, byte[] captured, byte[] tail, int total, long enter, long exit,
      long seq) {
    return SocketEventEncoder.data(direction, captured).tail(tail).process(c.tgid, c.tid, c.comm).socket(c.sock, c.fd)
        .endpoints(c.localAddress, c.localPort, c.remoteAddress, c.remotePort).time(enter, exit).sequence(seq)
        .totalLength(total).encode();
  }

  /** One syscall moving {@code whole}, recorded as the kernel does: the first MAX_CAPTURE bytes and the tail. */
  private Fed kernelCut(Conn c, byte direction, String whole) {
    byte[] bytes = whole.getBytes(StandardCharsets.ISO_8859_1);
    int captured = Math.min(bytes.length, SocketEvent.MAX_CAPTURE);
    int tail = Math.min(bytes.length - captured, SocketEvent.TAIL_BYTES);
    long enter = clock += 10;
    long exit = clock += 7;
    feed(record(c, direction, Arrays.copyOf(bytes, captured), Arrays.copyOfRange(bytes, bytes.length - tail, bytes.length),
        bytes.length, enter, exit, 0));
    return new Fed(enter, exit, 0, c.tid);
  }

  private void open(Conn c, byte origin) {
    long exit = clock += 10;
    feed(SocketEventEncoder.open(origin).process(c.tgid, c.tid, c.comm).socket(c.sock, c.fd)
        .endpoints(c.localAddress, c.localPort, c.remoteAddress, c.remotePort).time(0, exit).encode());
  }

  /** Returns when it closed. */
  private long close(Conn c) {
    return close(c, (byte) 0);
  }

  /** A close record with these flags (a restart, or a close while shed); returns its time. */
  private long close(Conn c, byte flags) {
    long exit = clock += 10;
    feed(SocketEventEncoder.close().flags(flags).process(c.tgid, c.tid, c.comm).socket(c.sock, c.fd)
        .endpoints(c.localAddress, c.localPort, c.remoteAddress, c.remotePort).time(0, exit).encode());
    return exit;
  }

  /** Hands a record to the tracker as the ring buffer does: inside a larger mapping, not at offset 0. */
  private void feed(byte[] record) {
    int before = 24;
    byte[] ring = new byte[before + record.length + 16];
    Arrays.fill(ring, (byte) 0x5a);
    System.arraycopy(record, 0, ring, before, record.length);
    tracker.onRecord(MemorySegment.ofArray(ring), before, record.length);
  }

  private static byte[] tlsRecord(int seed) {
    byte[] bytes = new byte[64];
    new Random(seed).nextBytes(bytes);
    bytes[0] = 0x17; // application data
    bytes[1] = 0x03;
    bytes[2] = 0x03;
    return bytes;
  }

  private static Counts counts() {
    return new Counts();
  }

  /** Expected counters: all zero but those named. */
  private static final class Counts {
    private long events;
    private long malformedEvents;
    private long connectionsTracked;
    private long exchanges;

    Counts events(long n) {
      events = n;
      return this;
    }

    Counts malformedEvents(long n) {
      malformedEvents = n;
      return this;
    }

    Counts connectionsTracked(long n) {
      connectionsTracked = n;
      return this;
    }

    Counts exchanges(long n) {
      exchanges = n;
      return this;
    }

    PipelineStats.Snapshot build() {
      return new PipelineStats.Snapshot(events, malformedEvents, connectionsTracked, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          exchanges, 0);
    }
  }
}
