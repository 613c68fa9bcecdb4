package io.periscope.metadata.k8s;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.client.Config;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Whether the agent reads Kubernetes metadata, for which node, and how it reaches the API server:
 * decided once at startup from the environment, with no network access.
 *
 * <p>In {@link Mode#AUTO}, Kubernetes mode needs the node's name ({@code $NODE_NAME}, from the
 * downward API in a DaemonSet) and a way to the API server, in this order: the kubeconfig named by
 * {@code $KUBECONFIG}, the pod's service account ({@code $KUBERNETES_SERVICE_HOST} and
 * {@value #SERVICE_ACCOUNT_TOKEN}), {@code $HOME/.kube/config}. Without the node's name a
 * kubeconfig says nothing about which node this is, so the agent stays in process mode; a service
 * account without {@code $NODE_NAME} is a DaemonSet mistake and is refused.
 *
 * @param nodeName   the node this agent runs on; null in process mode
 * @param kubeconfig the kubeconfig file, for {@link Source#KUBECONFIG}
 * @param reason     why process mode, for {@link Source#NONE}: shown in the startup line
 */
public record ClusterAccess(Source source, @Nullable String nodeName, @Nullable Path kubeconfig, String reason) {

  /** What {@code --kubernetes} allows. */
  public enum Mode {
    /** Kubernetes metadata when this is a Kubernetes node, process metadata otherwise. */
    AUTO,
    /** Process metadata only, even on a Kubernetes node. */
    OFF;

    /** {@code auto} or {@code off}; anything else is refused with what is allowed. */
    public static Mode parse(String text) {
      for (Mode mode : values()) {
        if (mode.name().toLowerCase(Locale.ROOT).equals(text.strip())) {
          return mode;
        }
      }
      throw new IllegalArgumentException("'" + text + "' is not auto or off");
    }
  }

  /** Where the API server's address and credentials come from. */
  public enum Source { NONE, IN_CLUSTER, KUBECONFIG }

  static final String SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

  public ClusterAccess {
    requireNonNull(source, "source");
    requireNonNull(reason, "reason");
    if (source != Source.NONE && nodeName == null) {
      throw new IllegalArgumentException("Kubernetes mode needs the node's name");
    }
  }

  /** Process mode, for this reason. */
  public static ClusterAccess none(String reason) {
    return new ClusterAccess(Source.NONE, null, null, reason);
  }

  /**
   * Decides from these environment variables and the service account token file.
   *
   * @throws IllegalArgumentException for a mistake to fix: the message says what
   */
  public static ClusterAccess detect(Mode mode, Map<String, String> env) {
    return detect(mode, env, Path.of(SERVICE_ACCOUNT_TOKEN));
  }

  static ClusterAccess detect(Mode mode, Map<String, String> env, Path serviceAccountToken) {
    if (mode == Mode.OFF) {
      return none("--kubernetes off");
    }
    boolean inCluster = !blank(env.get("KUBERNETES_SERVICE_HOST")) && Files.isRegularFile(serviceAccountToken);
    String nodeName = env.get("NODE_NAME");
    if (nodeName != null && nodeName.isBlank()) {
      throw new IllegalArgumentException("NODE_NAME is set but empty: set it to this node's name (in a DaemonSet,"
          + " from the downward API: valueFrom.fieldRef.fieldPath spec.nodeName), or pass --kubernetes off");
    }
    if (nodeName == null) {
      if (inCluster) {
        throw new IllegalArgumentException("running in a Kubernetes pod (service account token at "
            + serviceAccountToken + ") but NODE_NAME is not set: give the agent's container env NODE_NAME from"
            + " the downward API (valueFrom.fieldRef.fieldPath spec.nodeName), or pass --kubernetes off");
      }
      return none("not a Kubernetes node: NODE_NAME is not set");
    }
    nodeName = nodeName.strip();
    String listed = env.get("KUBECONFIG");
    if (!blank(listed)) {
      for (String file : listed.split(File.pathSeparator)) {
        if (!file.isBlank() && Files.isRegularFile(Path.of(file.strip()))) {
          return kubeconfig(nodeName, Path.of(file.strip()));
        }
      }
      throw new IllegalArgumentException("KUBECONFIG: no such file: " + listed);
    }
    if (inCluster) {
      return new ClusterAccess(Source.IN_CLUSTER, nodeName, null, "");
    }
    String home = env.get("HOME");
    if (!blank(home) && Files.isRegularFile(Path.of(home, ".kube", "config"))) {
      return kubeconfig(nodeName, Path.of(home, ".kube", "config"));
    }
    return none("NODE_NAME is set, but there is no service account token (" + serviceAccountToken
        + ") and no kubeconfig");
  }

  /** A kubeconfig that the API client can read: refused at startup when it cannot, not at the first request. */
  private static ClusterAccess kubeconfig(String nodeName, Path file) {
    try {
      Config.fromKubeconfig(file.toFile());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("kubeconfig " + file + " cannot be used: " + e.getMessage(), e);
    }
    return new ClusterAccess(Source.KUBECONFIG, nodeName, file, "");
  }

  /** The API client's configuration: address, credentials, CA. Reads the kubeconfig or service account files. */
  Config clientConfig() {
    return switch (source) {
      case KUBECONFIG -> Config.fromKubeconfig(requireNonNull(kubeconfig).toFile());
      // The client's own in-cluster detection also re-reads a rotated service account token.
      case IN_CLUSTER -> Config.autoConfigure(null);
      case NONE -> throw new IllegalStateException("process mode has no API server");
    };
  }

  /** How the API server is reached, for the startup line. */
  String via() {
    return switch (source) {
      case KUBECONFIG -> "kubeconfig " + kubeconfig;
      case IN_CLUSTER -> "service account";
      case NONE -> reason;
    };
  }

  private static boolean blank(@Nullable String s) {
    return s == null || s.isBlank();
  }
}
