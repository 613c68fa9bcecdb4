package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class AttributeBoxesTest {

  @Test
  void aRecurringValueKeepsItsBox() {
    AttributeBoxes boxes = new AttributeBoxes();
    Long first = boxes.of(40_001);
    assertThat(boxes.of(40_001)).isSameAs(first).isEqualTo(40_001L);
  }

  @Test
  void valuesThatShareASlotStayThemselves() {
    AttributeBoxes boxes = new AttributeBoxes();
    // 1024 apart: the same slot.
    assertThat(boxes.of(18_080)).isEqualTo(18_080L);
    assertThat(boxes.of(18_080 + 1024)).isEqualTo(18_080L + 1024);
    assertThat(boxes.of(18_080)).isEqualTo(18_080L);
    assertThat(boxes.of(-5)).isEqualTo(-5L);
    assertThat(boxes.of(Long.MAX_VALUE)).isEqualTo(Long.MAX_VALUE);
    assertThat(boxes.of(0xffff_ffffL)).isEqualTo(0xffff_ffffL);
  }
}
