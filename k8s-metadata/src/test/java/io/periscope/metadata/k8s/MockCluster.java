package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;

/**
 * fabric8's mock API server in CRUD mode, made to behave like a real API server where the agent
 * depends on it:
 *
 * <ul>
 *   <li>The field selector {@code spec.nodeName=<node>} is honoured. The mock indexes only names,
 *       namespaces and labels, so every pod written through {@link #put} also carries the label
 *       {@value #NODE_LABEL} with its node, and the selector is answered as that label selector.
 *   <li>A watch of a resource this server has not listed yet (a client that watched the server
 *       before it restarted, with a resource version from that history) gets the real server's
 *       answer to a stale resource version: an ERROR event with status 410 Gone, so the informer
 *       lists again.
 *   <li>{@link #forbid} answers every request under a path with 403 Forbidden, like RBAC.
 *   <li>{@link #slow} answers every request late, like an overloaded API server.
 * </ul>
 *
 * The paths of all requests are recorded ({@link #requests()}).
 */
public final class MockCluster implements AutoCloseable {

  public static final String NODE_LABEL = "mock.periscope.io/node";
  /** The mock server logs every request at INFO; held, because JUL forgets the level of a collected logger. */
  private static final java.util.logging.Logger MOCK_LOGS = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  static {
    MOCK_LOGS.setLevel(java.util.logging.Level.parse(System.getProperty("mock.log", "WARNING")));
  }

  private final KubernetesMockServer server;
  private final List<String> requests = new CopyOnWriteArrayList<>();
  private final Set<String> forbidden = ConcurrentHashMap.newKeySet();
  private final Set<String> listed = ConcurrentHashMap.newKeySet();
  private final List<KubernetesClient> clients = new CopyOnWriteArrayList<>();
  private final Set<WebSocket> watches = ConcurrentHashMap.newKeySet();
  private final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
  private volatile Duration answerDelay = Duration.ZERO;

  private MockCluster(int port) {
    Dispatcher dispatcher = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return MockCluster.this.dispatch(request);
      }
    };
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
    if (port > 0) {
      server.start(port);
    } else {
      server.start();
    }
  }

  /** On a free port. */
  public static MockCluster start() {
    return new MockCluster(0);
  }

  /** On this port (one nothing listened on yet: a closed server's port lingers). */
  public static MockCluster start(int port) {
    return new MockCluster(port);
  }

  /**
   * The API server restarts and has lost its history (a new etcd): every open watch drops, the
   * store starts empty, and a watch from an old resource version gets 410 Gone until the client
   * lists again. Resource versions go on growing, as they would.
   */
  public void restart() {
    restart(() -> {});
  }

  /**
   * The same, with the new history written before the watches drop: the mock's watches do not
   * replay from a resource version as a real API server's do, so a write between a client's new
   * list and its new watch would be lost to it, which no real server does.
   */
  public void restart(Runnable newHistory) {
    crud.reset();
    listed.clear();
    newHistory.run();
    watches.forEach(w -> w.close(1001, "going away"));
    watches.clear();
  }

  public int port() {
    return server.getPort();
  }

  public String url() {
    return "http://127.0.0.1:" + port();
  }

  /** A client for the test's own writes (closed with the cluster). */
  public KubernetesClient client() {
    KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder()
            .withMasterUrl(url())
            .withRequestRetryBackoffLimit(0)
            .withNamespace("default")
            .build())
        .withHttpClientFactory(new JdkHttpClientFactory())
        .build();
    clients.add(client);
    return client;
  }

  /** A client for the code under test, which it owns: fast to give up a request, quick to reconnect. */
  public KubernetesClient clientUnderTest(ExecutorService tasks) {
    return new KubernetesClientBuilder()
        .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder()
            .withMasterUrl(url())
            .withRequestRetryBackoffLimit(0)
            .withRequestTimeout(2_000)
            .withConnectionTimeout(1_000)
            .withWatchReconnectInterval(200)
            .build())
        .withHttpClientFactory(new JdkHttpClientFactory())
        .withTaskExecutor(tasks)
        .build();
  }

  /** A kubeconfig that points at this server. */
  public Path writeKubeconfig(Path dir) {
    String kubeconfig = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster:
            server: %s
        users:
        - name: mock
          user:
            token: not-checked
        contexts:
        - name: mock
          context:
            cluster: mock
            user: mock
            namespace: default
        current-context: mock
        """.formatted(url());
    try {
      return Files.writeString(dir.resolve("kubeconfig"), kubeconfig);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Creates or replaces an object; a pod also gets the label that stands for its node. */
  public <T extends HasMetadata> T put(T object) {
    HasMetadata written = object instanceof Pod pod ? withNodeLabel(pod) : object;
    KubernetesClient client = clients.isEmpty() ? client() : clients.getFirst();
    @SuppressWarnings("unchecked")
    T result = (T) client.resource(written).createOr(NonDeletingOperation::update);
    return result;
  }

  /** Deletes an object. */
  public void delete(HasMetadata object) {
    KubernetesClient client = clients.isEmpty() ? client() : clients.getFirst();
    client.resource(object).delete();
  }

  /** Answers every request whose path starts with this (e.g. {@code /api/v1/services}) with 403 Forbidden. */
  public void forbid(String pathPrefix) {
    forbidden.add(pathPrefix);
  }

  public void permit(String pathPrefix) {
    forbidden.remove(pathPrefix);
  }

  /** Answers every request {@code delay} late, as an overloaded API server does (zero: at once again). */
  public void slow(Duration delay) {
    answerDelay = delay;
  }

  /** Paths (with queries, decoded) of every request so far. */
  public List<String> requests() {
    return List.copyOf(requests);
  }

  @Override
  public void close() {
    clients.forEach(KubernetesClient::close);
    try {
      server.shutdown();
    } catch (IllegalStateException slow) {
      // fabric8's WatchEventsListener.onClosed waits for its executor on the mock server's event
      // loop; on a loaded machine that outlasts shutdown()'s own timeout ("Unable to close
      // MockWebServer"). The test is over and each cluster has a port of its own: nothing to undo.
      if (!String.valueOf(slow.getMessage()).contains("Unable to close")) {
        throw slow;
      }
    }
  }

  private static Pod withNodeLabel(Pod pod) {
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    if (node == null) {
      return pod;
    }
    return new PodBuilder(pod).editMetadata().addToLabels(NODE_LABEL, node).endMetadata().build();
  }

  private MockResponse dispatch(RecordedRequest request) {
    Duration delay = answerDelay;
    if (!delay.isZero()) {
      try {
        Thread.sleep(delay);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    String path = request.getPath();
    requests.add(URLDecoder.decode(path, StandardCharsets.UTF_8));
    String resource = URI.create(path).getRawPath();
    for (String prefix : forbidden) {
      if (resource.startsWith(prefix)) {
        return new MockResponse().setResponseCode(403).setBody(status(403, "Forbidden",
            "forbidden: User \"system:serviceaccount:periscope:periscope\" cannot access " + resource));
      }
    }
    String rewritten = nodeSelectorAsLabel(path);
    boolean watch = rewritten.contains("watch=true");
    if ("GET".equals(request.getMethod()) && !watch) {
      listed.add(resource);
    }
    if (watch && !listed.contains(resource)) {
      return new MockResponse().withWebSocketUpgrade(new WebSocketListener() {
        @Override
        public void onOpen(WebSocket webSocket, Response response) {
          // The client closes the watch when it reads the error; closing here first could beat the message.
          webSocket.send("{\"type\":\"ERROR\",\"object\":" + status(410, "Expired", "too old resource version") + "}");
        }
      });
    }
    if (!rewritten.equals(path)) {
      request = new RecordedRequest(request.getHttpVersion(), request.method(), rewritten, request.getHeaders(),
          request.getBody());
    }
    MockResponse response = crud.dispatch(request);
    WebSocketListener upgrade = response.getWebSocketListener();
    return upgrade == null ? response : response.withWebSocketUpgrade(tracked(upgrade));
  }

  /** The CRUD watch, with its socket remembered so that {@link #restart()} can drop it. */
  private WebSocketListener tracked(WebSocketListener watch) {
    return new WebSocketListener() {
      @Override
      public void onOpen(WebSocket webSocket, Response response) {
        watches.add(webSocket);
        watch.onOpen(webSocket, response);
      }

      @Override
      public void onMessage(WebSocket webSocket, String text) {
        watch.onMessage(webSocket, text);
      }

      @Override
      public void onClosing(WebSocket webSocket, int code, String reason) {
        watch.onClosing(webSocket, code, reason);
      }

      @Override
      public void onClosed(WebSocket webSocket, int code, String reason) {
        watches.remove(webSocket);
        watch.onClosed(webSocket, code, reason);
      }

      @Override
      public void onFailure(WebSocket webSocket, Throwable t, Response response) {
        watches.remove(webSocket);
        watch.onFailure(webSocket, t, response);
      }
    };
  }

  /** {@code fieldSelector=spec.nodeName=N} (among others) becomes {@code labelSelector=NODE_LABEL=N}. */
  private static String nodeSelectorAsLabel(String path) {
    int q = path.indexOf('?');
    if (q < 0 || !path.contains("spec.nodeName")) {
      return path;
    }
    List<String> params = new ArrayList<>();
    String node = null;
    String labels = null;
    for (String param : path.substring(q + 1).split("&")) {
      int eq = param.indexOf('=');
      String name = eq < 0 ? param : param.substring(0, eq);
      String value = eq < 0 ? "" : URLDecoder.decode(param.substring(eq + 1), StandardCharsets.UTF_8);
      if (name.equals("fieldSelector")) {
        List<String> kept = new ArrayList<>();
        for (String requirement : value.split(",")) {
          if (requirement.startsWith("spec.nodeName=")) {
            node = requirement.substring("spec.nodeName=".length());
          } else if (!requirement.isEmpty()) {
            kept.add(requirement);
          }
        }
        if (!kept.isEmpty()) {
          params.add("fieldSelector=" + URLEncoder.encode(String.join(",", kept), StandardCharsets.UTF_8));
        }
      } else if (name.equals("labelSelector")) {
        labels = value;
      } else {
        params.add(param);
      }
    }
    String selector = NODE_LABEL + "=" + node + (labels == null ? "" : "," + labels);
    params.add("labelSelector=" + URLEncoder.encode(selector, StandardCharsets.UTF_8));
    return path.substring(0, q + 1) + String.join("&", params);
  }

  private static String status(int code, String reason, String message) {
    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\""
        + message.replace("\"", "\\\"") + "\",\"reason\":\"" + reason + "\",\"code\":" + code + "}";
  }
}
