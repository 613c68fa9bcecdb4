package io.periscope.agent.testing;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The input of a fuzz test, laid out so that a seed can be written by hand: two control bytes, the
 * cut points, then the bytes under test.
 *
 * <pre>
 * byte 0        flags: each test says what its bits mean
 * byte 1        high nibble r: the data is repeated r * r times (r = 0: once); low nibble n: n cut points
 * 2 * n bytes   the cut points, unsigned 16-bit big-endian, taken modulo (data length + 1)
 * the rest      the data
 * </pre>
 *
 * So {@code printf '\0\0GET / HTTP/1.1\r\n\r\n'} is a request fed whole, once. The repetition lets
 * the fuzzer's short inputs reach the limits (a 64 KiB head, 64 pipelined requests) that bound a
 * connection's memory.
 */
public record FuzzInput(int flags, int repeat, int[] cuts, byte[] data) {
  /** The most a seed repeats its data: 15 * 15. */
  public static final int MAX_REPEAT = 225;

  public static FuzzInput of(byte[] raw) {
    int flags = raw.length > 0 ? raw[0] & 0xff : 0;
    int control = raw.length > 1 ? raw[1] & 0xff : 0;
    int r = control >>> 4;
    int n = control & 0x0f;
    int at = Math.min(2, raw.length);
    int[] cuts = new int[Math.min(n, (raw.length - at) / 2)];
    for (int i = 0; i < cuts.length; i++) {
      cuts[i] = (raw[at] & 0xff) << 8 | (raw[at + 1] & 0xff);
      at += 2;
    }
    return new FuzzInput(flags, r == 0 ? 1 : r * r, cuts, Arrays.copyOfRange(raw, at, raw.length));
  }

  public boolean flag(int bit) {
    return (flags & (1 << bit)) != 0;
  }

  /** The data, repeated as the control byte says. */
  public byte[] whole() {
    return repeated(data);
  }

  public byte[] repeated(byte[] bytes) {
    byte[] out = new byte[bytes.length * repeat];
    for (int i = 0; i < repeat; i++) {
      System.arraycopy(bytes, 0, out, i * bytes.length, bytes.length);
    }
    return out;
  }

  /** Where {@code bytes} is cut: the cut points modulo its length + 1, sorted, without duplicates. */
  public int[] cutsIn(int length) {
    return Arrays.stream(cuts).map(c -> c % (length + 1)).sorted().distinct().toArray();
  }

  /** {@code bytes} in the pieces the cut points make, empty pieces included (a cut at 0 makes one). */
  public List<byte[]> pieces(byte[] bytes) {
    List<byte[]> pieces = new ArrayList<>();
    int from = 0;
    for (int cut : cutsIn(bytes.length)) {
      pieces.add(Arrays.copyOfRange(bytes, from, cut));
      from = cut;
    }
    pieces.add(Arrays.copyOfRange(bytes, from, bytes.length));
    return pieces;
  }

  /** Splits the data at the first {@code separator}: the parts before and after it (all of it and nothing when absent). */
  public static byte[][] splitAt(byte[] data, String separator) {
    byte[] sep = separator.getBytes(StandardCharsets.ISO_8859_1);
    outer:
    for (int i = 0; i + sep.length <= data.length; i++) {
      for (int j = 0; j < sep.length; j++) {
        if (data[i + j] != sep[j]) {
          continue outer;
        }
      }
      return new byte[][] {Arrays.copyOfRange(data, 0, i), Arrays.copyOfRange(data, i + sep.length, data.length)};
    }
    return new byte[][] {data, new byte[0]};
  }
}
