package io.periscope.agent.http2;

/**
 * The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B). The code is canonical: codes of one
 * length are consecutive and ordered by symbol, and each length's first code follows the last code
 * of the length before. So the code lengths of the 257 symbols (256 octets and EOS) define it, and
 * decoding needs, per length, the first code and where its symbols start in a sorted list.
 */
final class HpackHuffman {
  /** Bits in the code of each octet, then of EOS (256): RFC 7541 Appendix B. */
  private static final byte[] CODE_LENGTHS = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
  };
  static final int EOS = 256;
  private static final int MAX_LENGTH = 30;

  /** Per code length: the first code of that length, how many codes have it, where they start in SYMBOLS. */
  private static final int[] FIRST_CODE = new int[MAX_LENGTH + 2];
  private static final int[] COUNT = new int[MAX_LENGTH + 2];
  private static final int[] OFFSET = new int[MAX_LENGTH + 2];
  /** Symbols ordered by code length, then by value: the order of their codes. */
  private static final int[] SYMBOLS = new int[CODE_LENGTHS.length];

  static {
    for (byte length : CODE_LENGTHS) {
      COUNT[length]++;
    }
    int code = 0;
    int offset = 0;
    for (int length = 1; length <= MAX_LENGTH; length++) {
      FIRST_CODE[length] = code;
      OFFSET[length] = offset;
      code = (code + COUNT[length]) << 1;
      offset += COUNT[length];
    }
    int[] next = OFFSET.clone();
    for (int symbol = 0; symbol < CODE_LENGTHS.length; symbol++) {
      SYMBOLS[next[CODE_LENGTHS[symbol]]++] = symbol;
    }
  }

  private HpackHuffman() {}

  /** The code of a symbol, right-aligned in an int, and its length: for tests. */
  static int code(int symbol) {
    int length = CODE_LENGTHS[symbol];
    for (int i = OFFSET[length]; i < OFFSET[length] + COUNT[length]; i++) {
      if (SYMBOLS[i] == symbol) {
        return FIRST_CODE[length] + (i - OFFSET[length]);
      }
    }
    throw new AssertionError(symbol);
  }

  static int codeLength(int symbol) {
    return CODE_LENGTHS[symbol];
  }

  /**
   * Decodes {@code length} bytes of {@code in} from {@code offset} into {@code out}; returns the
   * number of octets written, or -1 when the input is not a valid encoding (§5.2: EOS inside the
   * string, padding longer than 7 bits or not the most significant bits of EOS) or {@code out} is
   * too small.
   */
  static int decode(byte[] in, int offset, int length, byte[] out) {
    int written = 0;
    int code = 0;
    int bits = 0;
    for (int i = offset; i < offset + length; i++) {
      int octet = in[i] & 0xff;
      for (int bit = 7; bit >= 0; bit--) {
        code = (code << 1) | ((octet >>> bit) & 1);
        bits++;
        int index = code - FIRST_CODE[bits];
        if (index >= 0 && index < COUNT[bits]) {
          int symbol = SYMBOLS[OFFSET[bits] + index];
          if (symbol == EOS || written == out.length) {
            return -1;
          }
          out[written++] = (byte) symbol;
          code = 0;
          bits = 0;
        } else if (bits == MAX_LENGTH) {
          return -1;
        }
      }
    }
    // What is left must be padding: fewer than 8 bits, all ones (the start of EOS).
    if (bits > 7 || code != (1 << bits) - 1) {
      return -1;
    }
    return written;
  }
}
