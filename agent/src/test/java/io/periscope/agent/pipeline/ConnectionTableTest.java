package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The tracker's table agrees with the access-ordered LinkedHashMap it replaces. */
class ConnectionTableTest {

  @Test
  void behavesLikeAnAccessOrderedMap() {
    Random random = new Random(5);
    ConnectionTable table = new ConnectionTable();
    LinkedHashMap<Long, Connection> model = new LinkedHashMap<>(16, 0.75f, true);
    for (int step = 0; step < 300_000; step++) {
      // Kernel socket addresses: one region, 4 KiB apart at most, as in the benchmark's traffic.
      long sock = 0xffff_8880_0000_0000L + random.nextInt(3_000) * 64L;
      switch (random.nextInt(6)) {
        case 0, 1 -> {
          if (!model.containsKey(sock)) {
            Connection c = new Connection(sock, step, false);
            model.put(sock, c);
            table.put(sock, c);
          }
        }
        case 2 -> assertThat(table.remove(sock)).isSameAs(model.remove(sock));
        case 3 -> {
          Map.Entry<Long, Connection> eldest = model.pollFirstEntry();
          assertThat(table.eldest()).isSameAs(eldest == null ? null : eldest.getValue());
          assertThat(table.removeEldest()).isSameAs(eldest == null ? null : eldest.getValue());
        }
        default -> assertThat(table.get(sock)).isSameAs(model.get(sock));
      }
      assertThat(table.size()).isEqualTo(model.size());
    }
    for (Connection expected : model.values()) {
      assertThat(table.removeEldest()).isSameAs(expected);
    }
    assertThat(table.size()).isZero();
    table.put(1, new Connection(1, 0, false));
    table.clear();
    assertThat(table.size()).isZero();
    assertThat(table.get(1)).isNull();
  }
}
