package io.periscope.agent.http2;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.Http2Traffic;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HpackDecoderTest {
  private final HeaderBlock out = new HeaderBlock();

  private static byte[] hex(String s) {
    return HexFormat.of().parseHex(s.replace(" ", ""));
  }

  /** RFC 7541 C.4: three requests, Huffman-coded, sharing a dynamic table. */
  @Test
  void decodesTheRfcRequestExamples() {
    HpackDecoder decoder = new HpackDecoder(true);
    byte[] first = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    assertThat(decoder.decode(first, 0, first.length, out)).isTrue();
    assertThat(out.get(HeaderField.METHOD)).isEqualTo("GET");
    assertThat(out.get(HeaderField.SCHEME)).isEqualTo("http");
    assertThat(out.get(HeaderField.PATH)).isEqualTo("/");
    assertThat(out.get(HeaderField.AUTHORITY)).isEqualTo("www.example.com");

    byte[] second = hex("8286 84be 5886 a8eb 1064 9cbf");
    assertThat(decoder.decode(second, 0, second.length, out)).isTrue();
    assertThat(out.get(HeaderField.AUTHORITY)).as("index 62: the entry the first block added").isEqualTo("www.example.com");
    assertThat(out.incomplete()).isFalse();

    byte[] third = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
    assertThat(decoder.decode(third, 0, third.length, out)).isTrue();
    assertThat(out.get(HeaderField.SCHEME)).isEqualTo("https");
    assertThat(out.get(HeaderField.PATH)).isEqualTo("/index.html");
    assertThat(out.get(HeaderField.AUTHORITY)).as("now index 63").isEqualTo("www.example.com");
    assertThat(decoder.tableEntries()).isEqualTo(3);
  }

  /** Whatever netty's encoder makes of random header lists, block after block, decodes to the same kept fields. */
  @Test
  void agreesWithNettysEncoder() {
    Random random = new Random(42);
    Http2Traffic.Hpack encoder = new Http2Traffic.Hpack();
    HpackDecoder decoder = new HpackDecoder(true);
    String[] paths = {"/", "/a", "/demo.Echo/Unary", "/demo.Echo/Big", "/very/long/path/" + "x".repeat(300)};
    for (int block = 0; block < 2_000; block++) {
      if (block % 500 == 250) {
        long size = random.nextInt(3) == 0 ? 0 : 256 + random.nextInt(4096 - 256);
        encoder.tableSize(size); // emits a dynamic table size update at the start of the next block
      }
      List<String> fields = new ArrayList<>();
      String method = random.nextBoolean() ? "GET" : "POST";
      String path = paths[random.nextInt(paths.length)] + (random.nextInt(4) == 0 ? "?q=" + block : "");
      String authority = "svc-" + random.nextInt(5) + ".example:" + (8000 + random.nextInt(3));
      String traceparent = "00-" + "%032x".formatted(random.nextLong() & Long.MAX_VALUE) + "-"
          + "%016x".formatted(random.nextLong() & Long.MAX_VALUE) + "-01";
      fields.addAll(List.of(":method", method, ":scheme", "http", ":path", path, ":authority", authority));
      if (random.nextBoolean()) {
        fields.addAll(List.of("content-type", "application/grpc", "te", "trailers"));
      }
      fields.addAll(List.of("user-agent", "grpc-python/1." + random.nextInt(3), "traceparent", traceparent));
      fields.addAll(List.of("authorization", "Bearer " + random.nextLong(), "cookie", "id=" + random.nextInt(10)));
      for (int i = random.nextInt(4); i > 0; i--) {
        fields.addAll(List.of("x-custom-" + random.nextInt(20), "v" + random.nextInt(1000)));
      }
      byte[] bytes = encoder.block(fields.toArray(String[]::new));
      assertThat(decoder.decode(bytes, 0, bytes.length, out)).as("block %d: %s", block, decoder.failure()).isTrue();
      assertThat(out.incomplete()).isFalse();
      assertThat(out.get(HeaderField.METHOD)).isEqualTo(method);
      assertThat(out.get(HeaderField.PATH)).isEqualTo(path);
      assertThat(out.get(HeaderField.AUTHORITY)).isEqualTo(authority);
      assertThat(out.get(HeaderField.TRACEPARENT)).isEqualTo(traceparent);
      assertThat(out.get(HeaderField.USER_AGENT)).startsWith("grpc-python/1.");
      assertThat(out.get(HeaderField.CONTENT_TYPE)).isEqualTo(fields.contains("application/grpc") ? "application/grpc" : null);
    }
  }

  /**
   * A decoder that starts after blocks it never saw (a connection open before the agent started)
   * names only what it can know: fields in entries it never saw are unknown, the block says so,
   * and no value is ever taken from the wrong entry.
   */
  @Test
  void neverGuessesEntriesItDidNotSee() {
    Http2Traffic.Hpack encoder = new Http2Traffic.Hpack();
    String[] call = {":method", "POST", ":scheme", "http", ":path", "/demo.Echo/Unary", ":authority", "localhost:50051",
        "content-type", "application/grpc", "te", "trailers"};
    encoder.block(call); // seen by the peer only: :path, :authority and content-type go into its table
    HpackDecoder late = new HpackDecoder(false);

    byte[] again = encoder.block(call);
    assertThat(late.decode(again, 0, again.length, out)).isTrue();
    assertThat(out.get(HeaderField.METHOD)).as("the static table still names it").isEqualTo("POST");
    assertThat(out.get(HeaderField.SCHEME)).isEqualTo("http");
    assertThat(out.get(HeaderField.PATH)).isNull();
    assertThat(out.get(HeaderField.CONTENT_TYPE)).isNull();
    assertThat(out.incomplete()).isTrue();

    // A new path is a literal added to the table: known from now on, and found again by index.
    String[] other = call.clone();
    other[5] = "/demo.Echo/Other";
    byte[] literal = encoder.block(other);
    assertThat(late.decode(literal, 0, literal.length, out)).isTrue();
    assertThat(out.get(HeaderField.PATH)).isEqualTo("/demo.Echo/Other");
    byte[] indexed = encoder.block(other);
    assertThat(late.decode(indexed, 0, indexed.length, out)).isTrue();
    assertThat(out.get(HeaderField.PATH)).isEqualTo("/demo.Echo/Other");
    assertThat(out.get(HeaderField.AUTHORITY)).as("still the entry from before we started").isNull();
    assertThat(out.incomplete()).isTrue();
  }

  /** After a loss every entry is unknown again; a size update to 0 empties the table, and all is known after it. */
  @Test
  void forgetsOnLossAndKnowsAgainAfterAnEmptyTable() {
    Http2Traffic.Hpack encoder = new Http2Traffic.Hpack();
    HpackDecoder decoder = new HpackDecoder(true);
    String[] request = {":method", "GET", ":path", "/x", ":authority", "a.example"};
    byte[] first = encoder.block(request);
    assertThat(decoder.decode(first, 0, first.length, out)).isTrue();
    decoder.forgetHistory();
    byte[] second = encoder.block(request);
    assertThat(decoder.decode(second, 0, second.length, out)).isTrue();
    assertThat(out.get(HeaderField.PATH)).isNull();
    assertThat(out.incomplete()).isTrue();

    encoder.tableSize(0);
    byte[] emptied = encoder.block(request);
    assertThat(decoder.decode(emptied, 0, emptied.length, out)).isTrue();
    assertThat(decoder.historyKnown()).isTrue();
    assertThat(out.get(HeaderField.PATH)).isEqualTo("/x");
  }

  @Test
  void credentialsAreNeverKept() {
    Http2Traffic.Hpack encoder = new Http2Traffic.Hpack();
    HpackDecoder decoder = new HpackDecoder(true);
    byte[] block = encoder.block(":method", "GET", "authorization", "Bearer secret", "cookie", "session=secret");
    assertThat(decoder.decode(block, 0, block.length, out)).isTrue();
    assertThat(java.util.Arrays.stream(HeaderField.values()).map(out::get).filter(java.util.Objects::nonNull))
        .containsExactly("GET");
  }

  @Test
  void failsOnCorruptBlocks() {
    assertFails(true, "80", "index 0");
    assertFails(true, "be", "beyond the dynamic table"); // index 62 in an empty table
    assertFails(true, "3f8120", "beyond the limit"); // a size update to 4128, above the default 4096
    assertFails(true, "82 20", "after a header field");
    assertFails(true, "ff ff ff ff ff ff 7f", "overflow");
    assertFails(true, "41 05 61 62", "runs past"); // :authority with a 5-byte value cut after 2
    assertFails(true, "41 81 00", "Huffman"); // a Huffman string of one zero byte: bad padding
    assertFails(true, "41", "missing");
    assertFails(true, "ff", "cut off");
  }

  /** A decoder that joined midway does not know the limit, nor what it missed: unknown, not a failure. */
  @Test
  void unknownIndexIsNoFailureWhenJoinedMidway() {
    HpackDecoder decoder = new HpackDecoder(false);
    assertThat(decoder.decode(hex("be"), 0, 1, out)).isTrue();
    assertThat(out.incomplete()).isTrue();
    assertThat(decoder.decode(hex("3f8120 82"), 0, 4, out)).as(decoder.failure()).isTrue();
    assertThat(out.get(HeaderField.METHOD)).isEqualTo("GET");
  }

  @Test
  void aSettingRaisesTheLimitForSizeUpdates() {
    HpackDecoder decoder = new HpackDecoder(true);
    decoder.setProtocolLimit(65_536);
    byte[] update = hex("3fe1ff03"); // a size update to 65536
    assertThat(decoder.decode(update, 0, update.length, out)).as(decoder.failure()).isTrue();
  }

  /** Once failed, every later block fails too: the table can no longer be trusted. */
  @Test
  void failureIsFinal() {
    HpackDecoder decoder = new HpackDecoder(true);
    assertThat(decoder.decode(hex("80"), 0, 1, out)).isFalse();
    assertThat(decoder.decode(hex("82"), 0, 1, out)).isFalse();
  }

  private void assertFails(boolean historyKnown, String block, String why) {
    HpackDecoder decoder = new HpackDecoder(historyKnown);
    byte[] bytes = hex(block);
    assertThat(decoder.decode(bytes, 0, bytes.length, out)).as(block).isFalse();
    assertThat(decoder.failure()).as(block).contains(why);
  }
}
