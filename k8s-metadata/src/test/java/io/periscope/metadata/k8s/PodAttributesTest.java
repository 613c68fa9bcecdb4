package io.periscope.metadata.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PodAttributesTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource(nullValues = "null", value = {
      "nginx, null",
      "nginx:1.27, 1.27",
      "docker.io/library/nginx:1.27.3-alpine, 1.27.3-alpine",
      "registry.example.com:5000/shop/orders, null",
      "registry.example.com:5000/shop/orders:1.4.2, 1.4.2",
      "ghcr.io/acme/api@sha256:0123abcd, sha256:0123abcd",
      "ghcr.io/acme/api:2.0@sha256:0123abcd, 2.0@sha256:0123abcd",
      "localhost:5000/api:, null"})
  void imageVersion(String image, String version) {
    assertThat(PodAttributes.imageVersion(image)).isEqualTo(version);
  }
}
