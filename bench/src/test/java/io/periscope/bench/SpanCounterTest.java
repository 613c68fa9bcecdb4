package io.periscope.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import org.junit.jupiter.api.Test;

/** The sink's span count must agree with a full protobuf decode, or the completeness figure lies. */
class SpanCounterTest {

  @Test
  void countsSpansAcrossResourcesAndScopes() {
    ExportTraceServiceRequest request = ExportTraceServiceRequest.newBuilder()
        .addResourceSpans(resource("nginx", 3, 2))
        .addResourceSpans(resource("curl", 1, 5))
        .addResourceSpans(ResourceSpans.newBuilder().setResource(Resource.getDefaultInstance()))
        .build();
    long decoded = request.getResourceSpansList().stream()
        .flatMap(r -> r.getScopeSpansList().stream()).mapToLong(ScopeSpans::getSpansCount).sum();

    assertThat(SpanCounter.count(request.toByteArray())).isEqualTo(decoded).isEqualTo(11);
  }

  @Test
  void emptyRequestHasNoSpans() {
    assertThat(SpanCounter.count(new byte[0])).isZero();
  }

  @Test
  void truncatedRequestIsRejected() {
    byte[] whole = ExportTraceServiceRequest.newBuilder().addResourceSpans(resource("x", 1, 2)).build().toByteArray();
    byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 3);
    assertThatThrownBy(() -> SpanCounter.count(cut)).isInstanceOf(IllegalArgumentException.class);
  }

  private static ResourceSpans resource(String service, int scopes, int spansPerScope) {
    ResourceSpans.Builder r = ResourceSpans.newBuilder().setResource(Resource.newBuilder()
        .addAttributes(KeyValue.newBuilder().setKey("service.name")
            .setValue(AnyValue.newBuilder().setStringValue(service))));
    for (int s = 0; s < scopes; s++) {
      ScopeSpans.Builder scope = ScopeSpans.newBuilder();
      for (int i = 0; i < spansPerScope; i++) {
        scope.addSpans(Span.newBuilder().setName("GET").setKind(Span.SpanKind.SPAN_KIND_SERVER)
            .setStartTimeUnixNano(1).setEndTimeUnixNano(2)
            .addAttributes(KeyValue.newBuilder().setKey("http.response.status_code")
                .setValue(AnyValue.newBuilder().setIntValue(200))));
      }
      r.addScopeSpans(scope);
    }
    return r.build();
  }
}
