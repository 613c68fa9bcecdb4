package io.periscope.exporter.otlp;

import java.net.URI;
import java.time.Duration;
import java.util.Map;

/** {@link OtlpHttpExporterTest} through the JDK's client, which https and proxies use. */
class JdkHttpExporterTest extends OtlpHttpExporterTest {
  @Override
  Transport transport(URI url, Duration timeout) {
    return new JdkHttpTransport(url, Map.of(), timeout);
  }
}
