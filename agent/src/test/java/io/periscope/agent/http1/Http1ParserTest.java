package io.periscope.agent.http1;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * In the netty codec tradition every input is fed whole, split into two pieces at every offset,
 * in random pieces (empty ones included), and byte by byte; every way must produce the same
 * listener events, each reported while the piece holding the byte that caused it is being fed.
 */
class Http1ParserTest {
  private static final String TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  private static final String TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  private static final String NEXT_GET = "GET /next HTTP/1.1\r\nHost: next\r\n\r\n";

  // ---------------------------------------------------------------------------------------------
  // Requests

  @Test
  void getWithoutBody() {
    String get = head("GET /index.html?q=1&r=2 HTTP/1.1", "Host: example.com:8080", "User-Agent: curl/8.5.0",
        "Accept: */*", "traceparent: " + TRACEPARENT, "tracestate: " + TRACESTATE);

    Outcome o = requests(input().text(get));

    assertThat(o.trace()).containsExactly("start@0", "head@" + (get.length() - 1), "end@" + (get.length() - 1));
    assertThat(o.failure()).isNull();
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
    Http1Head h = o.heads().getFirst();
    assertThat(h.isRequest()).isTrue();
    assertThat(h.isInterim()).isFalse();
    assertThat(h.method()).isEqualTo("GET");
    assertThat(h.target()).isEqualTo("/index.html?q=1&r=2");
    assertThat(h.status()).isZero();
    assertThat(h.minorVersion()).isEqualTo(1);
    assertThat(h.contentLength()).isEqualTo(-1);
    assertThat(h.chunked()).isFalse();
    assertThat(h.otherTransferEncoding()).isFalse();
    assertThat(h.connectionClose()).isFalse();
    assertThat(h.host()).isEqualTo("example.com:8080");
    assertThat(h.userAgent()).isEqualTo("curl/8.5.0");
    assertThat(h.traceparent()).isEqualTo(TRACEPARENT);
    assertThat(h.tracestate()).isEqualTo(TRACESTATE);
    assertThat(h.upgrade()).isNull();
    assertThat(o.answersHeadRequestCalls()).as("a request parser never asks about HEAD").isZero();
  }

  @Test
  void fieldsAConnectionRepeatsAreTheSameStringsWhileTheirBytesAre() {
    String first = head("GET /a HTTP/1.1", "Host: example.com", "User-Agent: curl/8.5.0");
    String again = head("get /b HTTP/1.1", "Host: example.com", "User-Agent: curl/8.6.0");
    String other = head("PURGE /c HTTP/1.1", "Host: other.example", "User-Agent: curl/8.6.0");

    List<Http1Head> h = requests(input().text(first + again + other)).heads();

    assertThat(h).extracting(Http1Head::method).containsExactly("GET", "get", "PURGE");
    assertThat(h).extracting(Http1Head::host).containsExactly("example.com", "example.com", "other.example");
    assertThat(h.get(1).host()).isSameAs(h.get(0).host());
    assertThat(h).extracting(Http1Head::userAgent).containsExactly("curl/8.5.0", "curl/8.6.0", "curl/8.6.0");
    assertThat(h.get(2).userAgent()).isSameAs(h.get(1).userAgent());
  }

  @Test
  void headerNamesAreCaseInsensitiveAndValuesTrimmed() {
    String get = head("GET http://example.com/absolute?x=1 HTTP/1.1", "HOST: \t example.com \t",
        "user-AGENT:Mozilla/5.0 (X11)", "TraceParent:  " + TRACEPARENT + "  ", "TRACESTATE: " + TRACESTATE,
        "content-LENGTH: 0");

    Outcome o = requests(input().text(get));

    Http1Head h = o.heads().getFirst();
    assertThat(h.target()).isEqualTo("http://example.com/absolute?x=1");
    assertThat(h.host()).isEqualTo("example.com");
    assertThat(h.userAgent()).isEqualTo("Mozilla/5.0 (X11)");
    assertThat(h.traceparent()).isEqualTo(TRACEPARENT);
    assertThat(h.tracestate()).isEqualTo(TRACESTATE);
    assertThat(h.contentLength()).isZero();
    assertThat(o.trace()).containsExactly("start@0", "head@" + (get.length() - 1), "end@" + (get.length() - 1));
  }

  @Test
  void postWithContentLengthBody() {
    String post = head("POST /api/items HTTP/1.1", "Host: api", "Content-Type: application/json",
        "Content-Length: 27") + "{\"name\":\"widget\",\"n\":12345}";

    Outcome o = requests(input().text(post).text(NEXT_GET));

    int headEnd = post.indexOf("\r\n\r\n") + 3;
    assertThat(o.trace()).containsExactly(
        "start@0", "head@" + headEnd, "end@" + (post.length() - 1),
        "start@" + post.length(), "head@" + (post.length() + NEXT_GET.length() - 1),
        "end@" + (post.length() + NEXT_GET.length() - 1));
    assertThat(o.heads().getFirst().method()).isEqualTo("POST");
    assertThat(o.heads().getFirst().contentLength()).isEqualTo(27);
    assertThat(o.heads().get(1).target()).isEqualTo("/next");
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void keepAliveSequenceOfThreeRequests() {
    String first = head("GET /one HTTP/1.1", "Host: h");
    String second = head("PUT /two HTTP/1.1", "Host: h", "Content-Length: 3") + "abc";
    String third = head("DELETE /three HTTP/1.1", "Host: h", "Content-Length: 0");

    Outcome o = requests(input().text(first).text(second).text(third));

    assertThat(o.heads()).extracting(Http1Head::method).containsExactly("GET", "PUT", "DELETE");
    assertThat(o.heads()).extracting(Http1Head::target).containsExactly("/one", "/two", "/three");
    assertThat(o.messageStarts()).containsExactly(0L, (long) first.length(), (long) (first + second).length());
    assertThat(o.messageEnds()).containsExactly(first.length() - 1L, (first + second).length() - 1L,
        (first + second + third).length() - 1L);
  }

  @Test
  void pipelinedRequestsInOnePieceReportOffsetsWithinThatPiece() {
    String a = head("GET /a HTTP/1.1", "Host: h");
    String b = head("POST /b HTTP/1.1", "Host: h", "Content-Length: 4") + "body";
    String c = head("GET /c HTTP/1.1", "Host: h");
    byte[] all = ascii("junk-before" + a + b + c + "junk-after");
    Recorder recorder = new Recorder(false);
    Http1Parser parser = Http1Parser.requests(recorder);

    // One syscall's worth of bytes, in the middle of a larger buffer.
    recorder.beginPiece(0, a.length() + b.length() + c.length());
    parser.feed(MemorySegment.ofArray(all), "junk-before".length(), (a + b + c).length(), 0);

    assertThat(recorder.offsetsInPiece).containsExactly(0L, (long) a.length(), (long) (a + b).length());
    assertThat(recorder.heads).extracting(Http1Head::target).containsExactly("/a", "/b", "/c");
    assertThat(recorder.ends).isEqualTo(3);
    assertThat(parser.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void chunkedRequestWithExtensionsAndTrailers() {
    String post = head("POST /upload HTTP/1.1", "Host: up", "Transfer-Encoding: chunked")
        + "5;name=value\r\nhello\r\n"
        + "6 ; ext=\"quoted;value\"\r\n world\r\n"
        + "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        + "0;last=1\r\n"
        + "X-Checksum: abc\r\nX-Other: d\r\n\r\n";

    Outcome o = requests(input().text(post).text(NEXT_GET));

    Http1Head h = o.heads().getFirst();
    assertThat(h.chunked()).isTrue();
    assertThat(h.contentLength()).isEqualTo(-1);
    assertThat(o.messageEnds()).containsExactly(post.length() - 1L, post.length() + NEXT_GET.length() - 1L);
    assertThat(o.heads().get(1).target()).isEqualTo("/next");
  }

  @Test
  void transferEncodingChunkedOverridesContentLength() {
    String post = head("POST /smuggle HTTP/1.1", "Host: h", "Content-Length: 100", "Transfer-Encoding: gzip, chunked")
        + "3\r\nabc\r\n0\r\n\r\n";

    Outcome o = requests(input().text(post).text(NEXT_GET));

    assertThat(o.heads().getFirst().chunked()).isTrue();
    assertThat(o.heads().getFirst().contentLength()).isEqualTo(-1);
    assertThat(o.messageEnds()).containsExactly(post.length() - 1L, post.length() + NEXT_GET.length() - 1L);
  }

  @Test
  void leadingEmptyLinesBeforeARequestLineAreIgnored() {
    String post = head("POST /p HTTP/1.1", "Content-Length: 2") + "ok";
    // Some clients send a stray CRLF after a body (RFC 9112 §2.2).
    String stream = "\r\n\n\r\n" + post + "\r\n" + NEXT_GET;

    Outcome o = requests(input().text(stream));

    assertThat(o.messageStarts()).containsExactly(5L, 5L + post.length() + 2);
    assertThat(o.heads()).extracting(Http1Head::target).containsExactly("/p", "/next");
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void lfOnlyLineEndings() {
    String get = "GET /lf HTTP/1.1\nHost: lf.example\nUser-Agent: nc\n\n";
    String post = "POST /lf-chunked HTTP/1.1\nTransfer-Encoding: chunked\n\n5\nhello\n0\nX-T: 1\n\n";
    String mixed = "GET /mixed HTTP/1.1\r\nHost: m\n\r\n";

    Outcome o = requests(input().text(get).text(post).text(mixed));

    assertThat(o.heads()).extracting(Http1Head::target).containsExactly("/lf", "/lf-chunked", "/mixed");
    assertThat(o.heads().getFirst().host()).isEqualTo("lf.example");
    assertThat(o.heads().getFirst().userAgent()).isEqualTo("nc");
    assertThat(o.heads().get(2).host()).isEqualTo("m");
    assertThat(o.messageEnds()).containsExactly(get.length() - 1L, (get + post).length() - 1L,
        (get + post + mixed).length() - 1L);
  }

  @Test
  void headersSplitAcrossPiecesKeepEveryField() {
    // Every split offset falls somewhere in here: inside names, values, CR LF pairs and the final empty line.
    String get = head("GET /split HTTP/1.1", "Host: split.example", "User-Agent: agent/1.0",
        "traceparent: " + TRACEPARENT, "X-Filler: " + "f".repeat(300), "tracestate: " + TRACESTATE,
        "Connection: close");

    Outcome o = requests(input().text(get));

    Http1Head h = o.heads().getFirst();
    assertThat(h.host()).isEqualTo("split.example");
    assertThat(h.userAgent()).isEqualTo("agent/1.0");
    assertThat(h.traceparent()).isEqualTo(TRACEPARENT);
    assertThat(h.tracestate()).isEqualTo(TRACESTATE);
    assertThat(h.connectionClose()).isTrue();
  }

  @Test
  void sixteenKibHeaderSpreadOverManyPieces() {
    String get = head("GET /big HTTP/1.1", "X-Big: " + "b".repeat(16 * 1024), "Host: after-the-big-one",
        "User-Agent: big/1");
    Input in = input().text(get).text(NEXT_GET);

    Outcome o = requests(in);
    // And explicitly in many small pieces of 1..64 bytes.
    Outcome small = feed(in, true, Set.of(), randomCuts(in.length(), 64, new Random(16)), null, null);

    assertThat(o.heads()).extracting(Http1Head::host).containsExactly("after-the-big-one", "next");
    assertThat(o.heads().getFirst().userAgent()).isEqualTo("big/1");
    assertThat(small.heads()).isEqualTo(o.heads());
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void headOfExactlyMaxHeadBytesIsAccepted() {
    String prefix = "GET /max HTTP/1.1\r\nX-Big: ";
    String filler = "m".repeat(Http1Parser.MAX_HEAD_BYTES - prefix.length() - 4);
    String get = prefix + filler + "\r\n\r\n";
    assertThat(get).hasSize(Http1Parser.MAX_HEAD_BYTES);

    Outcome o = requests(input().text(get).text(NEXT_GET));

    assertThat(o.failure()).isNull();
    assertThat(o.heads()).extracting(Http1Head::target).containsExactly("/max", "/next");
  }

  @Test
  void headLongerThanMaxHeadBytesFails() {
    String prefix = "GET /too-big HTTP/1.1\r\nX-Big: ";
    String filler = "m".repeat(Http1Parser.MAX_HEAD_BYTES - prefix.length() - 3);
    String get = prefix + filler + "\r\n\r\n";
    assertThat(get).hasSize(Http1Parser.MAX_HEAD_BYTES + 1);

    Outcome o = requests(input().text(get).text(NEXT_GET));

    assertThat(o.failure()).contains("message head longer than " + Http1Parser.MAX_HEAD_BYTES);
    assertThat(o.trace()).containsExactly("start@0");
    assertIgnoresEverythingAfterFailure(o);
  }

  @Test
  void headThatNeverEndsFailsOnceItPassesTheLimit() {
    Outcome o = requests(input().text("GET /endless HTTP/1.1\r\nX-A: " + "x".repeat(Http1Parser.MAX_HEAD_BYTES)));

    assertThat(o.failed()).isTrue();
    assertThat(o.failure()).contains("longer than");
  }

  @Test
  void authorizationAndCookieValuesAreNeverKept() {
    String get = head("GET /private HTTP/1.1", "Host: h", "Authorization: Bearer s3cr3t-t0ken",
        "Cookie: session=c00kie-value; other=c00kie-two", "Proxy-Authorization: Basic pr0xy-s3cr3t");
    String response = head("HTTP/1.1 200 OK", "Set-Cookie: id=set-c00kie; HttpOnly", "Content-Length: 0");

    Outcome request = requests(input().text(get));
    Outcome reply = responses(input().text(response), Set.of());

    for (Http1Head h : List.of(request.heads().getFirst(), reply.heads().getFirst())) {
      assertThat(h.toString()).doesNotContain("s3cr3t", "t0ken", "c00kie", "pr0xy", "Bearer", "session");
    }
    assertThat(request.heads().getFirst().target()).isEqualTo("/private");
    assertThat(reply.heads().getFirst().status()).isEqualTo(200);
  }

  // ---------------------------------------------------------------------------------------------
  // Responses

  @Test
  void responseWithContentLength() {
    String ok = head("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5") + "hello";
    String notFound = head("HTTP/1.1 404 Not Found", "Content-Length: 0");
    String noReason = head("HTTP/1.1 500", "Content-Length: 1") + "x";

    Outcome o = responses(input().text(ok).text(notFound).text(noReason), Set.of());

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(200, 404, 500);
    assertThat(o.heads()).allSatisfy(h -> {
      assertThat(h.isRequest()).isFalse();
      assertThat(h.method()).isNull();
      assertThat(h.target()).isNull();
    });
    assertThat(o.messageEnds()).containsExactly(ok.length() - 1L, (ok + notFound).length() - 1L,
        (ok + notFound + noReason).length() - 1L);
    assertThat(o.answersHeadRequestCalls()).isEqualTo(3);
  }

  @Test
  void chunkedResponse() {
    String chunked = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Type: text/html")
        + "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        + "a\r\n0123456789\r\n"
        + "000\r\n\r\n";
    String next = head("HTTP/1.1 201 Created", "Content-Length: 2") + "ok";

    Outcome o = responses(input().text(chunked).text(next), Set.of());

    assertThat(o.heads().getFirst().chunked()).isTrue();
    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(200, 201);
    assertThat(o.messageEnds()).containsExactly(chunked.length() - 1L, (chunked + next).length() - 1L);
  }

  @Test
  void chunkSizeWithManyLeadingZerosIsStillASize() {
    String chunked = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")
        + "0000000000000000000a\r\n0123456789\r\n0\r\n\r\n";

    Outcome o = responses(input().text(chunked), Set.of());

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(200);
    assertThat(o.messageEnds()).containsExactly(chunked.length() - 1L);
  }

  @Test
  void responseToHeadRequestHasNoBody() {
    String headResponse = head("HTTP/1.1 200 OK", "Content-Length: 1234", "Content-Type: text/html");
    String chunkedHeadResponse = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked");
    String getResponse = head("HTTP/1.1 404 Not Found", "Content-Length: 4") + "nope";

    Outcome o = responses(input().text(headResponse).text(chunkedHeadResponse).text(getResponse), Set.of(0, 1));

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(200, 200, 404);
    assertThat(o.heads().getFirst().contentLength()).isEqualTo(1234);
    assertThat(o.messageEnds()).containsExactly(headResponse.length() - 1L,
        (headResponse + chunkedHeadResponse).length() - 1L,
        (headResponse + chunkedHeadResponse + getResponse).length() - 1L);
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void interimResponsesPrecedeTheFinalOne() {
    String cont = "HTTP/1.1 100 Continue\r\n\r\n";
    String hints = head("HTTP/1.1 103 Early Hints", "Link: </style.css>; rel=preload");
    String ok = head("HTTP/1.1 200 OK", "Content-Length: 7") + "created";

    Outcome o = responses(input().text(cont).text(hints).text(ok), Set.of());

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(100, 103, 200);
    assertThat(o.heads()).extracting(Http1Head::isInterim).containsExactly(true, true, false);
    assertThat(o.messageStarts()).containsExactly(0L, (long) cont.length(), (long) (cont + hints).length());
    assertThat(o.messageEnds()).containsExactly(cont.length() - 1L, (cont + hints).length() - 1L,
        (cont + hints + ok).length() - 1L);
  }

  @Test
  void switchingProtocolsMakesTheStreamOpaque() {
    String switching = head("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    byte[] frames = {(byte) 0x81, 0x05, 'h', 'e', 'l', 'l', 'o', (byte) 0x82, 0x00};

    Outcome o = responses(input().text(switching).bytes(frames).text("HTTP/1.1 200 OK\r\n\r\n").gap(100).end(),
        Set.of());

    assertThat(o.trace()).containsExactly("start@0", "head@" + (switching.length() - 1),
        "end@" + (switching.length() - 1));
    Http1Head h = o.heads().getFirst();
    assertThat(h.status()).isEqualTo(101);
    assertThat(h.isInterim()).as("101 is final: nothing else answers the request").isFalse();
    assertThat(h.upgrade()).isEqualTo("websocket");
    assertThat(o.state()).isEqualTo(Http1Parser.State.OPAQUE);
    assertThat(o.parser().opaque()).isTrue();
    assertThat(o.failure()).isNull();
  }

  @Test
  void noBodyFor204And304EvenWithFramingHeaders() {
    String noContent = head("HTTP/1.1 204 No Content", "Content-Length: 10");
    String notModified = head("HTTP/1.1 304 Not Modified", "Content-Length: 5000", "ETag: \"abc\"");
    String chunkedNotModified = head("HTTP/1.1 304 Not Modified", "Transfer-Encoding: chunked");
    String ok = head("HTTP/1.1 200 OK", "Content-Length: 2") + "ok";

    Outcome o = responses(input().text(noContent).text(notModified).text(chunkedNotModified).text(ok), Set.of());

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(204, 304, 304, 200);
    assertThat(o.messageEnds()).containsExactly(noContent.length() - 1L, (noContent + notModified).length() - 1L,
        (noContent + notModified + chunkedNotModified).length() - 1L,
        (noContent + notModified + chunkedNotModified + ok).length() - 1L);
  }

  @Test
  void http10ResponseWithoutContentLengthEndsAtEndOfStream() {
    String response = head("HTTP/1.0 200 OK", "Content-Type: text/html", "Server: SimpleHTTP/0.6")
        + "<html>the body runs until the server closes\r\n\r\nGET / HTTP/1.1\r\n\r\n</html>";

    Outcome open = responses(input().text(response), Set.of());
    Outcome closed = responses(input().text(response).end(), Set.of());

    assertThat(open.trace()).containsExactly("start@0", "head@" + (response.indexOf("\r\n\r\n") + 3));
    assertThat(open.state()).isEqualTo(Http1Parser.State.BODY_UNTIL_CLOSE);
    assertThat(closed.trace()).containsExactly("start@0", "head@" + (response.indexOf("\r\n\r\n") + 3), "end@eos");
    assertThat(closed.failure()).isNull();
    Http1Head h = closed.heads().getFirst();
    assertThat(h.minorVersion()).isZero();
    assertThat(h.connectionClose()).isTrue();
    assertThat(h.contentLength()).isEqualTo(-1);
  }

  @Test
  void responseWithOtherTransferEncodingRunsUntilClose() {
    String response = head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip", "Content-Length: 3") + "\u001f\u008b\u0008abc";

    Outcome o = responses(input().text(response).gap(50_000).end(), Set.of());

    assertThat(o.heads().getFirst().otherTransferEncoding()).isTrue();
    assertThat(o.heads().getFirst().contentLength()).isEqualTo(-1);
    assertThat(o.trace()).endsWith("end@eos");
    assertThat(o.failure()).isNull();
  }

  @ParameterizedTest(name = "{0} {1} -> close={2}")
  @CsvSource(delimiter = '|', value = {
    "HTTP/1.1 | Connection: close                | true",
    "HTTP/1.1 | Connection: CLOSE                | true",
    "HTTP/1.1 | Connection: Upgrade, close       | true",
    "HTTP/1.1 | Connection: keep-alive           | false",
    "HTTP/1.1 | X-None: none                     | false",
    "HTTP/1.0 | X-None: none                     | true",
    "HTTP/1.0 | Connection: keep-alive           | false",
    "HTTP/1.0 | Connection: Keep-Alive           | false",
  })
  void connectionCloseFlag(String version, String header, boolean close) {
    Outcome request = requests(input().text(head("GET / " + version, header)));
    Outcome response = responses(input().text(head(version + " 200 OK", header, "Content-Length: 0")), Set.of());

    assertThat(request.heads().getFirst().connectionClose()).isEqualTo(close);
    assertThat(response.heads().getFirst().connectionClose()).isEqualTo(close);
  }

  // ---------------------------------------------------------------------------------------------
  // Capture gaps

  @Test
  void bodySkippedViaGapThenNextMessageParses() {
    String postHead = head("POST /upload HTTP/1.1", "Host: h", "Content-Length: 1048576");
    Input in = input().text(postHead).text("x".repeat(100)).gap(1048576 - 100).text(NEXT_GET);

    Outcome o = requests(in);

    int gapAt = postHead.length() + 100;
    assertThat(o.trace()).containsExactly("start@0", "head@" + (postHead.length() - 1), "end@" + (gapAt - 1),
        "start@" + gapAt, "head@" + (gapAt + NEXT_GET.length() - 1), "end@" + (gapAt + NEXT_GET.length() - 1));
    assertThat(o.heads().getFirst().contentLength()).isEqualTo(1048576);
    assertThat(o.failure()).isNull();
  }

  @Test
  void bodySkippedViaSeveralGapsAndAWholeBodyGap() {
    String ok = head("HTTP/1.1 200 OK", "Content-Length: 20000");
    String file = head("HTTP/1.1 200 OK", "Content-Length: 65536"); // sendfile: nothing of the body is captured
    String last = head("HTTP/1.1 204 No Content");
    Input in = input().text(ok).text("a".repeat(8000)).gap(4000).text("b".repeat(7000)).gap(1000)
        .text(file).gap(65536).text(last);

    Outcome o = responses(in, Set.of());

    assertThat(o.heads()).extracting(Http1Head::status).containsExactly(200, 200, 204);
    assertThat(o.failure()).isNull();
    int firstEnd = ok.length() + 15000 - 1;
    assertThat(o.messageEnds()).containsExactly((long) firstEnd, (long) firstEnd + file.length(),
        (long) firstEnd + file.length() + last.length());
  }

  @Test
  void chunkDataSkippedViaGap() {
    String post = head("POST /c HTTP/1.1", "Transfer-Encoding: chunked");
    Input in = input().text(post).text("400\r\n").text("z".repeat(10)).gap(1024 - 10)
        .text("\r\n10000000000\r\n").gap(1L << 40) // the largest chunk accepted: 2^40 bytes
        .text("\r\n0\r\n\r\n").text(NEXT_GET);

    Outcome o = requests(in);

    assertThat(o.failure()).isNull();
    assertThat(o.heads()).extracting(Http1Head::target).containsExactly("/c", "/next");
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  @Test
  void gapWhereAHeadIsExpectedFails() {
    assertFailsWith(requests(input().gap(10).text(NEXT_GET)), "capture gap", List.of());
    assertFailsWith(requests(input().text(NEXT_GET).gap(1).text(NEXT_GET)), "capture gap",
        List.of("start@0", "head@" + (NEXT_GET.length() - 1), "end@" + (NEXT_GET.length() - 1)));
    assertFailsWith(requests(input().text("GET /cut HTTP/1.1\r\nHo").gap(500).text("st: h\r\n\r\n")), "capture gap",
        List.of("start@0"));
  }

  @Test
  void gapPastTheEndOfABodyFails() {
    String post = head("POST /p HTTP/1.1", "Content-Length: 100");
    Outcome o = requests(input().text(post).text("y".repeat(50)).gap(51).text(NEXT_GET));

    assertFailsWith(o, "past the end of a body", List.of("start@0", "head@" + (post.length() - 1)));
  }

  @Test
  void gapHidingChunkFramingResyncsAtTheLastChunk() {
    // The gap swallows the end of a chunk and its CRLF: framing is lost, and found again at the
    // last chunk; the next message then parses normally.
    String chunked = head("POST /p HTTP/1.1", "Transfer-Encoding: chunked");
    String beforeGap = chunked + "a\r\n12345";
    String afterGap = "\r\n0\r\n\r\n";
    Outcome c = requests(input().text(beforeGap).gap(6).text(afterGap).text(NEXT_GET));

    int end = beforeGap.length() + afterGap.length() - 1;
    assertThat(c.failed()).as(String.valueOf(c.failure())).isFalse();
    assertThat(c.trace()).containsExactly("start@0", "head@" + (chunked.length() - 1), "end@" + end,
        "start@" + (end + 1), "head@" + (end + NEXT_GET.length()), "end@" + (end + NEXT_GET.length()));

    // A gap over a size line: the same.
    String response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    Outcome r = responses(input().text(response + "1").gap(3).text("\r\nabc\r\n0\r\n\r\n"), Set.of());
    assertThat(r.failed()).isFalse();
    assertThat(r.trace()).containsExactly("start@0", "head@" + (response.length() - 1),
        "end@" + (response.length() + 1 + "\r\nabc\r\n0\r\n\r\n".length() - 1));
  }

  @Test
  void lostChunkFramingNeedsTheWholeLastChunkAfterTheGap() {
    String response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Only "0 CRLF CRLF" is known after the gap: its CRLF before could be body data. No end...
    Outcome r = responses(input().text(response + "3\r\nabc").gap(2).text("0\r\n\r\n").end(), Set.of());
    // ...so the close finds the message unfinished, and the stream fails: no span.
    assertFailsWith(r, "stream ended inside a message", List.of("start@0", "head@" + (response.length() - 1)));
  }

  @Test
  void lastChunkBytesInsideAFramedChunkAreJustData() {
    String response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    String body = "7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n";
    Outcome r = responses(input().text(response + body), Set.of());
    assertThat(r.trace()).containsExactly("start@0", "head@" + (response.length() - 1),
        "end@" + (response.length() + body.length() - 1));
  }

  @Test
  void gapsAreIgnoredOnceTheStreamIsOpaqueOrRunsUntilClose() {
    Outcome opaque = responses(input().text("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n").gap(99)
        .text("\u0000\u0000\u0012\u0004").gap(7), Set.of());
    Outcome untilClose = responses(input().text("HTTP/1.0 200 OK\r\n\r\nabc").gap(1_000_000).text("def").end(),
        Set.of());

    assertThat(opaque.failure()).isNull();
    assertThat(opaque.state()).isEqualTo(Http1Parser.State.OPAQUE);
    assertThat(untilClose.failure()).isNull();
    assertThat(untilClose.trace()).endsWith("end@eos");
  }

  // ---------------------------------------------------------------------------------------------
  // Invalid input: the parser fails, reports why, and ignores everything after

  static Stream<Arguments> invalidRequests() {
    String chunkedHead = head("POST /c HTTP/1.1", "Transfer-Encoding: chunked");
    String headEvent = "head@" + (chunkedHead.length() - 1);
    return Stream.of(
        Arguments.of("random bytes", randomBytes(512, 7), "", List.of("start@0")),
        Arguments.of("TLS ClientHello", tlsClientHello(), "", List.of("start@0")),
        Arguments.of("no version", ascii("GET /\r\n\r\n"), "request line", List.of("start@0")),
        Arguments.of("no target", ascii("GET  HTTP/1.1\r\n\r\n"), "request line", List.of("start@0")),
        Arguments.of("bad method", ascii("G@T / HTTP/1.1\r\n\r\n"), "request line", List.of("start@0")),
        Arguments.of("space in target", ascii("GET /a b HTTP/1.1\r\n\r\n"), "target", List.of("start@0")),
        Arguments.of("control in target", ascii("GET /a\u0001b HTTP/1.1\r\n\r\n"), "target", List.of("start@0")),
        Arguments.of("HTTP/2.0", ascii("GET / HTTP/2.0\r\n\r\n"), "version", List.of("start@0")),
        Arguments.of("HTTP/1.10", ascii("GET / HTTP/1.10\r\n\r\n"), "version", List.of("start@0")),
        Arguments.of("lowercase http", ascii("GET / http/1.1\r\n\r\n"), "version", List.of("start@0")),
        Arguments.of("Content-Length abc", headBytes("Content-Length: abc"), "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length -1", headBytes("Content-Length: -1"), "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length +5", headBytes("Content-Length: +5"), "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length empty", headBytes("Content-Length: "), "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length hex", headBytes("Content-Length: 0x10"), "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length huge", headBytes("Content-Length: 99999999999999999999999"), "Content-Length",
            List.of("start@0")),
        Arguments.of("Content-Length 5 then 6", headBytes("Content-Length: 5", "Content-Length: 6"),
            "Content-Length", List.of("start@0")),
        Arguments.of("Content-Length 5, 6", headBytes("Content-Length: 5, 6"), "Content-Length",
            List.of("start@0")),
        Arguments.of("Transfer-Encoding gzip", headBytes("Transfer-Encoding: gzip"), "Transfer-Encoding",
            List.of("start@0", "head@" + (headBytes("Transfer-Encoding: gzip").length - 1))),
        Arguments.of("Transfer-Encoding chunked, gzip", headBytes("Transfer-Encoding: chunked, gzip"),
            "Transfer-Encoding",
            List.of("start@0", "head@" + (headBytes("Transfer-Encoding: chunked, gzip").length - 1))),
        Arguments.of("obs-fold", headBytes("X-Folded: first", " second"), "folding", List.of("start@0")),
        Arguments.of("obs-fold tab", headBytes("X-Folded: first", "\tsecond"), "folding", List.of("start@0")),
        Arguments.of("field without colon", headBytes("Host example.com"), "header field", List.of("start@0")),
        Arguments.of("space before colon", headBytes("Host : example.com"), "header field", List.of("start@0")),
        Arguments.of("bad chunk size", ascii(chunkedHead + "zz\r\nhello\r\n0\r\n\r\n"), "chunk size",
            List.of("start@0", headEvent)),
        Arguments.of("chunk size with sign", ascii(chunkedHead + "-5\r\nhello\r\n0\r\n\r\n"), "chunk size",
            List.of("start@0", headEvent)),
        Arguments.of("empty chunk size", ascii(chunkedHead + "\r\nhello\r\n0\r\n\r\n"), "without a size",
            List.of("start@0", headEvent)),
        Arguments.of("chunk size only an extension", ascii(chunkedHead + ";a=b\r\n"), "without a size",
            List.of("start@0", headEvent)),
        Arguments.of("chunk size above 2^40", ascii(chunkedHead + "10000000001\r\n"), "too large",
            List.of("start@0", headEvent)),
        Arguments.of("chunk size overflowing a long", ascii(chunkedHead + "fffffffffffffffffffff\r\n"), "too large",
            List.of("start@0", headEvent)),
        Arguments.of("no CRLF after chunk data", ascii(chunkedHead + "5\r\nhelloX\r\n0\r\n\r\n"), "CRLF",
            List.of("start@0", headEvent)),
        Arguments.of("CR CR after chunk data", ascii(chunkedHead + "5\r\nhello\r\r\n0\r\n\r\n"), "CRLF",
            List.of("start@0", headEvent)),
        Arguments.of("trailers too long",
            ascii(chunkedHead + "0\r\nX-T: " + "t".repeat(Http1Parser.MAX_TRAILER_BYTES) + "\r\n\r\n"), "trailer",
            List.of("start@0", headEvent)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidRequests")
  void invalidRequestFailsAndIgnoresEverythingAfter(String name, byte[] bad, String reason, List<String> trace) {
    Outcome o = requests(input().bytes(bad).text(NEXT_GET).text(head("POST /x HTTP/1.1", "Content-Length: 1") + "x"));

    assertFailsWith(o, reason, trace);
  }

  static Stream<Arguments> invalidResponses() {
    return Stream.of(
        Arguments.of("HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", "status line"),
        Arguments.of("HTTP/2.0 status line", "HTTP/2.0 200 OK\r\n\r\n", "status line"),
        Arguments.of("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", "three-digit"),
        Arguments.of("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", "three-digit"),
        Arguments.of("status below 100", "HTTP/1.1 099 Odd\r\n\r\n", "below 100"),
        Arguments.of("no status", "HTTP/1.1\r\n\r\n", "status line"),
        Arguments.of("a request on the response stream", "GET / HTTP/1.1\r\n\r\n", "status line"),
        Arguments.of("conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "Content-Length"),
        Arguments.of("obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", "folding"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidResponses")
  void invalidResponseFailsAndIgnoresEverythingAfter(String name, String bad, String reason) {
    Outcome o = responses(input().text(bad).text("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Set.of());

    assertFailsWith(o, reason, List.of("start@0"));
  }

  @Test
  void equalDuplicateContentLengthsAreAccepted() {
    String listed = head("POST /a HTTP/1.1", "Content-Length: 5, 5") + "hello";
    String repeated = head("POST /b HTTP/1.1", "Content-Length: 3", "Content-Length:3 ") + "abc";

    Outcome o = requests(input().text(listed).text(repeated).text(NEXT_GET));

    assertThat(o.failure()).isNull();
    assertThat(o.heads()).extracting(Http1Head::contentLength).containsExactly(5L, 3L, -1L);
    assertThat(o.messageEnds()).containsExactly(listed.length() - 1L, (listed + repeated).length() - 1L,
        (listed + repeated + NEXT_GET).length() - 1L);
  }

  @Test
  void streamEndedInsideAMessageFails() {
    assertFailsWith(requests(input().text("GET /half HTTP/1.1\r\nHost: h\r\n").end()), "stream ended inside",
        List.of("start@0"));
    String post = head("POST /p HTTP/1.1", "Content-Length: 10");
    assertFailsWith(requests(input().text(post + "12345").end()), "stream ended inside",
        List.of("start@0", "head@" + (post.length() - 1)));
    String chunked = head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked");
    assertFailsWith(responses(input().text(chunked + "5\r\nhel").end(), Set.of()), "stream ended inside",
        List.of("start@0", "head@" + (chunked.length() - 1)));
  }

  @Test
  void streamEndedBetweenMessagesIsClean() {
    Outcome o = requests(input().text(NEXT_GET).text("\r\n").end());

    assertThat(o.failure()).isNull();
    assertThat(o.state()).isEqualTo(Http1Parser.State.IDLE);
  }

  // ---------------------------------------------------------------------------------------------
  // stop(): the other direction switched protocols, or the listener gave up on the connection

  @Test
  void stopFromTheOtherDirectionMakesTheStreamOpaque() {
    Recorder recorder = new Recorder(false);
    Http1Parser parser = Http1Parser.requests(recorder);

    parser.stop();
    recorder.beginPiece(0, NEXT_GET.length());
    parser.feed(MemorySegment.ofArray(ascii(NEXT_GET)), 0, NEXT_GET.length(), 10);
    parser.endOfStream();

    assertThat(parser.opaque()).isTrue();
    assertThat(parser.failed()).isFalse();
    assertThat(recorder.events).isEmpty();
  }

  @Test
  void stopDoesNotHideAFailure() {
    Outcome o = requests(input().text("BAD\r\n\r\n"));

    o.parser().stop();

    assertThat(o.parser().failed()).isTrue();
    assertThat(o.parser().opaque()).isFalse();
  }

  @Test
  void stopInsideOnHeadIsHonored() {
    String pipelined = head("POST /first HTTP/1.1", "Content-Length: 4") + "body" + NEXT_GET;
    Input in = input().text(pipelined);

    // A listener that gives up on the connection when it sees the first head (as on a pipeline overflow).
    Outcome o = feedAllWays(in, true, Set.of(), Http1Parser::stop, null);

    assertThat(o.trace()).containsExactly("start@0", "head@" + (pipelined.indexOf("\r\n\r\n") + 3));
    assertThat(o.state()).isEqualTo(Http1Parser.State.OPAQUE);
    assertThat(o.failure()).isNull();
  }

  @Test
  void stopInsideOnMessageEndIsHonored() {
    Input in = input().text(NEXT_GET).text(NEXT_GET);

    Outcome o = feedAllWays(in, true, Set.of(), null, Http1Parser::stop);

    assertThat(o.trace()).containsExactly("start@0", "head@" + (NEXT_GET.length() - 1),
        "end@" + (NEXT_GET.length() - 1));
    assertThat(o.state()).isEqualTo(Http1Parser.State.OPAQUE);
  }

  // =============================================================================================
  // Harness

  private static String head(String startLine, String... fields) {
    StringBuilder s = new StringBuilder(startLine).append("\r\n");
    for (String field : fields) {
      s.append(field).append("\r\n");
    }
    return s.append("\r\n").toString();
  }

  private static byte[] headBytes(String... fields) {
    return ascii(head("POST /h HTTP/1.1", fields));
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  /** Random bytes without CR or LF, then the empty line that ends a head. */
  private static byte[] randomBytes(int n, long seed) {
    Random random = new Random(seed);
    byte[] b = new byte[n + 4];
    for (int i = 0; i < n; i++) {
      byte v;
      do {
        v = (byte) random.nextInt(256);
      } while (v == '\r' || v == '\n');
      b[i] = v;
    }
    System.arraycopy(ascii("\r\n\r\n"), 0, b, n, 4);
    return b;
  }

  private static byte[] tlsClientHello() {
    byte[] prefix = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03};
    byte[] rest = randomBytes(200, 443);
    byte[] all = Arrays.copyOf(prefix, prefix.length + rest.length);
    System.arraycopy(rest, 0, all, prefix.length, rest.length);
    return all;
  }

  private static void assertFailsWith(Outcome o, String reason, List<String> trace) {
    assertThat(o.failed()).as("failed").isTrue();
    assertThat(o.state()).isEqualTo(Http1Parser.State.FAILED);
    assertThat(o.failure()).isNotNull().contains(reason);
    assertThat(o.trace()).as("events before the failure, and none after it").isEqualTo(trace);
    assertIgnoresEverythingAfterFailure(o);
  }

  /** More input, valid or not, changes nothing once the parser failed. */
  private static void assertIgnoresEverythingAfterFailure(Outcome o) {
    Http1Parser parser = o.parser();
    String failure = parser.failure();
    int events = o.recorder().events.size();
    byte[] more = ascii(NEXT_GET + "HTTP/1.1 200 OK\r\n\r\n");
    o.recorder().beginPiece(1_000_000, more.length);
    parser.feed(MemorySegment.ofArray(more), 0, more.length, 5);
    parser.stop();
    parser.endOfStream();

    assertThat(parser.failed()).isTrue();
    assertThat(parser.failure()).isEqualTo(failure);
    assertThat(o.recorder().events).hasSize(events);
  }

  private static Input input() {
    return new Input();
  }

  /** Captured bytes, the capture gaps between them, and whether the stream ends. */
  private static final class Input {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    /** Captured-byte position -> gap length: the gap follows the byte before that position. */
    private final TreeMap<Integer, Long> gaps = new TreeMap<>();
    private boolean end;

    Input text(String s) {
      return bytes(ascii(s));
    }

    Input bytes(byte[] b) {
      bytes.writeBytes(b);
      return this;
    }

    Input gap(long n) {
      gaps.merge(bytes.size(), n, Long::sum);
      return this;
    }

    Input end() {
      end = true;
      return this;
    }

    int length() {
      return bytes.size();
    }

    byte[] data() {
      return bytes.toByteArray();
    }
  }

  private static Outcome requests(Input in) {
    return feedAllWays(in, true, Set.of(), null, null);
  }

  private static Outcome responses(Input in, Set<Integer> answersHead) {
    return feedAllWays(in, false, answersHead, null, null);
  }

  /**
   * Feeds the input byte by byte (the reference), whole, split in two at every offset (at a stride
   * for inputs over 32 KiB, and at every offset near either end and every gap), and in random pieces;
   * asserts every way reports the same events, each during the piece that holds the byte causing it.
   */
  private static Outcome feedAllWays(Input in, boolean requests, Set<Integer> answersHead,
      @Nullable Consumer<Http1Parser> onHead, @Nullable Consumer<Http1Parser> onEnd) {
    int length = in.length();
    List<Integer> all = new ArrayList<>();
    for (int i = 0; i <= length; i++) {
      all.add(i);
    }
    Outcome reference = feed(in, requests, answersHead, all, onHead, onEnd);
    assertSameOutcome("whole", reference, feed(in, requests, answersHead, List.of(0, length), onHead, onEnd));

    int stride = length > 32 * 1024 ? 97 : 1;
    for (int k = 0; k <= length; k++) {
      int cut = k;
      boolean nearBoundary = k < 300 || length - k < 300
          || in.gaps.keySet().stream().anyMatch(g -> Math.abs(g - cut) < 300);
      if (k % stride != 0 && !nearBoundary) {
        continue;
      }
      assertSameOutcome("split at " + k, reference,
          feed(in, requests, answersHead, List.of(0, k, length), onHead, onEnd));
    }
    for (int seed = 1; seed <= 8; seed++) {
      List<Integer> cuts = randomCuts(length, 1 + seed * 7, new Random(seed));
      assertSameOutcome("random pieces " + cuts, reference, feed(in, requests, answersHead, cuts, onHead, onEnd));
    }
    return reference;
  }

  /** Cut positions 0 = c0 <= c1 <= ... = length; repeated positions make empty pieces. */
  private static List<Integer> randomCuts(int length, int maxPiece, Random random) {
    List<Integer> cuts = new ArrayList<>();
    cuts.add(0);
    int pos = 0;
    while (pos < length) {
      pos = Math.min(length, pos + random.nextInt(maxPiece + 1)); // 0: an empty piece
      cuts.add(pos);
    }
    return cuts;
  }

  private static Outcome feed(Input in, boolean requests, Set<Integer> answersHead, List<Integer> cutList,
      @Nullable Consumer<Http1Parser> onHead, @Nullable Consumer<Http1Parser> onEnd) {
    byte[] data = in.data();
    // Every gap position is also a cut: a gap ends the piece before it.
    List<Integer> cuts = new ArrayList<>(cutList);
    cuts.addAll(in.gaps.keySet());
    cuts.sort(null);
    Recorder recorder = new Recorder(!requests);
    recorder.answersHead = answersHead;
    Http1Parser parser = requests ? Http1Parser.requests(recorder) : Http1Parser.responses(recorder);
    recorder.onHeadAction = onHead == null ? null : () -> onHead.accept(parser);
    recorder.onEndAction = onEnd == null ? null : () -> onEnd.accept(parser);
    TreeSet<Integer> gapsFed = new TreeSet<>();
    Long leadingGap = in.gaps.get(0);
    if (leadingGap != null) {
      recorder.beginPiece(0, 0);
      parser.feed(MemorySegment.ofArray(new byte[0]), 0, 0, leadingGap);
      gapsFed.add(0);
    }
    for (int i = 0; i + 1 < cuts.size(); i++) {
      int from = cuts.get(i);
      int to = cuts.get(i + 1);
      long gap = 0;
      if (to > 0 && in.gaps.containsKey(to) && gapsFed.add(to)) {
        gap = in.gaps.get(to);
      }
      // Each piece in its own buffer, between bytes the parser must not read.
      int pad = 3;
      byte[] piece = new byte[to - from + 2 * pad];
      Arrays.fill(piece, (byte) '\n');
      System.arraycopy(data, from, piece, pad, to - from);
      recorder.beginPiece(from, to);
      parser.feed(MemorySegment.ofArray(piece), pad, to - from, gap);
    }
    recorder.endPiece();
    if (in.end) {
      parser.endOfStream();
    }
    return new Outcome(parser, recorder);
  }

  private static void assertSameOutcome(String how, Outcome reference, Outcome other) {
    List<Event> expected = reference.recorder().events;
    List<Event> actual = other.recorder().events;
    assertThat(actual.stream().map(Event::kind).toList()).as("%s: events", how)
        .isEqualTo(expected.stream().map(Event::kind).toList());
    for (int i = 0; i < expected.size(); i++) {
      Event e = expected.get(i);
      Event a = actual.get(i);
      assertThat(a.head()).as("%s: head of event %d", how, i).isEqualTo(e.head());
      assertThat(a.messageStart()).as("%s: start offset of event %d", how, i).isEqualTo(e.messageStart());
      if (e.pieceFrom() == Event.EOS) {
        assertThat(a.pieceFrom()).as("%s: event %d at end of stream", how, i).isEqualTo(Event.EOS);
      } else {
        // Byte by byte, the piece is the one byte that caused the event: it must be in this piece too.
        assertThat(e.pieceFrom()).as("%s: event %d %s reported in piece [%d, %d)", how, i, e.kind(), a.pieceFrom(),
            a.pieceTo()).isGreaterThanOrEqualTo(a.pieceFrom()).isLessThan(a.pieceTo());
      }
    }
    assertThat(other.state()).as("%s: state", how).isEqualTo(reference.state());
    assertThat(other.failure()).as("%s: failure", how).isEqualTo(reference.failure());
  }

  private record Event(String kind, @Nullable Http1Head head, long messageStart, long pieceFrom, long pieceTo) {
    static final long EOS = -1;
  }

  private record Outcome(Http1Parser parser, Recorder recorder) {
    /** Events as "kind@captured byte position", from the byte-by-byte run. */
    List<String> trace() {
      return recorder.events.stream()
          .map(e -> e.kind() + "@" + (e.kind().equals("start") ? String.valueOf(e.messageStart())
              : e.pieceFrom() == Event.EOS ? "eos" : String.valueOf(e.pieceFrom())))
          .toList();
    }

    List<Http1Head> heads() {
      return recorder.heads;
    }

    List<Long> messageStarts() {
      return recorder.events.stream().filter(e -> e.kind().equals("start")).map(Event::messageStart).toList();
    }

    List<Long> messageEnds() {
      return recorder.events.stream().filter(e -> e.kind().equals("end")).map(Event::pieceFrom).toList();
    }

    boolean failed() {
      return parser.failed();
    }

    @Nullable String failure() {
      return parser.failure();
    }

    Http1Parser.State state() {
      return parser.state();
    }

    int answersHeadRequestCalls() {
      return recorder.answersHeadCalls;
    }
  }

  /** Records events with the captured-byte range of the piece being fed when each occurred. */
  private static final class Recorder implements Http1Parser.Listener {
    final boolean responses;
    final List<Event> events = new ArrayList<>();
    final List<Http1Head> heads = new ArrayList<>();
    final List<Long> offsetsInPiece = new ArrayList<>();
    Set<Integer> answersHead = Set.of();
    @Nullable Runnable onHeadAction;
    @Nullable Runnable onEndAction;
    int ends;
    int answersHeadCalls;
    private long pieceFrom = Event.EOS;
    private long pieceTo = Event.EOS;

    Recorder(boolean responses) {
      this.responses = responses;
    }

    void beginPiece(long from, long to) {
      pieceFrom = from;
      pieceTo = to;
    }

    void endPiece() {
      pieceFrom = Event.EOS;
      pieceTo = Event.EOS;
    }

    @Override
    public void onMessageStart(long offsetInPiece) {
      assertThat(pieceFrom).as("a message starts only while a piece is fed").isNotEqualTo(Event.EOS);
      assertThat(offsetInPiece).as("offset inside the piece").isBetween(0L, pieceTo - pieceFrom - 1);
      offsetsInPiece.add(offsetInPiece);
      events.add(new Event("start", null, pieceFrom + offsetInPiece, pieceFrom, pieceTo));
    }

    @Override
    public void onHead(Http1Head head) {
      assertThat(head.isRequest()).isEqualTo(!responses);
      heads.add(head);
      events.add(new Event("head", head, -1, pieceFrom, pieceTo));
      if (onHeadAction != null) {
        onHeadAction.run();
      }
    }

    @Override
    public void onMessageEnd() {
      ends++;
      events.add(new Event("end", null, -1, pieceFrom, pieceTo));
      if (onEndAction != null) {
        onEndAction.run();
      }
    }

    @Override
    public boolean answersHeadRequest() {
      answersHeadCalls++;
      assertThat(responses).as("only responses ask whether they answer HEAD").isTrue();
      assertThat(heads).as("asked after the response's head was reported").isNotEmpty();
      return answersHead.contains(heads.size() - 1);
    }
  }
}
