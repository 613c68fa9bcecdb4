package io.periscope.metadata;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code OTEL_RESOURCE_ATTRIBUTES} as the OpenTelemetry SDK configuration specification defines
 * it: {@code key1=value1,key2=value2}, blanks around keys and values ignored, values
 * percent-encoded where they hold a comma, an equals sign or anything outside printable ASCII
 * ({@code %2C}, {@code %3D}, UTF-8 bytes as {@code %C3%A9}).
 */
public final class ResourceAttributesVariable {

  private ResourceAttributesVariable() {}

  /**
   * The attributes, in the order given (a repeated key keeps its last value).
   *
   * @throws IllegalArgumentException for an entry without a key or an '=', or a bad percent escape,
   *     naming it: the specification has the whole variable ignored then, and an agent that
   *     quietly drops its operator's attributes is worse than one that refuses to start
   */
  public static Map<String, String> parse(String value) {
    requireNonNull(value, "value");
    Map<String, String> attributes = new LinkedHashMap<>();
    for (String entry : value.split(",")) {
      if (entry.isBlank()) {
        continue;
      }
      int equals = entry.indexOf('=');
      String key = equals < 0 ? "" : entry.substring(0, equals).strip();
      if (key.isEmpty()) {
        throw new IllegalArgumentException("OTEL_RESOURCE_ATTRIBUTES: '" + entry.strip()
            + "' is not key=value (separate entries with commas, percent-encode ',' and '=' in values)");
      }
      attributes.put(key, percentDecode(entry.substring(equals + 1).strip(), entry.strip()));
    }
    return attributes;
  }

  private static String percentDecode(String value, String entry) {
    if (value.indexOf('%') < 0) {
      return value;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(value.length());
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c != '%') {
        bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
        continue;
      }
      int high = i + 2 < value.length() ? Character.digit(value.charAt(i + 1), 16) : -1;
      int low = high < 0 ? -1 : Character.digit(value.charAt(i + 2), 16);
      if (low < 0) {
        throw new IllegalArgumentException("OTEL_RESOURCE_ATTRIBUTES: '" + entry
            + "' has a '%' that is not followed by two hex digits (write %25 for a percent sign)");
      }
      bytes.write(high << 4 | low);
      i += 2;
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }
}
