package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.semconv.ClientAttributes;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExchangeAttributesTest {

  @Test
  void behavesLikeTheSdksAttributes() {
    ExchangeAttributes attributes = ExchangeAttributes.builder()
        .put(ExchangeAttributes.HTTP_REQUEST_METHOD, "GET")
        .put(ExchangeAttributes.HTTP_RESPONSE_STATUS_CODE, 404L)
        .put(ExchangeAttributes.URL_PATH, "/missing")
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
        .put(ExchangeAttributes.URL_PATH, "/a")
        .put(ExchangeAttributes.URL_PATH, "/b")
        .build();
    assertThat(attributes.size()).isEqualTo(1);
    assertThat(attributes.get(UrlAttributes.URL_PATH)).isEqualTo("/b");
  }

  @Test
  void slotsHoldTheirOwnKeys() {
    ExchangeAttributes attributes = ExchangeAttributes.builder()
        .put(ExchangeAttributes.SERVER_ADDRESS, "example.com")
        .put(ExchangeAttributes.SERVER_PORT, 8080L)
        .put(ExchangeAttributes.HEADERS_INCOMPLETE, true)
        .put(ExchangeAttributes.STITCH_KEY, "10.0.0.7:41234/3021187")
        .build();
    assertThat(attributes.get(ServerAttributes.SERVER_ADDRESS)).isEqualTo("example.com");
    assertThat(attributes.get(ServerAttributes.SERVER_PORT)).isEqualTo(8080L);
    assertThat(attributes.get(AttributeKey.booleanKey("periscope.http2.headers_incomplete"))).isTrue();
    assertThat(attributes.get(AttributeKey.stringKey("periscope.stitch_key"))).isEqualTo("10.0.0.7:41234/3021187");
    assertThat(attributes.get(ClientAttributes.CLIENT_PORT)).isNull();
  }

  @Test
  void aBuilderStartsAfreshAfterEachBuild() {
    ExchangeAttributes.Builder builder = ExchangeAttributes.builder()
        .put(ExchangeAttributes.URL_PATH, "/a")
        .put(ExchangeAttributes.THREAD_ID, 7L);
    ExchangeAttributes first = builder.build();
    ExchangeAttributes second = builder.put(ExchangeAttributes.URL_SCHEME, "http").build();
    builder.put(ExchangeAttributes.URL_QUERY, "q=1").clear();
    ExchangeAttributes third = builder.put(ExchangeAttributes.ERROR_TYPE, "500").build();

    assertThat(first.asMap()).containsOnlyKeys(UrlAttributes.URL_PATH, AttributeKey.longKey("thread.id"));
    assertThat(first.get(UrlAttributes.URL_PATH)).isEqualTo("/a");
    assertThat(second.asMap()).containsOnlyKeys(UrlAttributes.URL_SCHEME);
    assertThat(third.asMap()).containsOnlyKeys(ErrorAttributes.ERROR_TYPE);
    assertThat(third.get(UrlAttributes.URL_QUERY)).isNull();
    assertThat(ExchangeAttributes.builder().build().isEmpty()).isTrue();
  }
}
