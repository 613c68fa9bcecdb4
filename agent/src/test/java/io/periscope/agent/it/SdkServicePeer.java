package io.periscope.agent.it;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * A Java service for {@link SdkInstrumentedServiceTest}, run in its own JVM with the OpenTelemetry
 * Java agent, which instruments both its ends: it serves GET on 127.0.0.1:PORT
 * ({@code com.sun.net.httpserver}) and answers each request with what a GET of the same path from
 * 127.0.0.1:DOWNSTREAM_PORT returned ({@code java.net.http}, HTTP/1.1, a new client and connection
 * per request). Only the JDK: the test runs it from a class path holding this one class. Prints
 * {@value #LISTENING} once it accepts connections.
 *
 * <pre>
 *   SdkServicePeer PORT DOWNSTREAM_PORT
 * </pre>
 */
final class SdkServicePeer {
  /** Printed once the server accepts connections. */
  static final String LISTENING = "sdk service listening";

  private SdkServicePeer() {}

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    URI downstream = URI.create("http://127.0.0.1:" + Integer.parseInt(args[1]));
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
    server.createContext("/", exchange -> handle(exchange, downstream));
    server.start();
    System.out.println(LISTENING);
  }

  private static void handle(HttpExchange exchange, URI downstream) throws IOException {
    try (exchange) {
      int status;
      byte[] body;
      try (HttpClient client = HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .proxy(HttpClient.Builder.NO_PROXY)
          .build()) {
        HttpRequest request = HttpRequest.newBuilder(downstream.resolve(exchange.getRequestURI().getRawPath()))
            .build();
        HttpResponse<byte[]> response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
        status = response.statusCode();
        body = response.body();
      } catch (IOException | InterruptedException e) {
        status = 502;
        body = ("downstream: " + e + "\n").getBytes(StandardCharsets.UTF_8);
      }
      exchange.sendResponseHeaders(status, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }
}
