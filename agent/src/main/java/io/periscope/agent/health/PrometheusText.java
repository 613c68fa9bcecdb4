package io.periscope.agent.health;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Metrics in the Prometheus text exposition format, version 0.0.4: each family once, with its
 * {@code # HELP} and {@code # TYPE} lines, then its samples. A sample added to a family that exists
 * joins it (the same name with another label value), so every counter is one call, wherever it is
 * added.
 */
final class PrometheusText {
  /** The Content-Type of this format. */
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private record Family(String type, String help, List<String> samples) {}

  private final Map<String, Family> families = new LinkedHashMap<>();

  /** A counter: monotonic since the agent started; its name ends in {@code _total}. */
  PrometheusText counter(String name, String help, long value) {
    return sample("counter", name, help, name, "", value);
  }

  /** One labelled sample of a counter family, e.g. {@code parse failures, protocol="http1"}. */
  PrometheusText counter(String name, String help, String label, String labelValue, long value) {
    return sample("counter", name, help, name, labels(label, labelValue), value);
  }

  /** A value that goes up and down. */
  PrometheusText gauge(String name, String help, double value) {
    return sample("gauge", name, help, name, "", value);
  }

  /** One labelled sample of a gauge family. */
  PrometheusText gauge(String name, String help, String label, String labelValue, double value) {
    return sample("gauge", name, help, name, labels(label, labelValue), value);
  }

  /**
   * A histogram in seconds from bucket bounds in milliseconds and per-bucket (not cumulative)
   * counts, one more count than bounds (the last bucket has no bound).
   */
  PrometheusText histogram(String name, String help, long[] boundsMillis, long[] counts, double sumSeconds) {
    long cumulative = 0;
    for (int i = 0; i < counts.length; i++) {
      cumulative += counts[i];
      String le = i < boundsMillis.length ? number(boundsMillis[i] / 1000.0) : "+Inf";
      sample("histogram", name, help, name + "_bucket", labels("le", le), cumulative);
    }
    sample("histogram", name, help, name + "_sum", "", sumSeconds);
    return sample("histogram", name, help, name + "_count", "", cumulative);
  }

  private PrometheusText sample(String type, String family, String help, String name, String labels, double value) {
    Family f = families.computeIfAbsent(family, n -> new Family(type, help, new ArrayList<>()));
    if (!f.type().equals(type)) {
      throw new IllegalArgumentException(family + " is a " + f.type() + ", not a " + type);
    }
    f.samples().add(name + labels + " " + number(value));
    return this;
  }

  String render() {
    StringBuilder out = new StringBuilder();
    families.forEach((name, f) -> {
      out.append("# HELP ").append(name).append(' ').append(escapeHelp(f.help())).append('\n');
      out.append("# TYPE ").append(name).append(' ').append(f.type()).append('\n');
      f.samples().forEach(s -> out.append(s).append('\n'));
    });
    return out.toString();
  }

  private static String labels(String name, String value) {
    return "{" + name + "=\"" + value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"}";
  }

  private static String escapeHelp(String help) {
    return help.replace("\\", "\\\\").replace("\n", "\\n");
  }

  /** Whole numbers without a fraction (counters read better), others as Go's ParseFloat reads them. */
  private static String number(double value) {
    if (value == Math.rint(value) && Math.abs(value) < 1e15) {
      return Long.toString((long) value);
    }
    return String.format(Locale.ROOT, "%s", value);
  }
}
