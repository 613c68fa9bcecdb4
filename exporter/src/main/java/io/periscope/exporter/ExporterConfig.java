package io.periscope.exporter;

import static java.util.Objects.requireNonNull;

import io.periscope.exporter.otlp.OtlpHttpExporter;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Where and how spans leave the node; {@link Exporters#create} turns it into a {@code
 * SpanExporter}.
 *
 * @param protocol the OTLP transport
 * @param endpoint the collector URL, or {@code null} to print traces to the terminal instead. For
 *     {@link Protocol#HTTP_PROTOBUF}, a base URL (no path, or just {@code /}) gets {@code
 *     /v1/traces} appended, as for {@code OTEL_EXPORTER_OTLP_ENDPOINT}; a URL with a path is used
 *     as-is. For {@link Protocol#GRPC} it is used as-is.
 * @param headers sent with every export request, e.g. an API key
 * @param timeout how long one export request may take
 */
public record ExporterConfig(
    Protocol protocol, @Nullable URI endpoint, Map<String, String> headers, Duration timeout) {

  /** The OTLP default export timeout: 10 s (OTLP exporter specification, configuration options). */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  private static final String ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT";
  private static final String TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  private static final String PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL";
  private static final String TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
  private static final String HEADERS = "OTEL_EXPORTER_OTLP_HEADERS";
  private static final String TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
  private static final String TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT";
  private static final String TRACES_TIMEOUT = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";

  /** The OTLP transports Periscope can export with. */
  public enum Protocol {
    GRPC("grpc"),
    HTTP_PROTOBUF("http/protobuf");

    private final String value;

    Protocol(String value) {
      this.value = value;
    }

    /**
     * Parses the value of {@code OTEL_EXPORTER_OTLP_PROTOCOL}: exactly {@code grpc} or {@code
     * http/protobuf}. ({@code http/json} is a valid OTLP value, but the Java OTLP exporters do not
     * implement it.)
     *
     * @throws IllegalArgumentException for any other value, listing the allowed ones
     */
    public static Protocol parse(String value) {
      requireNonNull(value, "value");
      for (Protocol protocol : values()) {
        if (protocol.value.equals(value)) {
          return protocol;
        }
      }
      throw new IllegalArgumentException(
          "unsupported OTLP protocol '" + value + "', allowed: grpc, http/protobuf");
    }

    /** The name used in configuration, e.g. {@code http/protobuf}. */
    @Override
    public String toString() {
      return value;
    }
  }

  /**
   * Validates the configuration.
   *
   * @throws IllegalArgumentException if the endpoint is not an absolute http(s) URL or the timeout
   *     is not positive
   */
  public ExporterConfig {
    requireNonNull(protocol, "protocol");
    requireNonNull(headers, "headers");
    requireNonNull(timeout, "timeout");
    if (endpoint != null) {
      checkEndpoint(endpoint, "endpoint");
    }
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
    // Insertion order kept so requests carry headers in the order they were configured.
    headers = Collections.unmodifiableMap(new LinkedHashMap<>(headers));
  }

  /**
   * Reads the standard OTLP exporter variables (OTLP exporter specification, "Configuration
   * Options"). A blank variable counts as unset, as container specs often set {@code value: ""}.
   *
   * <ul>
   *   <li>{@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}: the traces URL, used as-is. If neither it nor
   *       {@code OTEL_EXPORTER_OTLP_ENDPOINT} is set, the endpoint is {@code null} and traces go to
   *       the terminal. One deviation: a traces URL without a path would, by the letter of the
   *       spec, post to {@code /}, where no collector listens; it gets {@code /v1/traces} instead.
   *   <li>{@code OTEL_EXPORTER_OTLP_ENDPOINT}: a base URL; for http/protobuf {@code v1/traces} is
   *       appended to its path ({@code http://c:4318/otlp} becomes {@code
   *       http://c:4318/otlp/v1/traces}), for gRPC it is used as-is.
   *   <li>{@code OTEL_EXPORTER_OTLP_TRACES_PROTOCOL}, else {@code OTEL_EXPORTER_OTLP_PROTOCOL}:
   *       {@code grpc} or {@code http/protobuf}, the spec's default.
   *   <li>{@code OTEL_EXPORTER_OTLP_TRACES_HEADERS}, else {@code OTEL_EXPORTER_OTLP_HEADERS}:
   *       {@code key=value,key2=value2} with percent-encoded values.
   *   <li>{@code OTEL_EXPORTER_OTLP_TRACES_TIMEOUT}, else {@code OTEL_EXPORTER_OTLP_TIMEOUT}:
   *       milliseconds, default {@link #DEFAULT_TIMEOUT}.
   * </ul>
   *
   * @param env the process environment, usually {@link System#getenv()}
   * @throws IllegalArgumentException naming the variable and what it allows, if a value is invalid
   */
  public static ExporterConfig fromEnvironment(Map<String, String> env) {
    requireNonNull(env, "env");
    String protocolVariable = isSet(env, TRACES_PROTOCOL) ? TRACES_PROTOCOL : PROTOCOL;
    Protocol protocol = Protocol.HTTP_PROTOBUF;
    if (isSet(env, protocolVariable)) {
      try {
        protocol = Protocol.parse(env.get(protocolVariable));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(protocolVariable + ": " + e.getMessage(), e);
      }
    }

    URI endpoint = null;
    if (isSet(env, TRACES_ENDPOINT)) {
      endpoint = parseEndpoint(env.get(TRACES_ENDPOINT), TRACES_ENDPOINT);
    } else if (isSet(env, ENDPOINT)) {
      endpoint = parseEndpoint(env.get(ENDPOINT), ENDPOINT);
      if (protocol == Protocol.HTTP_PROTOBUF) {
        endpoint = withTracesPath(endpoint);
      }
    }

    String headersVariable = isSet(env, TRACES_HEADERS) ? TRACES_HEADERS : HEADERS;
    Map<String, String> headers =
        isSet(env, headersVariable)
            ? parseHeaders(env.get(headersVariable), headersVariable)
            : Map.of();

    String timeoutVariable = isSet(env, TRACES_TIMEOUT) ? TRACES_TIMEOUT : TIMEOUT;
    Duration timeout =
        isSet(env, timeoutVariable)
            ? parseTimeout(env.get(timeoutVariable), timeoutVariable)
            : DEFAULT_TIMEOUT;

    return new ExporterConfig(protocol, endpoint, headers, timeout);
  }

  /**
   * Appends {@code v1/traces} to the path of a base URL, the rule for {@code
   * OTEL_EXPORTER_OTLP_ENDPOINT} with http/protobuf: the signal path goes below any existing path.
   */
  static URI withTracesPath(URI base) {
    String path = base.getRawPath() == null ? "" : base.getRawPath();
    String tracesPath = (path.endsWith("/") ? path : path + "/") + "v1/traces";
    // Rebuilt from raw parts: the multi-argument URI constructors would encode '%' a second time.
    String query = base.getRawQuery() == null ? "" : "?" + base.getRawQuery();
    return URI.create(base.getScheme() + "://" + base.getRawAuthority() + tracesPath + query);
  }

  private static boolean isSet(Map<String, String> env, String variable) {
    String value = env.get(variable);
    return value != null && !value.isBlank();
  }

  private static URI parseEndpoint(String value, String variable) {
    URI uri;
    try {
      uri = new URI(value.strip());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(
          variable + " must be an http:// or https:// URL, got '" + value + "': " + e.getMessage(),
          e);
    }
    checkEndpoint(uri, variable);
    return uri;
  }

  private static void checkEndpoint(URI endpoint, String name) {
    String scheme =
        endpoint.getScheme() == null ? "" : endpoint.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || endpoint.getHost() == null) {
      throw new IllegalArgumentException(
          name
              + " must be an http:// or https:// URL with a host, such as http://localhost:4318,"
              + " got '"
              + endpoint
              + "'");
    }
  }

  private static Map<String, String> parseHeaders(String value, String variable) {
    Map<String, String> headers = new LinkedHashMap<>();
    for (String entry : value.split(",")) {
      if (entry.isBlank()) {
        continue;
      }
      int equals = entry.indexOf('=');
      String key = equals < 0 ? "" : entry.substring(0, equals).strip();
      if (key.isEmpty()) {
        throw new IllegalArgumentException(
            variable
                + " must be a list of key=value pairs separated by commas, got '"
                + entry
                + "'");
      }
      String raw = entry.substring(equals + 1).strip();
      try {
        // The spec percent-encodes values (W3C Baggage format); URLDecoder also turns '+' into a
        // space, which would corrupt base64 API keys, so '+' is protected first.
        headers.put(key, URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            variable + ": value of header '" + key + "' is not valid percent-encoding: " + raw, e);
      }
      try {
        OtlpHttpExporter.checkHeader(key, headers.get(key));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(variable + ": " + e.getMessage(), e);
      }
    }
    return headers;
  }

  private static Duration parseTimeout(String value, String variable) {
    long millis;
    try {
      millis = Long.parseLong(value.strip());
    } catch (NumberFormatException e) {
      millis = -1;
    }
    if (millis <= 0) {
      throw new IllegalArgumentException(
          variable + " must be a positive whole number of milliseconds, got '" + value + "'");
    }
    return Duration.ofMillis(millis);
  }
}
