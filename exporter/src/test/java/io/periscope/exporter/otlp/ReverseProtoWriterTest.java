package io.periscope.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** What the writer puts down, read back with protobuf-java's own reader. */
class ReverseProtoWriterTest {
  private static final long[] VARINTS = {
    0, 1, 127, 128, 300, 16_383, 16_384, 2_097_151, 2_097_152, Integer.MAX_VALUE, 1L << 35,
    Long.MAX_VALUE, -1, Long.MIN_VALUE
  };

  @Test
  void varintsOfEverySizeReadBack() throws IOException {
    ReverseProtoWriter out = new ReverseProtoWriter(1);
    for (int i = VARINTS.length - 1; i >= 0; i--) {
      out.varintField(i + 1, VARINTS[i]);
    }
    CodedInputStream in = CodedInputStream.newInstance(out.toByteArray());
    for (int i = 0; i < VARINTS.length; i++) {
      assertThat(WireFormat.getTagFieldNumber(in.readTag())).isEqualTo(i + 1);
      assertThat(in.readInt64()).isEqualTo(VARINTS[i]);
    }
    assertThat(in.isAtEnd()).isTrue();
  }

  @Test
  void theSizeOfAVarintIsItsEncodedLength() {
    for (long value : VARINTS) {
      ReverseProtoWriter out = new ReverseProtoWriter(16);
      out.varint(value);
      assertThat(ReverseProtoWriter.varintSize(value)).as("%d", value).isEqualTo(out.length());
    }
  }

  @Test
  void fixedWidthFieldsAreLittleEndian() throws IOException {
    ReverseProtoWriter out = new ReverseProtoWriter(4);
    out.fixed32Field(2, 0x01020304);
    out.fixed64Field(1, 0x0102030405060708L);
    CodedInputStream in = CodedInputStream.newInstance(out.toByteArray());
    in.readTag();
    assertThat(in.readFixed64()).isEqualTo(0x0102030405060708L);
    in.readTag();
    assertThat(in.readFixed32()).isEqualTo(0x01020304);
  }

  @Test
  void stringsAreUtf8InPlaceOrCopied() throws IOException {
    String[] strings = {"", "GET", "/cart?id=7", "grüße", "✓ 𝄞", "\u0080", "x".repeat(70_000)};
    ReverseProtoWriter inPlace = new ReverseProtoWriter(8);
    ReverseProtoWriter copying = new ReverseProtoWriter(8, false);
    // The build runs tests as jvm.options runs the agent, java.lang open: the fast path is the one tested.
    assertThat(inPlace.readsStringsInPlace()).isTrue();
    assertThat(copying.readsStringsInPlace()).isFalse();
    for (ReverseProtoWriter out : new ReverseProtoWriter[] {inPlace, copying}) {
      for (int i = strings.length - 1; i >= 0; i--) {
        out.stringField(1, strings[i]);
      }
      CodedInputStream in = CodedInputStream.newInstance(out.toByteArray());
      for (String expected : strings) {
        in.readTag();
        assertThat(in.readString()).isEqualTo(expected);
      }
      assertThat(in.isAtEnd()).isTrue();
    }
  }

  @Test
  void hexIdsAreWrittenAsTheirBytes() {
    ReverseProtoWriter out = new ReverseProtoWriter(2);
    out.hexField(1, "0af7651916cd43dd8448eb211c80319c");
    out.hexField(2, "B7AD6B7169203331");
    assertThat(HexFormat.of().formatHex(out.toByteArray()))
        .isEqualTo("1208b7ad6b7169203331" + "0a100af7651916cd43dd8448eb211c80319c");
  }

  @Test
  void aMessageIsItsLengthThenItsFieldsAndGrowingKeepsWhatWasWritten() throws IOException {
    ReverseProtoWriter out = new ReverseProtoWriter(3);
    int end = out.mark();
    out.stringField(2, "inner text longer than the buffer");
    out.varintField(1, 42);
    out.endMessage(7, end);
    out.varintField(1, 1);

    CodedInputStream in = CodedInputStream.newInstance(out.toByteArray());
    assertThat(in.readTag()).isEqualTo(1 << 3 | WireFormat.WIRETYPE_VARINT);
    assertThat(in.readInt32()).isEqualTo(1);
    assertThat(in.readTag()).isEqualTo(7 << 3 | WireFormat.WIRETYPE_LENGTH_DELIMITED);
    int limit = in.pushLimit(in.readRawVarint32());
    in.readTag();
    assertThat(in.readInt32()).isEqualTo(42);
    in.readTag();
    assertThat(in.readString()).isEqualTo("inner text longer than the buffer");
    assertThat(in.isAtEnd()).isTrue();
    in.popLimit(limit);
    assertThat(in.isAtEnd()).isTrue();

    out.reset();
    assertThat(out.length()).isZero();
  }

  @Test
  void aBufferGrownPastFourMebibytesIsLetGoAtReset() {
    ReverseProtoWriter out = new ReverseProtoWriter(16);
    out.bytesField(1, new byte[1 << 20]);
    byte[] oneMebibyte = out.buffer();
    out.reset();
    assertThat(out.buffer()).isSameAs(oneMebibyte);

    out.bytesField(1, new byte[5 << 20]);
    out.reset();
    assertThat(out.buffer()).hasSize(16);
  }
}
