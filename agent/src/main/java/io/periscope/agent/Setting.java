package io.periscope.agent;

import java.util.Arrays;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Every setting of the agent, with its three names: the key in the configuration file, the
 * environment variable, and the command-line flag. A flag beats a variable, which beats the file,
 * which beats the default (docs/configuration.md, the reference, lists them all). Adding a setting
 * is a row here and a case in {@link AgentConfig}.
 *
 * <p>Where OpenTelemetry defines a variable for the same thing, that variable is the one read
 * ({@code OTEL_EXPORTER_OTLP_*}, {@code OTEL_TRACES_SAMPLER}); the others are {@code PERISCOPE_*}.
 */
enum Setting {
  OTLP_ENDPOINT("export.endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "--otlp-endpoint", Shape.SCALAR),
  OTLP_PROTOCOL("export.protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "--otlp-protocol", Shape.SCALAR),
  /** No flag: a flag shows in every process listing, and these headers usually carry a token. */
  OTLP_HEADERS("export.headers", "OTEL_EXPORTER_OTLP_HEADERS", null, Shape.MAP),
  OTLP_TIMEOUT_MS("export.timeout_ms", "OTEL_EXPORTER_OTLP_TIMEOUT", "--otlp-timeout-ms", Shape.SCALAR),
  PIDS("filters.pids", "PERISCOPE_PIDS", "--pid", Shape.LIST),
  PROCESSES("filters.processes", "PERISCOPE_PROCESSES", "--process", Shape.LIST),
  PORTS("filters.ports", "PERISCOPE_PORTS", "--port", Shape.LIST),
  CAPTURE_BYTES("capture.bytes", "PERISCOPE_CAPTURE_BYTES", "--capture-bytes", Shape.SCALAR),
  RING_BUFFER_MB("capture.ring_buffer_mb", "PERISCOPE_RING_BUFFER_MB", "--ring-buffer-mb", Shape.SCALAR),
  CAPTURE_VARIANT("capture.variant", "PERISCOPE_CAPTURE_VARIANT", "--capture-variant", Shape.SCALAR),
  QUERY_VALUES("capture.query_values", "PERISCOPE_QUERY_VALUES", "--query-values", Shape.SWITCH),
  LINK_WINDOW_MS("linking.window_ms", "PERISCOPE_LINK_WINDOW_MS", "--link-window-ms", Shape.SCALAR),
  SDK_SERVER_SPANS("linking.sdk_server_spans", "PERISCOPE_SDK_SERVER_SPANS", "--sdk-server-spans", Shape.SWITCH),
  STITCH_KEYS("linking.stitch_keys", "PERISCOPE_STITCH_KEYS", "--stitch-keys", Shape.SWITCH),
  INJECT_TRACEPARENT("linking.inject_traceparent", "PERISCOPE_INJECT_TRACEPARENT", "--inject-traceparent", Shape.SWITCH),
  INJECT_DESPITE_FIONREAD("linking.inject_despite_fionread", "PERISCOPE_INJECT_DESPITE_FIONREAD",
      "--inject-despite-fionread", Shape.SWITCH),
  /** The file and the flag take the ratio; the environment takes the standard sampler pair. */
  SAMPLING_RATIO("sampling.ratio", "OTEL_TRACES_SAMPLER", "--sampling-ratio", Shape.SCALAR),
  HEALTH_ADDRESS("health.address", "PERISCOPE_HEALTH_ADDRESS", "--health-address", Shape.SCALAR),
  LOG_FORMAT("log.format", "PERISCOPE_LOG_FORMAT", "--log-format", Shape.SCALAR),
  KUBERNETES("metadata.kubernetes", "PERISCOPE_KUBERNETES", "--kubernetes", Shape.SCALAR),
  PROC_ROOT("metadata.proc_root", "PERISCOPE_PROC_ROOT", "--proc-root", Shape.SCALAR);

  /** What a value looks like in the file. */
  enum Shape {
    /** One value. */
    SCALAR,
    /** A YAML list (or one value, or a comma-separated string); a repeated flag adds to it. */
    LIST,
    /** A YAML map of names to values. */
    MAP,
    /** true or false; the flag takes no value and means true. */
    SWITCH
  }

  final String key;
  final String variable;
  final @Nullable String flag;
  final Shape shape;

  Setting(String key, String variable, @Nullable String flag, Shape shape) {
    this.key = key;
    this.variable = variable;
    this.flag = flag;
    this.shape = shape;
  }

  static Optional<Setting> byKey(String key) {
    return Arrays.stream(values()).filter(s -> s.key.equals(key)).findFirst();
  }

  static Optional<Setting> byFlag(String flag) {
    return Arrays.stream(values()).filter(s -> flag.equals(s.flag)).findFirst();
  }

  /** Settings whose variable is read by {@link io.periscope.exporter.ExporterConfig}, not here. */
  boolean isExport() {
    return variable.startsWith("OTEL_EXPORTER_OTLP_");
  }
}
