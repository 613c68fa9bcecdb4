package io.periscope.exporter.otlp;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The plain HTTP/1.1 transport against a collector scripted byte by byte on a real socket: how it
 * frames the request, how it reads every framing of an answer, and what it does with connections.
 */
class PlainHttpTransportTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(10);
  private static final byte[] BODY = "hello".getBytes(ISO_8859_1);

  private final ServerSocket server = serverSocket();
  private final AtomicInteger accepted = new AtomicInteger();
  private final BlockingQueue<String> requests = new LinkedBlockingQueue<>();
  private final List<Socket> sockets = new ArrayList<>();
  private PlainHttpTransport transport;

  /** What the collector does with one request on a connection: answers, or not. */
  private interface Script {
    void answer(int request, OutputStream out, Socket socket) throws IOException;
  }

  private static ServerSocket serverSocket() {
    try {
      return new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Serves each accepted connection on its own thread: reads requests, answers as scripted. */
  private URI collector(Script script) {
    Thread acceptor =
        new Thread(
            () -> {
              try {
                while (true) {
                  Socket socket = server.accept();
                  synchronized (sockets) {
                    sockets.add(socket);
                  }
                  accepted.incrementAndGet();
                  Thread connection = new Thread(() -> serve(socket, script));
                  connection.setDaemon(true);
                  connection.start();
                }
              } catch (IOException e) {
                // closed: the test is over
              }
            });
    acceptor.setDaemon(true);
    acceptor.start();
    return URI.create("http://127.0.0.1:" + server.getLocalPort() + "/v1/traces");
  }

  private void serve(Socket socket, Script script) {
    try (socket) {
      InputStream in = socket.getInputStream();
      for (int request = 0; ; request++) {
        String head = readHead(in);
        if (head == null) {
          return;
        }
        int length = Integer.parseInt(head.replaceAll("(?s).*\r\nContent-Length: (\\d+)\r\n.*", "$1"));
        requests.add(head + new String(in.readNBytes(length), ISO_8859_1));
        script.answer(request, socket.getOutputStream(), socket);
      }
    } catch (IOException e) {
      // the transport closed it
    }
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        return null;
      }
      head.write(b);
      String text = head.toString(ISO_8859_1);
      if (text.endsWith("\r\n\r\n")) {
        return text;
      }
    }
  }

  private static void write(OutputStream out, String answer) throws IOException {
    out.write(answer.getBytes(ISO_8859_1));
    out.flush();
  }

  @AfterEach
  void close() throws IOException {
    if (transport != null) {
      transport.close();
    }
    server.close();
    synchronized (sockets) {
      for (Socket socket : sockets) {
        socket.close();
      }
    }
  }

  private Transport.Answer post(URI url) throws IOException {
    if (transport == null) {
      transport = new PlainHttpTransport(url, Map.of("x-api-key", "s3cret"));
    }
    return transport.post(BODY, 0, BODY.length, TIMEOUT);
  }

  @Test
  void theRequestIsAPostWithItsHeadersAndExactlyTheBody() throws Exception {
    URI url = collector((n, out, s) -> write(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    byte[] framed = "xxhelloyy".getBytes(ISO_8859_1);
    transport = new PlainHttpTransport(url, Map.of("x-api-key", "s3cret"));

    transport.post(framed, 2, 5, TIMEOUT);

    assertThat(requests.poll(5, TimeUnit.SECONDS))
        .isEqualTo(
            "POST /v1/traces HTTP/1.1\r\n"
                + "Host: 127.0.0.1:" + server.getLocalPort() + "\r\n"
                + "Content-Type: application/x-protobuf\r\n"
                + "User-Agent: periscope-otlp-exporter\r\n"
                + "x-api-key: s3cret\r\n"
                + "Content-Length: 5\r\n"
                + "\r\n"
                + "hello");
  }

  @Test
  void oneConnectionServesRequestAfterRequest() throws Exception {
    URI url = collector((n, out, s) -> write(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));

    for (int i = 0; i < 5; i++) {
      Transport.Answer answer = post(url);
      assertThat(answer.status()).isEqualTo(200);
      assertThat(new String(answer.body(), ISO_8859_1)).isEqualTo("ok");
    }

    assertThat(accepted).hasValue(1);
    assertThat(requests).hasSize(5);
  }

  @Test
  void aChunkedAnswerAfterAnInterimOneIsReadWhole() throws Exception {
    URI url =
        collector(
            (n, out, s) ->
                write(
                    out,
                    "HTTP/1.1 100 Continue\r\n\r\n"
                        + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"));

    Transport.Answer first = post(url);
    Transport.Answer second = post(url);

    assertThat(new String(first.body(), ISO_8859_1)).isEqualTo("abcde");
    assertThat(new String(second.body(), ISO_8859_1)).isEqualTo("abcde");
    assertThat(accepted).hasValue(1);
  }

  @Test
  void anAnswerEndedByCloseOrSayingCloseIsNotReused() throws Exception {
    AtomicInteger seen = new AtomicInteger();
    URI url =
        collector(
            (n, out, s) -> {
              if (seen.getAndIncrement() != 1) {
                write(out, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
              } else {
                write(out, "HTTP/1.0 503 Busy\r\n\r\nbusy");
              }
              s.close();
            });

    assertThat(post(url).status()).isEqualTo(200);
    Transport.Answer busy = post(url);
    Transport.Answer again = post(url);

    assertThat(busy.status()).isEqualTo(503);
    assertThat(new String(busy.body(), ISO_8859_1)).isEqualTo("busy");
    assertThat(again.status()).isEqualTo(200);
    assertThat(accepted).hasValue(3);
  }

  @Test
  void aConnectionTheCollectorClosedWhileIdleIsReplacedWithoutLosingTheRequest() throws Exception {
    // Answers keep-alive, then closes: what a collector's idle timeout does between two batches.
    URI url =
        collector(
            (n, out, s) -> {
              write(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
              s.close();
            });

    assertThat(post(url).status()).isEqualTo(200);
    Thread.sleep(100); // the close reaches the transport's socket
    assertThat(post(url).status()).isEqualTo(200);

    assertThat(accepted).hasValue(2);
    assertThat(requests).hasSize(2);
  }

  @Test
  void malformedAnswersFailTheRequestAndTheConnectionIsNotKept() throws Exception {
    String[] answers = {
      "SMTP ready\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 9999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: " + "a".repeat(9000) + "\r\n\r\n",
    };
    AtomicInteger next = new AtomicInteger();
    URI url = collector((n, out, s) -> write(out, answers[next.getAndIncrement()]));

    for (String answer : answers) {
      assertThatThrownBy(() -> post(url))
          .as(answer.length() > 60 ? answer.substring(0, 60) : answer)
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith("malformed answer from the collector: ")
          .isInstanceOf(java.net.ProtocolException.class); // as the JDK's client says it
    }
    assertThat(accepted).hasValue(answers.length);
  }

  @Test
  void anAnswerCutShortFailsTheRequest() {
    URI url =
        collector(
            (n, out, s) -> {
              write(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
              s.close();
            });

    assertThatThrownBy(() -> post(url)).isInstanceOf(java.io.EOFException.class);
  }

  @Test
  void aCollectorThatStopsReadingCostsTheTimeoutAndNoMore() throws Exception {
    // Accepts nothing and reads nothing of a body far larger than the socket buffers, so the write blocks.
    ServerSocket stuck = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    try (stuck) {
      transport =
          new PlainHttpTransport(URI.create("http://127.0.0.1:" + stuck.getLocalPort() + "/v1/traces"), Map.of());
      byte[] big = new byte[64 << 20];
      long started = System.nanoTime();

      assertThatThrownBy(() -> transport.post(big, 0, big.length, Duration.ofMillis(500)))
          .isInstanceOf(Transport.Timeout.class);
      assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(3));
    }
  }

  @Test
  void plainHttpGoesThroughThisTransportAndHttpsThroughTheJdksClient() {
    Transport plain = OtlpHttpExporter.transportFor(URI.create("http://127.0.0.1:4318/v1/traces"), Map.of(), TIMEOUT);
    Transport tls = OtlpHttpExporter.transportFor(URI.create("https://collector:4318/v1/traces"), Map.of(), TIMEOUT);
    try {
      assertThat(plain).isInstanceOf(PlainHttpTransport.class);
      assertThat(tls).isInstanceOf(JdkHttpTransport.class);
    } finally {
      plain.close();
      tls.close();
    }
  }
}
