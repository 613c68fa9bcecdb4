package io.periscope.bench;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.GZIPInputStream;

/**
 * The benchmark's collector: accepts OTLP/HTTP on 127.0.0.1 and counts the spans of each request;
 * {@code GET /count} answers the total. A separate process, so its CPU is not the agent's; it walks
 * the protobuf framing instead of decoding spans ({@link SpanCounter}), so that on a machine whose
 * cores the load generator and nginx already fill, the sink takes as little CPU as it can.
 */
public final class OtlpSink {
  private static final AtomicLong SPANS = new AtomicLong();
  private static final AtomicLong BAD_REQUESTS = new AtomicLong();

  private OtlpSink() {}

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.setExecutor(Executors.newFixedThreadPool(2));
    server.createContext("/v1/traces", OtlpSink::export);
    server.createContext("/count", exchange -> reply(exchange, 200,
        (SPANS.get() + " " + BAD_REQUESTS.get() + "\n").getBytes(StandardCharsets.US_ASCII)));
    server.start();
    System.out.println("otlp sink listening on " + port);
  }

  private static void export(HttpExchange exchange) throws IOException {
    try (InputStream body = "gzip".equalsIgnoreCase(exchange.getRequestHeaders().getFirst("Content-Encoding"))
        ? new GZIPInputStream(exchange.getRequestBody()) : exchange.getRequestBody()) {
      SPANS.addAndGet(SpanCounter.count(body.readAllBytes()));
      exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
      reply(exchange, 200, new byte[0]);
    } catch (IOException | IllegalArgumentException e) {
      BAD_REQUESTS.incrementAndGet();
      reply(exchange, 400, new byte[0]);
    }
  }

  private static void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
    exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }
}
