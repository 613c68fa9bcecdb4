package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.RecordedEvents;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pipeline fed with ring-buffer records the real kernel captured from real HTTP/2 peers
 * (recorded with {@link RecordedEvents#main}): what comes out must be what the peers did.
 */
class RecordedHttp2Test {
  private final List<HttpExchange> exchanges = new ArrayList<>();
  private final PipelineStats stats = new PipelineStats();

  private void replay(String name) throws IOException {
    ConnectionTracker tracker = new ConnectionTracker(exchanges::add, stats);
    try (InputStream in = RecordedHttp2Test.class.getResourceAsStream("/recorded/" + name)) {
      RecordedEvents.replay(RecordedEvents.read(in), tracker);
    }
  }

  /** nghttp -m 5 fetching a 300 kB file from nghttpd: five streams at once, read in 8 KiB pieces. */
  @Test
  void fiveConcurrentStreamsOfLargeResponses() throws IOException {
    replay("nghttp-5-streams-300k.rec");

    assertThat(stats.snapshot().http2ParseFailures()).isZero();
    assertThat(stats.snapshot().http2Resyncs()).isZero();
    assertThat(exchanges).hasSize(10);
    assertThat(exchanges).filteredOn(e -> e.peer().role() == Peer.Role.CLIENT).hasSize(5)
        .allSatisfy(e -> assertThat(e.peer().comm()).isEqualTo("nghttp"));
    assertThat(exchanges).filteredOn(e -> e.peer().role() == Peer.Role.SERVER).hasSize(5)
        .allSatisfy(e -> assertThat(e.peer().comm()).isEqualTo("nghttpd"));
    assertThat(exchanges).allSatisfy(e -> {
      assertThat(e.protocolVersion()).isEqualTo("2");
      assertThat(e.request().method()).isEqualTo("GET");
      assertThat(e.request().target()).isEqualTo("/big.bin");
      assertThat(e.request().scheme()).isEqualTo("http");
      assertThat(e.response().status()).isEqualTo(200);
      assertThat(e.headersIncomplete()).isFalse();
      assertThat(e.streamError()).isNull();
      assertThat(e.endNanos()).isGreaterThan(e.startNanos());
    });
    // Both ends of each stream agree on where its request began: what same-node linking keys on.
    assertThat(exchanges.stream().map(HttpExchange::requestSequence).distinct()).hasSize(5);
  }
}
