package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ResponseHeadTest {

  @Test
  void sharedHeadsAreTheHeadsTheySayTheyAre() {
    assertThat(ResponseHead.of(200, 0, null)).isEqualTo(new ResponseHead(200, 0, null))
        .isSameAs(ResponseHead.of(200, 0, null));
    assertThat(ResponseHead.of(200, 16, null)).isEqualTo(new ResponseHead(200, 16, null));
    assertThat(ResponseHead.of(503, ResponseHead.NO_GRPC_STATUS, null)).isSameAs(ResponseHead.http(503))
        .isEqualTo(new ResponseHead(503, ResponseHead.NO_GRPC_STATUS, null));
    assertThat(ResponseHead.of(200, 13, "boom")).isEqualTo(new ResponseHead(200, 13, "boom"));
    assertThat(ResponseHead.of(0, 2, null)).isEqualTo(new ResponseHead(0, 2, null));
    assertThat(ResponseHead.of(200, 17, null)).isEqualTo(new ResponseHead(200, 17, null));
    assertThat(ResponseHead.http(0)).isEqualTo(new ResponseHead(0, ResponseHead.NO_GRPC_STATUS, null));
    assertThat(ResponseHead.http(999)).isEqualTo(new ResponseHead(999, ResponseHead.NO_GRPC_STATUS, null));
  }
}
