package io.periscope.agent;

import io.periscope.agent.link.TraceLinker;
import io.periscope.bpf.CaptureConfig;
import io.periscope.bpf.CaptureVariant;
import io.periscope.bpf.SocketEvent;
import io.periscope.exporter.ExporterConfig;
import io.periscope.metadata.MetadataConfig;
import io.periscope.metadata.k8s.ClusterAccess;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Everything the agent is told at startup, from four sources, each overriding the one before:
 * defaults, the configuration file ({@code --config FILE} or {@code $PERISCOPE_CONFIG}), environment
 * variables (the standard {@code OTEL_*} ones where OpenTelemetry defines one), and command-line
 * flags. {@link Setting} names every setting in each source. Mistakes are refused here, with the
 * name of the key, variable or flag and what it allows, before anything touches the kernel.
 *
 * @param samplingRatio the share of new traces kept, 0 to 1; spans with a parent follow the
 *     parent's sampled flag
 * @param healthAddress where {@code /healthz}, {@code /readyz} and {@code /metrics} are served, or
 *     {@code null} for nowhere
 */
public record AgentConfig(
    ExporterConfig exporter,
    Set<Integer> pids,
    Set<String> processes,
    Set<Integer> ports,
    int captureBytes,
    int ringBufferBytes,
    CaptureVariant captureVariant,
    long linkWindowNanos,
    boolean sdkServerSpans,
    boolean stitchKeys,
    boolean injectTraceparent,
    boolean injectDespiteFionread,
    boolean queryValues,
    double samplingRatio,
    @Nullable InetSocketAddress healthAddress,
    LogFormat logFormat,
    MetadataConfig metadata,
    boolean help,
    boolean version) {

  /** Every trace is kept unless configured otherwise. */
  public static final double DEFAULT_SAMPLING_RATIO = 1.0;
  static final String CONFIG_VARIABLE = "PERISCOPE_CONFIG";
  private static final String SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG";

  static final String USAGE = """
      Usage: periscope [options]

      Traces the HTTP/1.x requests every process on this host serves and makes, from the kernel,
      with no change to the applications. Spans go to an OTLP endpoint, or to this terminal as
      one waterfall per trace.

        --config FILE            read settings from this YAML file (default: $PERISCOPE_CONFIG);
                                 variables override the file, flags override both

      Export:
        --otlp-endpoint URL      OTLP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT; none = terminal)
        --otlp-protocol P        grpc | http/protobuf (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)
        --otlp-timeout-ms N      how long one export request may take (default: $OTEL_EXPORTER_OTLP_TIMEOUT, else 10000)

      What to trace (default: every process, every port; never the agent itself):
        --pid PID[,PID...]       only these processes (repeatable)
        --process NAME[,...]     only processes with this command name, as in ps -o comm (repeatable)
        --port PORT[,PORT...]    only connections with this local or remote port (repeatable)

      Capture:
        --capture-bytes N        payload bytes copied per syscall, 1-%d (default %d)
        --ring-buffer-mb N       kernel ring buffer size in MiB, a power of two (default %d)
        --capture-variant V      auto | full | compat: which build of the kernel programs to load
                                 (default auto: full where the kernel has bpf_loop, task storage
                                 and bpf_task_pt_regs, else compat)
        --query-values           export query parameter values (default: replaced by REDACTED)

      Linking and sampling:
        --link-window-ms N       how long a server span waits for the client span of the same request
                                 from a traced process on this host, 0-10000 (default %d; 0: never wait)
        --sdk-server-spans       SERVER spans also for processes with their own OpenTelemetry SDK
                                 (default: none; the SDK makes them)
        --stitch-keys            put periscope.stitch_key (client endpoint + TCP sequence number of the
                                 request) on every span, to join spans of agents on two nodes
        --inject-traceparent     insert a traceparent into plaintext HTTP/1 requests that traced
                                 clients send without one, so the next hop (another node, an SDK)
                                 continues the trace; edits requests in flight: see README
        --inject-despite-fionread inject also on kernels whose ioctl(FIONREAD) then says 0 on
                                 the connections injection tracks (refused there otherwise: README)
        --sampling-ratio R       share of new traces kept, 0-1 (default 1); a span with a parent
                                 follows the parent's sampled flag (default: $OTEL_TRACES_SAMPLER)

      Operation:
        --health-address H:P     serve /healthz, /readyz and /metrics there, e.g. 0.0.0.0:9464
                                 (default: not served)
        --log-format F           text | json (one JSON object per line) (default text)

      Metadata (who each process is):
        --kubernetes MODE        auto | off (default auto): pod attributes on a Kubernetes node, known
                                 from $NODE_NAME and a service account or kubeconfig ($KUBECONFIG)
        --proc-root DIR          the traced processes' proc filesystem (default /proc; in a DaemonSet,
                                 the host's /proc mounted at e.g. /host/proc)
        $OTEL_RESOURCE_ATTRIBUTES and $OTEL_SERVICE_NAME are put on every span's resource.

        --help                   this text
        --version                the version

      Every setting has a key in the file and a variable: see docs/configuration.md.
      """.formatted(SocketEvent.MAX_CAPTURE, CaptureConfig.DEFAULT_CAPTURE_BYTES,
          CaptureConfig.DEFAULT_RING_BUFFER_BYTES >> 20, TraceLinker.DEFAULT_WINDOW_NANOS / 1_000_000);

  /** How the agent writes its log lines. */
  public enum LogFormat {
    TEXT,
    JSON
  }

  /** A configuration mistake: the message names the key, variable or flag and what it allows. */
  public static final class ConfigException extends RuntimeException {
    ConfigException(String message) {
      super(message);
    }
  }

  /** One setting's value as given, and where it came from (a flag, a variable, or FILE: key). */
  record Value(String text, String origin) {}

  public static AgentConfig parse(List<String> args, Map<String, String> env) {
    Map<Setting, Value> flags = new EnumMap<>(Setting.class);
    boolean help = false;
    boolean version = false;
    String configFile = blankToNull(env.get(CONFIG_VARIABLE));

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
        case "--config" -> configFile = value(option, inline, rest);
        default -> {
          String flag = option;
          Setting setting = Setting.byFlag(flag)
              .orElseThrow(() -> new ConfigException("unknown option '" + arg + "' (see --help)"));
          String text = setting.shape == Setting.Shape.SWITCH ? "true" : value(flag, inline, rest);
          Value earlier = flags.get(setting);
          // A repeated list flag adds to the list; any other repeated flag: the last one wins.
          if (earlier != null && setting.shape == Setting.Shape.LIST) {
            text = earlier.text() + "," + text;
          }
          flags.put(setting, new Value(text, flag));
        }
      }
    }

    Map<Setting, Value> file = configFile == null ? Map.of() : ConfigFile.read(Path.of(configFile));
    Map<Setting, Value> chosen = new EnumMap<>(Setting.class);
    chosen.putAll(file);
    for (Setting setting : Setting.values()) {
      if (!setting.isExport() && setting != Setting.SAMPLING_RATIO && blankToNull(env.get(setting.variable)) != null) {
        chosen.put(setting, new Value(env.get(setting.variable).strip(), setting.variable));
      }
    }
    Value sampler = sampler(env);
    if (sampler != null) {
      chosen.put(Setting.SAMPLING_RATIO, sampler);
    }
    chosen.putAll(flags);

    Set<Integer> pids = new LinkedHashSet<>();
    Set<String> processes = new LinkedHashSet<>();
    Set<Integer> ports = new LinkedHashSet<>();
    int captureBytes = CaptureConfig.DEFAULT_CAPTURE_BYTES;
    int ringBufferBytes = CaptureConfig.DEFAULT_RING_BUFFER_BYTES;
    CaptureVariant captureVariant = CaptureVariant.AUTO;
    long linkWindowNanos = TraceLinker.DEFAULT_WINDOW_NANOS;
    boolean queryValues = false;
    boolean sdkServerSpans = false;
    boolean stitchKeys = false;
    boolean injectTraceparent = false;
    boolean injectDespiteFionread = false;
    double samplingRatio = DEFAULT_SAMPLING_RATIO;
    InetSocketAddress healthAddress = null;
    LogFormat logFormat = LogFormat.TEXT;
    ClusterAccess.Mode kubernetes = ClusterAccess.Mode.AUTO;
    Path procRoot = MetadataConfig.DEFAULT_PROC_ROOT;
    String procRootOrigin = Setting.PROC_ROOT.flag;
    for (Map.Entry<Setting, Value> entry : chosen.entrySet()) {
      Value v = entry.getValue();
      String origin = v.origin();
      switch (entry.getKey()) {
        case OTLP_ENDPOINT, OTLP_PROTOCOL, OTLP_HEADERS, OTLP_TIMEOUT_MS -> { } // below, with the exporter's variables
        case PIDS -> {
          for (String p : list(origin, v.text())) {
            pids.add(integer(origin, p, 1, Integer.MAX_VALUE, "a process id"));
          }
        }
        case PROCESSES -> {
          for (String name : list(origin, v.text())) {
            if (name.length() > CaptureConfig.MAX_COMM_LENGTH) {
              throw new ConfigException(origin + ": '" + name + "' is longer than 15 characters; the kernel"
                  + " keeps only the first 15 of a command name (see ps -o comm)");
            }
            processes.add(name);
          }
        }
        case PORTS -> {
          for (String p : list(origin, v.text())) {
            ports.add(integer(origin, p, 1, 65535, "a port (1-65535)"));
          }
        }
        case CAPTURE_BYTES -> captureBytes = integer(origin, v.text(), 1, SocketEvent.MAX_CAPTURE,
            "a byte count from 1 to " + SocketEvent.MAX_CAPTURE);
        case RING_BUFFER_MB -> {
          int mib = integer(origin, v.text(), 1, 1024, "a power of two from 1 to 1024");
          if (Integer.bitCount(mib) != 1) {
            throw new ConfigException(origin + ": " + mib + " is not a power of two (1, 2, 4, ... 1024)");
          }
          ringBufferBytes = mib << 20;
        }
        case CAPTURE_VARIANT -> captureVariant = switch (v.text().strip().toLowerCase(Locale.ROOT)) {
          case "auto" -> CaptureVariant.AUTO;
          case "full" -> CaptureVariant.FULL;
          case "compat" -> CaptureVariant.COMPAT;
          default -> throw new ConfigException(origin + ": '" + v.text()
              + "' is not a capture variant, allowed: auto, full, compat");
        };
        case QUERY_VALUES -> queryValues = bool(origin, v.text());
        case SDK_SERVER_SPANS -> sdkServerSpans = bool(origin, v.text());
        case STITCH_KEYS -> stitchKeys = bool(origin, v.text());
        case INJECT_TRACEPARENT -> injectTraceparent = bool(origin, v.text());
        case INJECT_DESPITE_FIONREAD -> injectDespiteFionread = bool(origin, v.text());
        case LINK_WINDOW_MS -> linkWindowNanos = 1_000_000L * integer(origin, v.text(), 0, 10_000,
            "a number of milliseconds from 0 to 10000");
        case SAMPLING_RATIO -> samplingRatio = ratio(origin, v.text());
        case HEALTH_ADDRESS -> healthAddress = address(origin, v.text());
        case LOG_FORMAT -> logFormat = switch (v.text().strip().toLowerCase(Locale.ROOT)) {
          case "text" -> LogFormat.TEXT;
          case "json" -> LogFormat.JSON;
          default -> throw new ConfigException(origin + ": '" + v.text() + "' is not a log format, allowed: text, json");
        };
        case KUBERNETES -> {
          try {
            // YAML 1.1 reads an unquoted off as false.
            String mode = v.text().strip();
            kubernetes = ClusterAccess.Mode.parse(mode.equals("false") ? "off" : mode);
          } catch (IllegalArgumentException e) {
            throw new ConfigException(origin + ": " + e.getMessage());
          }
        }
        case PROC_ROOT -> {
          try {
            procRoot = Path.of(v.text().strip());
          } catch (InvalidPathException e) {
            throw new ConfigException(origin + ": '" + v.text() + "' is not a path (" + e.getReason() + ")");
          }
          procRootOrigin = origin;
        }
      }
    }
    MetadataConfig metadata = MetadataConfig.processOnly();
    if (!help && !version) {
      try {
        metadata = MetadataConfig.fromEnvironment(kubernetes, procRoot, env);
      } catch (IllegalArgumentException e) {
        // Its messages name the flag: say where the value came from, the file or a variable.
        String message = e.getMessage();
        throw new ConfigException(message.startsWith(Setting.PROC_ROOT.flag)
            ? procRootOrigin + message.substring(Setting.PROC_ROOT.flag.length()) : message);
      }
    }
    return new AgentConfig(exporter(file, env, flags), Set.copyOf(pids), Set.copyOf(processes), Set.copyOf(ports),
        captureBytes, ringBufferBytes, captureVariant, linkWindowNanos, sdkServerSpans, stitchKeys, injectTraceparent, injectDespiteFionread, queryValues, samplingRatio, healthAddress, logFormat, metadata,
        help, version);
  }

  /**
   * The exporter's settings: the file's values stand in for the standard variables, the real
   * variables override them, and flags override both. The variables' own rules (a base URL gets
   * {@code /v1/traces} for http/protobuf, a {@code _TRACES_} variable beats the general one) then
   * apply to every source alike.
   */
  private static ExporterConfig exporter(Map<Setting, Value> file, Map<String, String> env, Map<Setting, Value> flags) {
    Map<String, String> merged = new HashMap<>();
    for (Map.Entry<Setting, Value> entry : file.entrySet()) {
      if (entry.getKey().isExport()) {
        String text = entry.getKey() == Setting.OTLP_ENDPOINT
            ? endpoint(entry.getValue().origin(), entry.getValue().text()) : entry.getValue().text();
        checkExport(entry.getKey(), text, entry.getValue().origin());
        merged.put(entry.getKey().variable, text);
      }
    }
    merged.putAll(env);
    for (Map.Entry<Setting, Value> entry : flags.entrySet()) {
      Setting setting = entry.getKey();
      if (setting.isExport()) {
        String text = setting == Setting.OTLP_ENDPOINT
            ? endpoint(entry.getValue().origin(), entry.getValue().text()) : entry.getValue().text();
        checkExport(setting, text, entry.getValue().origin());
        merged.remove(setting.variable.replace("OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"));
        merged.put(setting.variable, text);
      }
    }
    try {
      return ExporterConfig.fromEnvironment(merged);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
  }

  /** Checks a file's or flag's export value alone, so the message names the key or flag, not a variable. */
  private static void checkExport(Setting setting, String text, String origin) {
    try {
      ExporterConfig.fromEnvironment(Map.of(setting.variable, text));
    } catch (IllegalArgumentException e) {
      String message = e.getMessage();
      throw new ConfigException(message.startsWith(setting.variable)
          ? origin + message.substring(setting.variable.length()) : origin + ": " + message);
    }
  }

  /**
   * The standard sampler variables as a ratio. Periscope's sampler is always parent-based (a span
   * with a parent follows the parent's sampled flag: a trace is kept or dropped whole), so only the
   * parent-based samplers are accepted; the others would silently mean something else here.
   */
  private static @Nullable Value sampler(Map<String, String> env) {
    String name = blankToNull(env.get(Setting.SAMPLING_RATIO.variable));
    if (name == null) {
      return null;
    }
    String variable = Setting.SAMPLING_RATIO.variable;
    return switch (name.strip()) {
      case "parentbased_always_on" -> new Value("1", variable);
      case "parentbased_always_off" -> new Value("0", variable);
      case "parentbased_traceidratio" -> {
        String arg = blankToNull(env.get(SAMPLER_ARG));
        // The specification's default ratio when the argument is missing is 1.0.
        yield arg == null ? new Value("1", variable) : new Value(arg.strip(), SAMPLER_ARG);
      }
      default -> throw new ConfigException(variable + ": '" + name + "' is not supported, allowed:"
          + " parentbased_always_on, parentbased_always_off, parentbased_traceidratio (with "
          + SAMPLER_ARG + "); Periscope's sampling is always parent-based");
    };
  }

  /** The kernel capture's part of the configuration. */
  CaptureConfig capture(int agentPid) {
    return new CaptureConfig(agentPid, captureBytes, ringBufferBytes, pids, processes, ports, injectTraceparent,
        samplingRatio, captureVariant, injectDespiteFionread);
  }

  private static @Nullable String blankToNull(@Nullable String s) {
    return s == null || s.isBlank() ? null : s;
  }

  private static String value(String option, @Nullable String inline, List<String> rest) {
    if (inline != null) {
      return inline;
    }
    if (rest.isEmpty() || rest.getFirst().startsWith("--")) {
      throw new ConfigException(option + " needs a value (see --help)");
    }
    return rest.removeFirst();
  }

  private static List<String> list(String origin, String value) {
    List<String> items = new ArrayList<>();
    for (String item : value.split(",")) {
      if (!item.isBlank()) {
        items.add(item.strip());
      }
    }
    if (items.isEmpty()) {
      throw new ConfigException(origin + " needs at least one value");
    }
    return items;
  }

  private static int integer(String origin, String value, int min, int max, String what) {
    try {
      int n = Integer.parseInt(value.strip());
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException(origin + ": '" + value + "' is not " + what);
  }

  private static boolean bool(String origin, String value) {
    return switch (value.strip().toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new ConfigException(origin + ": '" + value + "' is not true or false");
    };
  }

  private static double ratio(String origin, String value) {
    try {
      double r = Double.parseDouble(value.strip());
      if (r >= 0 && r <= 1) {
        return r;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException(origin + ": '" + value + "' is not a ratio from 0 to 1 (such as 0.25)");
  }

  /** HOST:PORT, [IPv6]:PORT, or :PORT for every interface. */
  private static InetSocketAddress address(String origin, String value) {
    String text = value.strip();
    int colon = text.lastIndexOf(':');
    String what = "a HOST:PORT address to listen on, such as 0.0.0.0:9464 or 127.0.0.1:9464";
    if (colon < 0) {
      throw new ConfigException(origin + ": '" + value + "' is not " + what);
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = integer(origin, text.substring(colon + 1), 1, 65535, "a port (1-65535) in " + what);
    InetSocketAddress address = host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
    if (address.isUnresolved()) {
      throw new ConfigException(origin + ": host '" + host + "' is not an address of this machine (" + what + ")");
    }
    return address;
  }

  private static String endpoint(String origin, String value) {
    try {
      URI uri = URI.create(value.strip());
      if (("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null) {
        return value.strip();
      }
    } catch (IllegalArgumentException e) {
      // reported below
    }
    throw new ConfigException(origin + ": '" + value + "' is not an http:// or https:// URL with a host");
  }
}
