package io.periscope.exporter.otlp;

import java.net.URI;
import java.time.Duration;
import java.util.Map;

/** {@link OtlpHttpExporterTest} through the transport plain http uses. */
class PlainHttpExporterTest extends OtlpHttpExporterTest {
  @Override
  Transport transport(URI url, Duration timeout) {
    return new PlainHttpTransport(url, Map.of());
  }
}
