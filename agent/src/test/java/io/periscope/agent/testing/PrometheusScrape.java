package io.periscope.agent.testing;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scrape parsed the way Prometheus reads the text format 0.0.4, strictly: every family declares
 * its type once, before its samples; names and labels are valid; no sample repeats; a histogram's
 * buckets are cumulative and its +Inf bucket equals its count. A violation fails the test that
 * scraped.
 */
public final class PrometheusScrape {
  private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern SAMPLE = Pattern.compile(
      "([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\",?)*)})? (\\S+)");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  private final Map<String, Double> samples = new LinkedHashMap<>();
  private final Map<String, String> types = new HashMap<>();

  private PrometheusScrape() {}

  public static PrometheusScrape parse(String text) {
    if (!text.endsWith("\n")) {
      throw new AssertionError("the exposition does not end with a newline");
    }
    PrometheusScrape scrape = new PrometheusScrape();
    Map<String, Boolean> helped = new HashMap<>();
    String family = null;
    int n = 0;
    for (String line : text.split("\n")) {
      n++;
      String where = "line " + n + " '" + line + "': ";
      if (line.startsWith("# HELP ")) {
        String name = line.substring(7).split(" ", 2)[0];
        check(NAME.matcher(name).matches(), where + "bad metric name");
        check(helped.put(name, true) == null, where + "second HELP for " + name);
      } else if (line.startsWith("# TYPE ")) {
        String[] parts = line.substring(7).split(" ");
        check(parts.length == 2 && NAME.matcher(parts[0]).matches(), where + "bad TYPE line");
        check(List.of("counter", "gauge", "histogram", "summary", "untyped").contains(parts[1]), where + "bad type");
        check(!scrape.types.containsKey(parts[0]), where + "second TYPE for " + parts[0]);
        check(!parts[1].equals("counter") || parts[0].endsWith("_total"), where + "a counter's name ends in _total");
        scrape.types.put(parts[0], parts[1]);
        family = parts[0];
      } else if (line.startsWith("#")) {
        check(false, where + "a comment that is neither HELP nor TYPE");
      } else {
        Matcher m = SAMPLE.matcher(line);
        check(m.matches(), where + "not a sample line");
        String name = m.group(1);
        check(family != null && belongsTo(name, family, scrape.types.get(family)),
            where + "sample outside its family's block (family " + family + ")");
        double value = value(m.group(4), where);
        String key = name + (m.group(3) == null ? "" : "{" + m.group(3) + "}");
        check(scrape.samples.put(key, value) == null, where + "duplicate sample");
      }
    }
    scrape.checkHistograms();
    return scrape;
  }

  /** The value of {@code name} with exactly these labels, e.g. {@code value("x_total", "reason", "full")}. */
  public double value(String name, String... labels) {
    StringBuilder key = new StringBuilder(name);
    if (labels.length > 0) {
      key.append('{');
      for (int i = 0; i < labels.length; i += 2) {
        key.append(i == 0 ? "" : ",").append(labels[i]).append("=\"").append(labels[i + 1]).append('"');
      }
      key.append('}');
    }
    Double v = samples.get(key.toString());
    if (v == null) {
      throw new AssertionError("no sample " + key + " in the scrape: " + samples.keySet());
    }
    return v;
  }

  public String type(String family) {
    return types.get(family);
  }

  public Map<String, Double> samples() {
    return samples;
  }

  private void checkHistograms() {
    types.forEach((family, type) -> {
      if (!type.equals("histogram")) {
        return;
      }
      List<double[]> buckets = new ArrayList<>();
      samples.forEach((key, value) -> {
        if (key.startsWith(family + "_bucket{")) {
          Matcher le = LABEL.matcher(key.substring(key.indexOf('{')));
          check(le.find() && le.group(1).equals("le"), family + ": bucket without le");
          buckets.add(new double[] {value(le.group(2), family), value});
        }
      });
      check(!buckets.isEmpty() && buckets.getLast()[0] == Double.POSITIVE_INFINITY, family + ": no +Inf bucket");
      for (int i = 1; i < buckets.size(); i++) {
        check(buckets.get(i)[0] > buckets.get(i - 1)[0], family + ": bucket bounds not increasing");
        check(buckets.get(i)[1] >= buckets.get(i - 1)[1], family + ": buckets not cumulative");
      }
      Double count = samples.get(family + "_count");
      check(count != null && samples.containsKey(family + "_sum"), family + ": _sum or _count missing");
      check(count == buckets.getLast()[1], family + ": +Inf bucket differs from _count");
    });
  }

  private static boolean belongsTo(String sample, String family, String type) {
    if (sample.equals(family)) {
      return !type.equals("histogram");
    }
    return type.equals("histogram")
        && (sample.equals(family + "_bucket") || sample.equals(family + "_sum") || sample.equals(family + "_count"));
  }

  private static double value(String text, String where) {
    return switch (text) {
      case "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      case "NaN" -> Double.NaN;
      default -> {
        try {
          yield Double.parseDouble(text);
        } catch (NumberFormatException e) {
          throw new AssertionError(where + "bad value '" + text + "'");
        }
      }
    };
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new AssertionError("not valid Prometheus text: " + message);
    }
  }
}
