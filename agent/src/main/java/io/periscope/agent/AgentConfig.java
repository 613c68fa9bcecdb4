package io.periscope.agent;

import io.periscope.agent.link.SameNodeLinker;
import io.periscope.bpf.CaptureConfig;
import io.periscope.bpf.SocketEvent;
import io.periscope.exporter.ExporterConfig;
import io.periscope.metadata.MetadataConfig;
import io.periscope.metadata.k8s.ClusterAccess;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything the agent is told at startup: command-line options over the standard
 * {@code OTEL_EXPORTER_OTLP_*} environment variables over defaults. Mistakes are refused here, with
 * the option's name and what it allows, before anything touches the kernel.
 */
public record AgentConfig(
    ExporterConfig exporter,
    Set<Integer> pids,
    Set<String> processes,
    Set<Integer> ports,
    int captureBytes,
    int ringBufferBytes,
    long linkWindowNanos,
    boolean queryValues,
    MetadataConfig metadata,
    boolean help,
    boolean version) {

  static final String USAGE = """
      Usage: periscope [options]

      Traces the HTTP/1.x requests every process on this host serves and makes, from the kernel,
      with no change to the applications. Spans go to an OTLP endpoint, or to this terminal as
      one waterfall per trace.

      Export:
        --otlp-endpoint URL      OTLP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT; none = terminal)
        --otlp-protocol P        grpc | http/protobuf (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)

      What to trace (default: every process, every port; never the agent itself):
        --pid PID[,PID...]       only these processes (repeatable)
        --process NAME[,...]     only processes with this command name, as in ps -o comm (repeatable)
        --port PORT[,PORT...]    only connections with this local or remote port (repeatable)

      Capture:
        --capture-bytes N        payload bytes copied per syscall, 1-%d (default %d)
        --ring-buffer-mb N       kernel ring buffer size in MiB, a power of two (default %d)
        --query-values           export query parameter values (default: replaced by REDACTED)

      Linking:
        --link-window-ms N       how long a server span waits for the client span of the same request
                                 from a traced process on this host, 0-10000 (default %d; 0: never wait)

      Metadata (who each process is):
        --kubernetes MODE        auto | off (default auto): pod attributes on a Kubernetes node, known
                                 from $NODE_NAME and a service account or kubeconfig ($KUBECONFIG)
        --proc-root DIR          the traced processes' proc filesystem (default /proc; in a DaemonSet,
                                 the host's /proc mounted at e.g. /host/proc)
        $OTEL_RESOURCE_ATTRIBUTES and $OTEL_SERVICE_NAME are put on every span's resource.

        --help                   this text
        --version                the version
      """.formatted(SocketEvent.MAX_CAPTURE, CaptureConfig.DEFAULT_CAPTURE_BYTES,
          CaptureConfig.DEFAULT_RING_BUFFER_BYTES >> 20, SameNodeLinker.DEFAULT_WINDOW_NANOS / 1_000_000);

  /** A configuration mistake: the message names the option and what it allows. */
  public static final class ConfigException extends RuntimeException {
    ConfigException(String message) {
      super(message);
    }
  }

  public static AgentConfig parse(List<String> args, Map<String, String> env) {
    String endpoint = null;
    String protocol = null;
    Set<Integer> pids = new LinkedHashSet<>();
    Set<String> processes = new LinkedHashSet<>();
    Set<Integer> ports = new LinkedHashSet<>();
    int captureBytes = CaptureConfig.DEFAULT_CAPTURE_BYTES;
    int ringBufferBytes = CaptureConfig.DEFAULT_RING_BUFFER_BYTES;
    long linkWindowNanos = SameNodeLinker.DEFAULT_WINDOW_NANOS;
    boolean queryValues = false;
    ClusterAccess.Mode kubernetes = ClusterAccess.Mode.AUTO;
    Path procRoot = MetadataConfig.DEFAULT_PROC_ROOT;
    boolean help = false;
    boolean version = false;

    List<String> rest = new ArrayList<>(args);
    while (!rest.isEmpty()) {
      String arg = rest.removeFirst();
      String option = arg;
      String inline = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        option = arg.substring(0, eq);
        inline = arg.substring(eq + 1);
      }
      switch (option) {
        case "--help", "-h" -> help = true;
        case "--version" -> version = true;
        case "--query-values" -> queryValues = true;
        case "--otlp-endpoint" -> endpoint = endpoint(value(option, inline, rest));
        case "--otlp-protocol" -> {
          protocol = value(option, inline, rest);
          try {
            ExporterConfig.Protocol.parse(protocol);
          } catch (IllegalArgumentException e) {
            throw new ConfigException("--otlp-protocol: " + e.getMessage());
          }
        }
        case "--pid" -> {
          for (String p : list(option, value(option, inline, rest))) {
            pids.add(integer(option, p, 1, Integer.MAX_VALUE, "a process id"));
          }
        }
        case "--process" -> {
          for (String name : list(option, value(option, inline, rest))) {
            if (name.length() > CaptureConfig.MAX_COMM_LENGTH) {
              throw new ConfigException("--process: '" + name + "' is longer than 15 characters; the kernel"
                  + " keeps only the first 15 of a command name (see ps -o comm)");
            }
            processes.add(name);
          }
        }
        case "--port" -> {
          for (String p : list(option, value(option, inline, rest))) {
            ports.add(integer(option, p, 1, 65535, "a port (1-65535)"));
          }
        }
        case "--capture-bytes" -> captureBytes = integer(option, value(option, inline, rest), 1,
            SocketEvent.MAX_CAPTURE, "a byte count from 1 to " + SocketEvent.MAX_CAPTURE);
        case "--ring-buffer-mb" -> {
          int mib = integer(option, value(option, inline, rest), 1, 1024, "a power of two from 1 to 1024");
          if (Integer.bitCount(mib) != 1) {
            throw new ConfigException("--ring-buffer-mb: " + mib + " is not a power of two (1, 2, 4, ... 1024)");
          }
          ringBufferBytes = mib << 20;
        }
        case "--link-window-ms" -> linkWindowNanos = 1_000_000L * integer(option, value(option, inline, rest), 0,
            10_000, "a number of milliseconds from 0 to 10000");
        case "--kubernetes" -> {
          try {
            kubernetes = ClusterAccess.Mode.parse(value(option, inline, rest));
          } catch (IllegalArgumentException e) {
            throw new ConfigException("--kubernetes: " + e.getMessage());
          }
        }
        case "--proc-root" -> procRoot = Path.of(value(option, inline, rest));
        default -> throw new ConfigException("unknown option '" + arg + "' (see --help)");
      }
    }
    // Flags override the standard variables; the variables' rules (a base URL gets /v1/traces for
    // http/protobuf) then apply to both alike.
    Map<String, String> merged = new HashMap<>(env);
    if (endpoint != null) {
      merged.remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
      merged.put("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    if (protocol != null) {
      merged.put("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol);
    }
    ExporterConfig exporter;
    try {
      exporter = ExporterConfig.fromEnvironment(merged);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    MetadataConfig metadata = MetadataConfig.processOnly();
    if (!help && !version) {
      try {
        metadata = MetadataConfig.fromEnvironment(kubernetes, procRoot, env);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(e.getMessage());
      }
    }
    return new AgentConfig(exporter, Set.copyOf(pids), Set.copyOf(processes), Set.copyOf(ports), captureBytes,
        ringBufferBytes, linkWindowNanos, queryValues, metadata, help, version);
  }

  /** The kernel capture's part of the configuration. */
  CaptureConfig capture(int agentPid) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, processes, ports);
  }

  private static String value(String option, String inline, List<String> rest) {
    if (inline != null) {
      return inline;
    }
    if (rest.isEmpty() || rest.getFirst().startsWith("--")) {
      throw new ConfigException(option + " needs a value (see --help)");
    }
    return rest.removeFirst();
  }

  private static List<String> list(String option, String value) {
    List<String> items = new ArrayList<>();
    for (String item : value.split(",")) {
      if (!item.isBlank()) {
        items.add(item.strip());
      }
    }
    if (items.isEmpty()) {
      throw new ConfigException(option + " needs at least one value");
    }
    return items;
  }

  private static int integer(String option, String value, int min, int max, String what) {
    try {
      int n = Integer.parseInt(value.strip());
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException(option + ": '" + value + "' is not " + what);
  }

  private static String endpoint(String value) {
    try {
      URI uri = URI.create(value);
      if (("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null) {
        return value;
      }
    } catch (IllegalArgumentException e) {
      // reported below
    }
    throw new ConfigException("--otlp-endpoint: '" + value + "' is not an http:// or https:// URL with a host");
  }
}
