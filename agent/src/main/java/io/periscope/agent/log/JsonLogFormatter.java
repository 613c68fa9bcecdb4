package io.periscope.agent.log;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;

/**
 * One JSON object per line ({@code --log-format json}), for log collectors that parse fields:
 * {@code time} (RFC 3339, UTC), {@code level}, {@code logger}, {@code message} and, when there is one,
 * {@code error} (the stack trace, newlines escaped, so an event never spans lines).
 */
public final class JsonLogFormatter extends Formatter {
  @Override
  public String format(LogRecord record) {
    StringBuilder out = new StringBuilder(256).append('{');
    field(out, "time", Instant.ofEpochMilli(record.getMillis()).toString()).append(',');
    field(out, "level", level(record.getLevel())).append(',');
    field(out, "logger", record.getLoggerName() == null ? "" : record.getLoggerName()).append(',');
    field(out, "message", formatMessage(record));
    if (record.getThrown() != null) {
      StringWriter trace = new StringWriter();
      record.getThrown().printStackTrace(new PrintWriter(trace));
      out.append(',');
      field(out, "error", trace.toString().strip());
    }
    return out.append("}\n").toString();
  }

  /** The names log collectors expect, rather than JUL's SEVERE and FINE. */
  static String level(Level level) {
    int v = level.intValue();
    return v >= Level.SEVERE.intValue() ? "error"
        : v >= Level.WARNING.intValue() ? "warn"
        : v >= Level.INFO.intValue() ? "info"
        : "debug";
  }

  private static StringBuilder field(StringBuilder out, String name, String value) {
    out.append('"').append(name).append("\":\"");
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"');
  }
}
