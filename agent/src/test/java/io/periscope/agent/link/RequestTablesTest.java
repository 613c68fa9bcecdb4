package io.periscope.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.pipeline.Peer;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The tables the linker keeps its requests in agree with the JDK maps they replace. */
class RequestTablesTest {
  private record Key(Peer peer, long sequence) {}

  private static final List<Peer> PEERS = new ArrayList<>();

  static {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    for (int i = 0; i < 6; i++) {
      Peer.Role role = i % 2 == 0 ? Peer.Role.SERVER : Peer.Role.CLIENT;
      PEERS.add(new Peer(100 + i % 3, "p", role, loopback, 8000 + i, loopback, 40000 + i, "127.0.0.1", "127.0.0.1"));
    }
  }

  @Test
  void behavesLikeAnInsertionOrderedMap() {
    Random random = new Random(7);
    InFlightRequests table = new InFlightRequests();
    LinkedHashMap<Key, RequestNode> model = new LinkedHashMap<>();
    for (int step = 0; step < 200_000; step++) {
      Peer peer = PEERS.get(random.nextInt(PEERS.size()));
      long sequence = random.nextInt(2_000);
      Key key = new Key(peer, sequence);
      switch (random.nextInt(5)) {
        case 0, 1 -> {
          RequestNode node = new RequestNode(peer, sequence, 1);
          boolean added = model.putIfAbsent(key, node) == null;
          assertThat(table.addIfAbsent(node)).isEqualTo(added);
        }
        case 2 -> assertThat(table.remove(peer, sequence)).isSameAs(model.remove(key));
        case 3 -> {
          RequestNode polled = table.pollOldest();
          Map.Entry<Key, RequestNode> first = model.pollFirstEntry();
          assertThat(polled).isSameAs(first == null ? null : first.getValue());
        }
        default -> {
          RequestNode in = model.get(key);
          assertThat(table.get(peer, sequence)).isSameAs(in);
          if (in != null && random.nextBoolean()) {
            table.remove(in);
            model.remove(key);
          }
        }
      }
      assertThat(table.size()).isEqualTo(model.size());
    }
    for (RequestNode expected : model.values()) {
      assertThat(table.pollOldest()).isSameAs(expected);
    }
    assertThat(table.pollOldest()).isNull();
  }

  @Test
  void equalPeersAreOneConnection() {
    InFlightRequests table = new InFlightRequests();
    Peer peer = PEERS.getFirst();
    Peer same = new Peer(peer.tgid(), peer.comm(), peer.role(), peer.localAddress(), peer.localPort(),
        peer.remoteAddress(), peer.remotePort(), peer.localHost(), peer.remoteHost());
    RequestNode node = new RequestNode(peer, 5, 1);
    table.addIfAbsent(node);
    assertThat(table.addIfAbsent(new RequestNode(same, 5, 1))).isFalse();
    assertThat(table.remove(same, 5)).isSameAs(node);
  }

  @Test
  void servingThreadsCountEachThreadsRequests() {
    Random random = new Random(11);
    ServingThreads table = new ServingThreads();
    List<RequestNode> serving = new ArrayList<>();
    for (int step = 0; step < 50_000; step++) {
      if (serving.isEmpty() || (serving.size() < 500 && random.nextInt(3) > 0)) {
        Peer peer = PEERS.get(random.nextInt(PEERS.size()));
        RequestNode node = new RequestNode(peer, step, random.nextInt(40));
        if (random.nextInt(10) == 0) {
          node.incomingSpanId = Integer.toString(step);
        }
        table.add(node);
        serving.add(node);
      } else {
        RequestNode gone = serving.remove(random.nextInt(serving.size()));
        table.remove(gone);
        table.remove(gone); // twice: nothing more happens
      }
      assertThat(table.size()).isEqualTo(serving.size());
      int tgid = 100 + random.nextInt(3);
      int tid = random.nextInt(40);
      List<RequestNode> onThread = serving.stream().filter(n -> n.peer.tgid() == tgid && n.tid == tid).toList();
      assertThat(table.count(tgid, tid, 2)).isEqualTo(Math.min(2, onThread.size()));
      if (onThread.size() == 1) {
        assertThat(table.any(tgid, tid)).isSameAs(onThread.getFirst());
      } else if (onThread.isEmpty()) {
        assertThat(table.any(tgid, tid)).isNull();
      }
      String spanId = Integer.toString(random.nextInt(step + 1));
      List<RequestNode> received = serving.stream()
          .filter(n -> n.peer.tgid() == tgid && spanId.equals(n.incomingSpanId)).toList();
      assertThat(table.countIncoming(tgid, spanId, 2)).isEqualTo(Math.min(2, received.size()));
      if (received.size() == 1) {
        assertThat(table.anyIncoming(tgid, spanId)).isSameAs(received.getFirst());
      } else if (received.isEmpty()) {
        assertThat(table.anyIncoming(tgid, spanId)).isNull();
      }
    }
  }

  @Test
  void aConnectionsRequestsStayInTheOrderTheyStarted() {
    Random random = new Random(3);
    ConnectionRequests table = new ConnectionRequests();
    Map<Peer, List<RequestNode>> model = new LinkedHashMap<>();
    for (int step = 0; step < 50_000; step++) {
      Peer peer = PEERS.get(random.nextInt(PEERS.size()));
      List<RequestNode> open = model.computeIfAbsent(peer, p -> new ArrayList<>());
      switch (random.nextInt(6)) {
        case 0, 1, 2 -> {
          RequestNode node = new RequestNode(peer, step, 1);
          table.add(node);
          open.add(node);
        }
        case 3, 4 -> {
          if (!open.isEmpty()) {
            RequestNode gone = open.remove(random.nextInt(open.size()));
            table.remove(gone);
            table.remove(gone);
          }
        }
        default -> {
          List<RequestNode> seen = new ArrayList<>();
          for (RequestNode n = table.removeAll(peer); n != null; n = n.nextOnConnection) {
            seen.add(n);
          }
          assertThat(seen).containsExactlyElementsOf(open);
          open.clear();
        }
      }
      assertThat(table.count()).isEqualTo(model.values().stream().mapToInt(List::size).sum());
    }
  }
}
