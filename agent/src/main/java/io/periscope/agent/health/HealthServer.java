package io.periscope.agent.health;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.periscope.agent.Agent;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The agent's own HTTP endpoints, for a kubelet's probes and a Prometheus scrape:
 *
 * <ul>
 *   <li>{@link #LIVENESS} {@code /healthz}: 200 while the agent is alive (starting, or its capture
 *       loop comes round); 503 when the loop died or is stuck, so the kubelet restarts it.
 *   <li>{@link #READINESS} {@code /readyz}: 200 once the eBPF programs are attached and the
 *       pipeline runs, 503 before that and while stopping; the body says why.
 *   <li>{@link #METRICS} {@code /metrics}: every counter, in the Prometheus text format.
 * </ul>
 *
 * It starts before the agent attaches (so a slow attach is "alive, not ready") and reads the agent
 * through {@code agent}, which is null until then. One daemon thread answers: these are cheap
 * requests from one or two clients.
 */
public final class HealthServer implements AutoCloseable {
  public static final String LIVENESS = "/healthz";
  public static final String READINESS = "/readyz";
  public static final String METRICS = "/metrics";

  private final HttpServer server;
  private final ExecutorService executor;

  private HealthServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Listens on {@code address} and answers until {@link #close()}.
   *
   * @throws UncheckedIOException when the address cannot be bound (in use, not this machine's)
   */
  public static HealthServer start(InetSocketAddress address, Supplier<@Nullable Agent> agent, String version) {
    HttpServer server;
    try {
      server = HttpServer.create(address, 16);
    } catch (IOException e) {
      throw new UncheckedIOException("listen on " + address + " for /healthz, /readyz and /metrics: " + e.getMessage(),
          e);
    }
    server.createContext("/", exchange -> answer(exchange, agent.get(), version));
    ExecutorService executor = Executors.newSingleThreadExecutor(
        Thread.ofPlatform().name("periscope-health").daemon().factory());
    server.setExecutor(executor);
    server.start();
    return new HealthServer(server, executor);
  }

  /** The address bound (the port chosen, when 0 was asked for). */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  private static void answer(HttpExchange exchange, @Nullable Agent agent, String version) throws IOException {
    try {
      String method = exchange.getRequestMethod();
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        send(exchange, 405, "text/plain; charset=utf-8", "only GET and HEAD\n");
        return;
      }
      switch (exchange.getRequestURI().getPath()) {
        case LIVENESS -> {
          String dead = agent == null ? null : agent.notAlive();
          send(exchange, dead == null ? 200 : 503, "text/plain; charset=utf-8",
              dead == null ? "alive\n" : "not alive: " + dead + "\n");
        }
        case READINESS -> {
          String why = agent == null ? "starting: eBPF programs not attached yet" : agent.notReady();
          send(exchange, why == null ? 200 : 503, "text/plain; charset=utf-8", why == null
              ? "ready: " + agent.programs().size() + " eBPF programs attached, export: " + agent.export() + "\n"
              : "not ready: " + why + "\n");
        }
        case METRICS -> send(exchange, 200, PrometheusText.CONTENT_TYPE, AgentMetrics.render(agent, version));
        default -> send(exchange, 404, "text/plain; charset=utf-8",
            "not found; try " + LIVENESS + ", " + READINESS + " or " + METRICS + "\n");
      }
    } catch (RuntimeException e) {
      // A rendering bug must not go unanswered: the client sees a 500 with the cause.
      send(exchange, 500, "text/plain; charset=utf-8", "error: " + e + "\n");
    } finally {
      exchange.close();
    }
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    boolean head = exchange.getRequestMethod().equals("HEAD");
    exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
    if (!head) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
