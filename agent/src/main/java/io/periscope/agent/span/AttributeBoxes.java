package io.periscope.agent.span;

/**
 * The boxes of long attribute values that recur from span to span: ports, thread ids, status
 * codes. {@code Long.valueOf} keeps only -128 to 127, so a span's five numbers cost five boxes;
 * here a box is reused while its value keeps coming. Direct-mapped by the value's low bits: a
 * collision only costs a new box. One per span factory, on the pipeline thread.
 */
final class AttributeBoxes {
  /** Enough for the ports and threads of the connections busy at once; 4 KiB of references. */
  private static final int SIZE = 1024;

  private final Long[] boxes = new Long[SIZE];

  Long of(long value) {
    int index = (int) (value ^ (value >>> 32)) & (SIZE - 1);
    Long box = boxes[index];
    if (box == null || box != value) {
      box = value;
      boxes[index] = box;
    }
    return box;
  }
}
