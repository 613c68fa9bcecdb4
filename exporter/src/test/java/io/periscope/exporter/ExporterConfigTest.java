package io.periscope.exporter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.periscope.exporter.ExporterConfig.Protocol;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ExporterConfigTest {

  @Test
  void parsesTheTwoSupportedProtocols() {
    assertThat(Protocol.parse("grpc")).isEqualTo(Protocol.GRPC);
    assertThat(Protocol.parse("http/protobuf")).isEqualTo(Protocol.HTTP_PROTOBUF);
    assertThat(Protocol.HTTP_PROTOBUF).hasToString("http/protobuf");
  }

  @ParameterizedTest
  @ValueSource(strings = {"http/json", "GRPC", "http", " grpc", ""})
  void rejectsAnyOtherProtocolListingTheAllowedOnes(String value) {
    assertThatThrownBy(() -> Protocol.parse(value))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unsupported OTLP protocol '" + value + "', allowed: grpc, http/protobuf");
  }

  @Test
  void anEmptyEnvironmentMeansTheTerminalWithSpecDefaults() {
    ExporterConfig config = ExporterConfig.fromEnvironment(Map.of());

    assertThat(config)
        .isEqualTo(
            new ExporterConfig(Protocol.HTTP_PROTOBUF, null, Map.of(), Duration.ofSeconds(10)));
  }

  @Test
  void appendsTheTracesPathToTheBaseEndpointForHttp() {
    assertThat(endpointFor(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")))
        .isEqualTo(URI.create("http://collector:4318/v1/traces"));
    assertThat(endpointFor(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/")))
        .isEqualTo(URI.create("https://collector:4318/v1/traces"));
    assertThat(endpointFor(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway/otlp%20x")))
        .isEqualTo(URI.create("http://gateway/otlp%20x/v1/traces"));
  }

  @Test
  void usesTheBaseEndpointAsIsForGrpc() {
    ExporterConfig config =
        ExporterConfig.fromEnvironment(
            Map.of(
                "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"));

    assertThat(config.protocol()).isEqualTo(Protocol.GRPC);
    assertThat(config.endpoint()).isEqualTo(URI.create("http://collector:4317"));
  }

  @Test
  void theTracesEndpointWinsAndIsUsedAsIs() {
    assertThat(
            endpointFor(
                Map.of(
                    "OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom/spans")))
        .isEqualTo(URI.create("http://collector:4318/custom/spans"));
  }

  @Test
  void signalSpecificVariablesWinOverGenericOnes() {
    ExporterConfig config =
        ExporterConfig.fromEnvironment(
            Map.of(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc",
                "OTEL_EXPORTER_OTLP_HEADERS", "a=1",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2",
                "OTEL_EXPORTER_OTLP_TIMEOUT", "1000",
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2000"));

    assertThat(config.protocol()).isEqualTo(Protocol.GRPC);
    assertThat(config.headers()).containsExactly(Map.entry("b", "2"));
    assertThat(config.timeout()).isEqualTo(Duration.ofSeconds(2));
  }

  @Test
  void parsesHeadersAndPercentDecodesValues() {
    ExporterConfig config =
        ExporterConfig.fromEnvironment(
            Map.of(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=abc%3D%3D, x-team = a+b ,,authorization=Bearer%20t0k3n"));

    assertThat(config.headers())
        .containsExactly(
            Map.entry("api-key", "abc=="),
            Map.entry("x-team", "a+b"),
            Map.entry("authorization", "Bearer t0k3n"));
  }

  @Test
  void parsesTheTimeoutInMilliseconds() {
    assertThat(
            ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")).timeout())
        .isEqualTo(Duration.ofMillis(2500));
  }

  @Test
  void treatsBlankVariablesAsUnset() {
    Map<String, String> env = new HashMap<>();
    env.put("OTEL_EXPORTER_OTLP_ENDPOINT", "");
    env.put("OTEL_EXPORTER_OTLP_PROTOCOL", " ");
    env.put("OTEL_EXPORTER_OTLP_TIMEOUT", "");

    assertThat(ExporterConfig.fromEnvironment(env))
        .isEqualTo(ExporterConfig.fromEnvironment(Map.of()));
  }

  @Test
  void rejectsAnUnsupportedProtocolNamingTheVariable() {
    assertThatThrownBy(
            () ->
                ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "OTEL_EXPORTER_OTLP_PROTOCOL: unsupported OTLP protocol 'http/json', allowed: grpc,"
                + " http/protobuf");
    assertThatThrownBy(
            () ->
                ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "h2")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"collector:4318", "localhost", "ftp://collector", "http://", "http://a b"})
  void rejectsAnEndpointThatIsNotAnHttpUrl(String value) {
    assertThatThrownBy(
            () -> ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL");
  }

  @ParameterizedTest
  @ValueSource(strings = {"novalue", "=value", "a=1,broken", "k=%zz"})
  void rejectsMalformedHeadersNamingTheVariable(String value) {
    assertThatThrownBy(
            () -> ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_HEADERS", value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("OTEL_EXPORTER_OTLP_HEADERS");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Host=collector", "api-key=1,Connection=close", "content-length=5"})
  void refusesHeadersTheHttpClientSetsItself(String value) {
    assertThatThrownBy(
            () -> ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_HEADERS", value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("OTEL_EXPORTER_OTLP_HEADERS: header '")
        .hasMessageEndingWith("allowed are any but connection, content-length, expect, host, upgrade");
  }

  @ParameterizedTest
  @ValueSource(strings = {"x-key=a%0D%0AHost: evil", "x-key=a%0Ab", "bad name=1", "x(y)=1"})
  void refusesHeadersThatWouldAddLinesOrAreNotTokensNamingTheVariable(String value) {
    assertThatThrownBy(
            () -> ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_TRACES_HEADERS", value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("OTEL_EXPORTER_OTLP_TRACES_HEADERS: ")
        .hasMessageMatching(".*(is not an HTTP token|has a character HTTP forbids).*");
  }

  @ParameterizedTest
  @ValueSource(strings = {"10s", "0", "-5", "1.5"})
  void rejectsATimeoutThatIsNotPositiveMilliseconds(String value) {
    assertThatThrownBy(
            () -> ExporterConfig.fromEnvironment(Map.of("OTEL_EXPORTER_OTLP_TIMEOUT", value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "OTEL_EXPORTER_OTLP_TIMEOUT must be a positive whole number of milliseconds, got '"
                + value
                + "'");
  }

  @Test
  void theConstructorValidatesAndCopies() {
    Map<String, String> headers = new HashMap<>(Map.of("k", "v"));
    ExporterConfig config =
        new ExporterConfig(
            Protocol.GRPC, URI.create("http://c:4317"), headers, Duration.ofSeconds(1));
    headers.put("other", "x");

    assertThat(config.headers()).containsExactly(Map.entry("k", "v"));
    assertThatThrownBy(() -> config.headers().put("x", "y"))
        .isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(
            () ->
                new ExporterConfig(
                    Protocol.GRPC, URI.create("c:4317"), Map.of(), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("endpoint must be an http:// or https:// URL");
    assertThatThrownBy(() -> new ExporterConfig(Protocol.GRPC, null, Map.of(), Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must be positive, got PT0S");
  }

  private static URI endpointFor(Map<String, String> env) {
    return ExporterConfig.fromEnvironment(env).endpoint();
  }
}
