package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExchangeAttributesTest {

  @Test
  void behavesLikeTheSdksAttributes() {
    ExchangeAttributes attributes = ExchangeAttributes.builder()
        .put(HttpAttributes.HTTP_REQUEST_METHOD, "GET")
        .put(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, 404)
        .put(UrlAttributes.URL_PATH, "/missing")
        .build();
    Attributes sdk = Attributes.builder()
        .put(HttpAttributes.HTTP_REQUEST_METHOD, "GET")
        .put(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, 404)
        .put(UrlAttributes.URL_PATH, "/missing")
        .build();

    assertThat(attributes.size()).isEqualTo(3);
    assertThat(attributes.isEmpty()).isFalse();
    assertThat(attributes.get(HttpAttributes.HTTP_RESPONSE_STATUS_CODE)).isEqualTo(404L);
    assertThat(attributes.get(AttributeKey.stringKey("url.path"))).as("an equal key made elsewhere").isEqualTo("/missing");
    assertThat(attributes.get(UrlAttributes.URL_QUERY)).isNull();
    assertThat(attributes.get(AttributeKey.stringKey("not.ours"))).isNull();
    assertThat(attributes.asMap()).isEqualTo(sdk.asMap());
    assertThat(attributes.toBuilder().build()).isEqualTo(sdk);
    Map<AttributeKey<?>, Object> seen = new LinkedHashMap<>();
    attributes.forEach(seen::put);
    assertThat(seen).isEqualTo(sdk.asMap());
  }

  @Test
  void aKeyPutTwiceKeepsTheLastValueOnce() {
    ExchangeAttributes attributes = ExchangeAttributes.builder()
        .put(UrlAttributes.URL_PATH, "/a")
        .put(UrlAttributes.URL_PATH, "/b")
        .build();
    assertThat(attributes.size()).isEqualTo(1);
    assertThat(attributes.get(UrlAttributes.URL_PATH)).isEqualTo("/b");
  }

  @Test
  void keysOutsideTheSetAreRefused() {
    assertThatThrownBy(() -> ExchangeAttributes.builder().put(AttributeKey.stringKey("not.ours"), "x"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
