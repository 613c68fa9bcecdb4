package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.WatcherException;
import java.net.HttpURLConnection;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Reports failed API calls once per resource, so an unreachable API server or a missing RBAC rule
 * gives one clear line, not one per retry: the first failure for a resource is a warning that says
 * what is missing and what the spans lack meanwhile; further ones are logged at FINE and counted.
 * When the resource works again after a warning, one line says so.
 */
final class ApiProblems {

  private static final Logger logger = Logger.getLogger("io.periscope.metadata.kubernetes");

  /** A resource the agent reads, with the RBAC rule it needs and what is lost without it. */
  enum Access {
    PODS("pods", "", "list, watch", "pods on this node", "spans carry process attributes only"),
    SERVICES("services", "", "list, watch", "services", "peers stay IP addresses"),
    REPLICASETS("replicasets", "apps", "get", "replicasets", "k8s.deployment.name is left out"),
    JOBS("jobs", "batch", "get", "jobs", "k8s.cronjob.name is left out");

    final String resource;
    final String apiGroup;
    final String verbs;
    final String what;
    final String consequence;

    Access(String resource, String apiGroup, String verbs, String what, String consequence) {
      this.resource = resource;
      this.apiGroup = apiGroup;
      this.verbs = verbs;
      this.what = what;
      this.consequence = consequence;
    }

    String rule() {
      return verbs + " on " + resource + (apiGroup.isEmpty() ? " (core API group)" : " (API group " + apiGroup + ")");
    }
  }

  private final String apiServer;
  private final Set<Access> warned = ConcurrentHashMap.newKeySet();
  private final LongAdder failures = new LongAdder();

  ApiProblems(String apiServer) {
    this.apiServer = apiServer;
  }

  void failed(Access access, Throwable t) {
    failures.increment();
    if (warned.add(access)) {
      logger.warning(message(access, t));
    } else if (logger.isLoggable(Level.FINE)) {
      logger.fine("kubernetes: " + access.what + ": " + describe(t));
    }
  }

  void recovered(Access access) {
    if (warned.remove(access)) {
      logger.info("kubernetes: " + access.what + ": reachable again");
    }
  }

  /** Failed calls since construction, every retry included. */
  long failures() {
    return failures.sum();
  }

  static boolean isForbidden(Throwable t) {
    return code(t) == HttpURLConnection.HTTP_FORBIDDEN;
  }

  static boolean isNotFound(Throwable t) {
    return code(t) == HttpURLConnection.HTTP_NOT_FOUND;
  }

  private String message(Access access, Throwable t) {
    if (isForbidden(t)) {
      return "kubernetes: forbidden to read " + access.what + " (RBAC): the agent's service account needs "
          + access.rule() + "; until then " + access.consequence;
    }
    if (code(t) == HttpURLConnection.HTTP_UNAUTHORIZED) {
      return "kubernetes: " + apiServer + " refused the agent's credentials reading " + access.what + " (401); "
          + access.consequence + " until they are accepted (retrying)";
    }
    return "kubernetes: cannot read " + access.what + " from " + apiServer + ": " + describe(t) + "; "
        + access.consequence + " until it answers (retrying)";
  }

  private static int code(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof KubernetesClientException k && k.getCode() > 0) {
        return k.getCode();
      }
      if (c instanceof WatcherException w && w.getCause() instanceof KubernetesClientException k && k.getCode() > 0) {
        return k.getCode();
      }
    }
    return -1;
  }

  /** The innermost cause, which fabric8 wraps in two or three layers, in words: "connection refused". */
  private static String describe(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    if (root instanceof KubernetesClientException k && k.getCode() > 0) {
      return "HTTP " + k.getCode() + (k.getStatus() != null && k.getStatus().getMessage() != null
          ? " " + k.getStatus().getMessage() : "");
    }
    String message = root.getMessage();
    String said = message == null || message.isBlank() ? "" : ": " + message;
    return switch (root) {
      case java.net.ConnectException c -> "connection refused";
      // The JDK's HTTP client closes the channel when the connection is refused or reset.
      case java.nio.channels.ClosedChannelException c -> "connection refused or closed";
      case java.net.http.HttpTimeoutException h -> "timed out" + said;
      case java.net.SocketTimeoutException s -> "timed out" + said;
      case java.net.UnknownHostException u -> "unknown host" + said;
      default -> root.getClass().getSimpleName() + said;
    };
  }
}
