package io.periscope.agent.it;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The JDK's {@code java.net.http.HttpClient} speaking HTTP/2 for kernel tests, in its own JVM (the
 * agent never traces the process it runs in). Over cleartext the JDK asks for HTTP/2 with
 * {@code Upgrade: h2c} on its first request to a server; the later ones are HTTP/2 streams on the
 * upgraded connection. Every request is a GET to BASE + PATH, on one client; one line each.
 *
 * <pre>
 *   JvmHttp2Client get BASE PATH...              each in turn: "PATH STATUS VERSION", or "PATH" and
 *                                                the exception's class when it fails
 *   JvmHttp2Client cancel BASE PATH ARRIVED      GET /fast, then PATH, cancelled (RST_STREAM(CANCEL))
 *                                                once the file ARRIVED exists: the server got it
 *   JvmHttp2Client stop-reading BASE PATH BYTES  GET /fast, then PATH, whose body it closes
 *                                                (RST_STREAM(CANCEL)) after its first BYTES bytes
 * </pre>
 */
final class JvmHttp2Client {
  private static final Duration PATIENCE = Duration.ofSeconds(30);

  private JvmHttp2Client() {}

  public static void main(String[] args) throws Exception {
    String base = args[1];
    try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build()) {
      List<String> lines = switch (args[0]) {
        case "get" -> gets(client, base, List.of(args).subList(2, args.length));
        case "cancel" -> List.of(get(client, base, "/fast"), cancelOnceArrived(client, base, args[2], Path.of(args[3])));
        case "stop-reading" -> List.of(get(client, base, "/fast"),
            stopReading(client, base, args[2], Integer.parseInt(args[3])));
        default -> throw new IllegalArgumentException("unknown mode " + args[0]);
      };
      lines.forEach(System.out::println);
    }
  }

  /** The command that runs this client in a new JVM, the test's own, with the test's classpath. */
  static String[] command(String mode, String base, String... args) {
    List<String> command = new ArrayList<>(List.of(
        ProcessHandle.current().info().command().orElseThrow(),
        "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"),
        JvmHttp2Client.class.getName(), mode, base));
    command.addAll(List.of(args));
    return command.toArray(String[]::new);
  }

  private static List<String> gets(HttpClient client, String base, List<String> paths) throws InterruptedException {
    List<String> lines = new ArrayList<>();
    for (String path : paths) {
      lines.add(get(client, base, path));
    }
    return lines;
  }

  private static String get(HttpClient client, String base, String path) throws InterruptedException {
    try {
      HttpResponse<String> response = client.send(request(base, path), HttpResponse.BodyHandlers.ofString());
      return path + " " + response.statusCode() + " " + response.version();
    } catch (IOException e) {
      return path + " " + e.getClass().getSimpleName();
    }
  }

  /**
   * Cancels the request once the server shows it has it (there is no telling from the client when
   * the request has left): the JDK resets the stream; the future fails with a CancellationException.
   */
  private static String cancelOnceArrived(HttpClient client, String base, String path, Path arrived)
      throws InterruptedException {
    CompletableFuture<HttpResponse<String>> response =
        client.sendAsync(request(base, path), HttpResponse.BodyHandlers.ofString());
    long deadline = System.nanoTime() + PATIENCE.toNanos();
    while (!Files.exists(arrived)) {
      if (System.nanoTime() > deadline || response.isDone()) {
        return path + " did not arrive: " + response;
      }
      Thread.sleep(10);
    }
    response.cancel(true);
    try {
      return path + " answered " + response.join().statusCode();
    } catch (CancellationException | CompletionException e) {
      return path + " cancelled";
    }
  }

  /** Reads the first bytes of the body and closes it: the JDK resets the stream. */
  private static String stopReading(HttpClient client, String base, String path, int bytes)
      throws IOException, InterruptedException {
    HttpResponse<InputStream> response = client.send(request(base, path), HttpResponse.BodyHandlers.ofInputStream());
    int read;
    try (InputStream body = response.body()) {
      read = body.readNBytes(bytes).length;
    }
    return path + " " + response.statusCode() + " " + response.version() + " closed after " + read + " bytes";
  }

  private static HttpRequest request(String base, String path) {
    return HttpRequest.newBuilder(URI.create(base + path)).timeout(PATIENCE).build();
  }
}
