package io.periscope.agent.http2;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HpackHuffmanTest {

  /** The canonical code built from the lengths is netty's table (RFC 7541 Appendix B), code for code. */
  @Test
  void codesAreTheRfcTable() throws Exception {
    Class<?> util = Class.forName("io.netty.handler.codec.http2.HpackUtil");
    Field codesField = util.getDeclaredField("HUFFMAN_CODES");
    Field lengthsField = util.getDeclaredField("HUFFMAN_CODE_LENGTHS");
    codesField.setAccessible(true);
    lengthsField.setAccessible(true);
    int[] codes = (int[]) codesField.get(null);
    byte[] lengths = (byte[]) lengthsField.get(null);
    assertThat(codes).hasSize(257);
    for (int symbol = 0; symbol < 257; symbol++) {
      assertThat(HpackHuffman.codeLength(symbol)).as("length of %d", symbol).isEqualTo(lengths[symbol]);
      assertThat(HpackHuffman.code(symbol)).as("code of %d", symbol).isEqualTo(codes[symbol]);
    }
  }

  /** RFC 7541 C.4.1: "www.example.com" Huffman-coded. */
  @Test
  void decodesTheRfcExample() {
    byte[] coded = HexFormat.of().parseHex("f1e3c2e5f23a6ba0ab90f4ff");
    byte[] out = new byte[64];
    int n = HpackHuffman.decode(coded, 0, coded.length, out);
    assertThat(new String(out, 0, n, StandardCharsets.US_ASCII)).isEqualTo("www.example.com");
  }

  @Test
  void everyOctetRoundTrips() {
    Random random = new Random(1);
    for (int round = 0; round < 500; round++) {
      byte[] text = new byte[random.nextInt(40)];
      for (int i = 0; i < text.length; i++) {
        text[i] = (byte) (round < 256 && i == 0 ? round : random.nextInt(256));
      }
      byte[] coded = encode(text);
      byte[] out = new byte[text.length * 8 / 5 + 1];
      int n = HpackHuffman.decode(coded, 0, coded.length, out);
      assertThat(java.util.Arrays.copyOf(out, Math.max(n, 0))).isEqualTo(text);
    }
  }

  @Test
  void refusesBadPadding() {
    // 'a' is 00011 (5 bits): padded with zeros instead of ones.
    assertThat(HpackHuffman.decode(new byte[] {0b0001_1000}, 0, 1, new byte[8])).isEqualTo(-1);
    // A whole byte of padding (8 one-bits after a complete code) is more than 7 bits.
    byte[] a = encode("a".getBytes(StandardCharsets.US_ASCII));
    assertThat(HpackHuffman.decode(new byte[] {a[0], (byte) 0xff}, 0, 2, new byte[8])).isEqualTo(-1);
  }

  @Test
  void refusesEos() {
    // EOS is 30 one-bits; inside a string it is an error (RFC 7541 §5.2).
    byte[] eos = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff};
    assertThat(HpackHuffman.decode(eos, 0, 4, new byte[8])).isEqualTo(-1);
  }

  @Test
  void refusesOutputThatDoesNotFit() {
    byte[] coded = encode("abcdef".getBytes(StandardCharsets.US_ASCII));
    assertThat(HpackHuffman.decode(coded, 0, coded.length, new byte[5])).isEqualTo(-1);
  }

  /** Encodes with the canonical codes, padding with ones. */
  static byte[] encode(byte[] text) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    long bits = 0;
    int count = 0;
    for (byte b : text) {
      int symbol = b & 0xff;
      bits = (bits << HpackHuffman.codeLength(symbol)) | HpackHuffman.code(symbol);
      count += HpackHuffman.codeLength(symbol);
      while (count >= 8) {
        out.write((int) (bits >>> (count - 8)));
        count -= 8;
      }
    }
    if (count > 0) {
      out.write((int) ((bits << (8 - count)) | ((1 << (8 - count)) - 1)));
    }
    return out.toByteArray();
  }
}
