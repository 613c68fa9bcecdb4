package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.sdk.resources.Resource;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.Peer;
import io.periscope.agent.pipeline.RequestHead;
import io.periscope.agent.pipeline.ResponseHead;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import io.periscope.metadata.PeerNames;
import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** server.address and client.address take the names the metadata knows; network.peer.address keeps the IP. */
class SpanFactoryPeerNamesTest {
  private static final InetAddress POD = InetAddress.ofLiteral("10.244.1.5");
  private static final InetAddress CLUSTER_IP = InetAddress.ofLiteral("10.96.12.7");
  private static final InetAddress UNKNOWN = InetAddress.ofLiteral("10.244.9.9");
  private static final PeerNames NAMES = Map.of(POD, "web-0", CLUSTER_IP, "orders.shop")::get;

  private final SpanFactory spans = new SpanFactory(ClockAnchor.ofOffset(0), (pid, comm) -> Resource.empty(), NAMES,
      new SpanSink() {
        @Override
        public boolean offer(io.opentelemetry.sdk.trace.data.SpanData span) {
          return true;
        }

        @Override
        public ExportStats stats() {
          return ExportStats.NONE;
        }

        @Override
        public void close() {}
      }, false, TraceSampler.ALWAYS);

  private static Peer peer(Peer.Role role, InetAddress local, InetAddress remote) {
    return new Peer(7, "p", role, local, role == Peer.Role.SERVER ? 8080 : 41000, remote,
        role == Peer.Role.SERVER ? 41000 : 8080, local.getHostAddress(), remote.getHostAddress());
  }

  private String attribute(Peer peer, String host, String key) {
    RequestHead request = new RequestHead("GET", "/", host, null, "curl/8", null, null, null);
    ExchangeSpan span = spans.toSpan(new HttpExchange(peer, 7, "1.1", request, ResponseHead.http(200), null, false,
        0, 1, 0), SpanContext.getInvalid(), SpanContext.getInvalid());
    Object value = span.getAttributes().get(AttributeKey.stringKey(key));
    return value == null ? null : value.toString();
  }

  @Test
  void clientCallingAServicesClusterIpNamesTheService() {
    Peer client = peer(Peer.Role.CLIENT, POD, CLUSTER_IP);
    assertThat(attribute(client, "10.96.12.7:8080", "server.address")).isEqualTo("orders.shop");
    assertThat(attribute(client, null, "server.address")).isEqualTo("orders.shop");
    assertThat(attribute(client, "10.96.12.7:8080", "network.peer.address")).isEqualTo("10.96.12.7");
  }

  @Test
  void aHostNameTheClientAskedForStays() {
    Peer client = peer(Peer.Role.CLIENT, POD, CLUSTER_IP);
    assertThat(attribute(client, "orders.shop.svc.cluster.local", "server.address"))
        .isEqualTo("orders.shop.svc.cluster.local");
  }

  @Test
  void serverNamesItsClientPod() {
    Peer server = peer(Peer.Role.SERVER, CLUSTER_IP, POD);
    assertThat(attribute(server, "10.96.12.7:8080", "client.address")).isEqualTo("web-0");
    assertThat(attribute(server, "10.96.12.7:8080", "network.peer.address")).isEqualTo("10.244.1.5");
    assertThat(attribute(server, "10.96.12.7:8080", "server.address")).as("what the client asked for").isEqualTo("10.96.12.7");
  }

  @Test
  void unknownPeersStayAddresses() {
    assertThat(attribute(peer(Peer.Role.SERVER, POD, UNKNOWN), null, "client.address")).isEqualTo("10.244.9.9");
    assertThat(attribute(peer(Peer.Role.CLIENT, POD, UNKNOWN), null, "server.address")).isEqualTo("10.244.9.9");
  }
}
