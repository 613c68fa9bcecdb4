package io.periscope.agent.http2;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import io.periscope.agent.testing.FuzzInput;
import io.periscope.agent.testing.RetainedMemory;
import java.util.List;

/**
 * Coverage-guided fuzzing of the HPACK decoder against netty's (an independent implementation, the
 * one DESIGN.md names), and of the Huffman table. Inputs are {@link FuzzInput}s: the cut points
 * make the data a sequence of header blocks that share one dynamic table.
 */
class HpackDecoderFuzzTest {
  /**
   * Block after block, while netty decodes a block ours decodes it too, to the same kept fields;
   * a block netty refuses, ours refuses (one exception, below). The table never holds more than its limit.
   */
  @FuzzTest
  void againstNetty(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    HpackDecoder ours = new HpackDecoder(true);
    DefaultHttp2HeadersDecoder netty = new DefaultHttp2HeadersDecoder(false, false, 0xFFFFFFFFL);
    HeaderBlock out = new HeaderBlock();
    int longest = 0;
    for (byte[] block : input.pieces(input.whole())) {
      longest = Math.max(longest, block.length);
      boolean decoded = ours.decode(block, 0, block.length, out);
      Http2Headers headers;
      try {
        headers = netty.decodeHeaders(1, Unpooled.wrappedBuffer(block));
      } catch (Http2Exception e) {
        assertThat(decoded).as("netty refused it: %s", e.getMessage()).isFalse();
        return;
      }
      assertThat(decoded).as("netty decoded it, ours failed: %s", ours.failure()).isTrue();
      assertThat(out.incomplete()).as("the whole history is known").isFalse();
      for (HeaderField field : HeaderField.values()) {
        if (field.kept()) {
          List<CharSequence> values = headers.getAll(name(field));
          String expected = values.isEmpty() ? null : latin1(values.getFirst());
          assertThat(out.get(field)).as(field.name()).isEqualTo(expected);
        }
      }
      assertBounded(ours, longest);
    }
  }

  /**
   * A block from a connection joined midway, or cut at the capture: never an exception, never a
   * kept value that is not in the bytes (a reference to an entry never seen is unknown, not guessed).
   */
  @FuzzTest
  void historyUnknown(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    HpackDecoder decoder = new HpackDecoder(input.flag(0));
    if (input.flag(1)) {
      decoder.setProtocolLimit(1L << (input.flags() >>> 2));
    }
    HeaderBlock out = new HeaderBlock();
    List<byte[]> blocks = input.pieces(input.whole());
    int longest = 0;
    for (int i = 0; i < blocks.size(); i++) {
      byte[] block = blocks.get(i);
      longest = Math.max(longest, block.length);
      boolean truncated = input.flag(7) && i % 2 == 1;
      if (!decoder.decode(block, 0, block.length, out, truncated)) {
        assertThat(decoder.failure()).isNotNull();
        return;
      }
      if (truncated) {
        assertThat(out.incomplete()).isTrue();
        assertThat(decoder.historyKnown()).isFalse();
      }
      assertBounded(decoder, longest);
    }
  }

  /** Any octets Huffman-encode and decode back; any bytes decode to at most 8/5 as many octets, or fail. */
  @FuzzTest
  void huffman(byte[] raw) {
    byte[] encoded = huffmanEncode(raw);
    byte[] decoded = new byte[raw.length];
    assertThat(HpackHuffman.decode(encoded, 0, encoded.length, decoded)).isEqualTo(raw.length);
    assertThat(decoded).isEqualTo(raw);

    // The HPACK decoder sizes its buffer by the shortest code (5 bits): the bytes must fit.
    byte[] room = new byte[raw.length * 8 / 5 + 1];
    int n = HpackHuffman.decode(raw, 0, raw.length, room);
    if (n >= 0) {
      assertThat(huffmanEncode(java.util.Arrays.copyOf(room, n))).as("the canonical encoding of what it decoded to")
          .isEqualTo(raw);
    }
  }

  private static byte[] huffmanEncode(byte[] octets) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    long bits = 0;
    int count = 0;
    for (byte b : octets) {
      int symbol = b & 0xff;
      bits = bits << HpackHuffman.codeLength(symbol) | HpackHuffman.code(symbol);
      count += HpackHuffman.codeLength(symbol);
      while (count >= 8) {
        out.write((int) (bits >>> (count - 8)));
        count -= 8;
      }
    }
    if (count > 0) {
      out.write((int) (bits << (8 - count) | (0xff >>> count))); // padded with the start of EOS
    }
    return out.toByteArray();
  }

  private static String name(HeaderField field) {
    return field.name().equals("OTHER") ? "" : switch (field) {
      case METHOD -> ":method";
      case PATH -> ":path";
      case AUTHORITY -> ":authority";
      case SCHEME -> ":scheme";
      case STATUS -> ":status";
      default -> field.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    };
  }

  private static String latin1(CharSequence value) {
    return value.toString(); // netty's AsciiString maps each octet to one char, as ISO-8859-1 does
  }

  /**
   * A decoder holds its table (at most {@link HpackDecoder#MAX_RETAINED_SIZE} of RFC 7541 size, so
   * at most a 32nd as many entries) and a scratch buffer for the longest string it decoded (up to
   * 8/5 of its bytes, doubled as it grew), which is in the longest block.
   */
  private static void assertBounded(HpackDecoder decoder, int longestBlock) {
    int maxEntries = HpackDecoder.MAX_RETAINED_SIZE / 32;
    assertThat(decoder.tableEntries()).isLessThanOrEqualTo(maxEntries);
    long table = HpackDecoder.MAX_RETAINED_SIZE + 2L * maxEntries * (4 + 4 + 4 + 4 + 16);
    assertThat(RetainedMemory.of(decoder).bytes()).isLessThanOrEqualTo(table + 4L * longestBlock + 4096);
  }
}
