package io.periscope.exporter.otlp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * Writes protobuf from the end of a buffer towards its start, so that a nested message's length
 * is known the moment its fields are written: {@code int end = mark(); ...fields...;
 * endMessage(field, end)}. One pass, no size pre-computation and no copying of finished messages
 * into their parents, which is what a forward writer must do (OpenTelemetry's walks every span's
 * attributes twice: once to size them, once to write them).
 *
 * <p>Because the bytes grow backwards, whoever writes a message writes its fields last field
 * first, and repeated elements last element first; the result reads in the usual order.
 *
 * <p>Positions are counted from the end of the buffer ({@link #mark()}), since growing the buffer
 * moves its contents. Reused across messages: {@link #reset()} empties it and keeps the capacity
 * (up to 4 MiB; a buffer grown past that for one huge message is let go).
 */
final class ReverseProtoWriter {
  static final int VARINT = 0;
  static final int FIXED64 = 1;
  static final int LENGTH_DELIMITED = 2;
  static final int FIXED32 = 5;

  private static final byte[] HEX_VALUES = hexValues();

  // java.lang.String's fields, when it is open to this module; null else.
  private static final byte LATIN1 = 0;
  private static final @Nullable VarHandle STRING_VALUE = stringField("value", byte[].class);
  private static final @Nullable VarHandle STRING_CODER = stringField("coder", byte.class);

  // What a writer keeps between messages: a batch of 512 typical spans takes about 200 KiB.
  private static final int MAX_RETAINED_BYTES = 4 << 20;

  private final boolean readsStringsInPlace;
  private final int initialCapacity;
  private byte[] buf;
  private int pos;

  ReverseProtoWriter(int initialCapacity) {
    this(initialCapacity, STRING_VALUE != null && STRING_CODER != null);
  }

  /** {@code inPlace} false: every string encodes itself (tests of that path). */
  ReverseProtoWriter(int initialCapacity, boolean inPlace) {
    if (inPlace && (STRING_VALUE == null || STRING_CODER == null)) {
      throw new IllegalStateException("java.lang is not open to " + ReverseProtoWriter.class.getModule());
    }
    readsStringsInPlace = inPlace;
    this.initialCapacity = initialCapacity;
    buf = new byte[initialCapacity];
    pos = buf.length;
  }

  private static @Nullable VarHandle stringField(String name, Class<?> type) {
    try {
      return MethodHandles.privateLookupIn(String.class, MethodHandles.lookup()).findVarHandle(String.class, name, type);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null; // not opened: --add-opens=java.base/java.lang=ALL-UNNAMED
    }
  }

  void reset() {
    if (buf.length > MAX_RETAINED_BYTES) {
      buf = new byte[initialCapacity]; // a rare huge request does not pin its buffer for good
    }
    pos = buf.length;
  }

  /** How many bytes are written: a mark for {@link #endMessage}. */
  int mark() {
    return buf.length - pos;
  }

  /** The written bytes are {@code buffer()[offset() .. offset() + length())}; valid until the next write. */
  byte[] buffer() {
    return buf;
  }

  int offset() {
    return pos;
  }

  int length() {
    return buf.length - pos;
  }

  byte[] toByteArray() {
    return Arrays.copyOfRange(buf, pos, buf.length);
  }

  /** Closes a message whose fields were written since {@code end = mark()}: prepends its length and tag. */
  void endMessage(int field, int end) {
    varint(mark() - end);
    tag(field, LENGTH_DELIMITED);
  }

  void tag(int field, int wireType) {
    varint((field << 3) | wireType);
  }

  void varint(long value) {
    // Tags and most lengths fit in one byte or two: no size to compute for them.
    if ((value & ~0x7fL) == 0) {
      int at = claim(1); // before buf is read: claiming may replace it
      buf[at] = (byte) value;
      return;
    }
    if ((value & ~0x3fffL) == 0) {
      int at = claim(2);
      buf[at] = (byte) (value | 0x80);
      buf[at + 1] = (byte) (value >>> 7);
      return;
    }
    int size = varintSize(value);
    int at = claim(size);
    for (int i = 0; i < size - 1; i++) {
      buf[at + i] = (byte) ((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    buf[at + size - 1] = (byte) value;
  }

  void varintField(int field, long value) {
    varint(value);
    tag(field, VARINT);
  }

  void fixed64Field(int field, long value) {
    int at = claim(8);
    for (int i = 0; i < 8; i++) {
      buf[at + i] = (byte) (value >>> (8 * i));
    }
    tag(field, FIXED64);
  }

  void fixed32Field(int field, int value) {
    int at = claim(4);
    for (int i = 0; i < 4; i++) {
      buf[at + i] = (byte) (value >>> (8 * i));
    }
    tag(field, FIXED32);
  }

  void bytesField(int field, byte[] value) {
    int at = claim(value.length);
    System.arraycopy(value, 0, buf, at, value.length);
    varint(value.length);
    tag(field, LENGTH_DELIMITED);
  }

  /**
   * A string as UTF-8. Nearly all that spans carry is ASCII, whose UTF-8 bytes are the bytes a
   * compact string holds: those are copied straight from the string when {@code java.lang} is
   * open to this code (the launchers' jvm.options open it, as the SDK's encoder wants too).
   * Otherwise, and for any other string, the string encodes itself, at the cost of an array.
   */
  void stringField(int field, String value) {
    if (readsStringsInPlace && (byte) STRING_CODER.get(value) == LATIN1) {
      byte[] latin1 = (byte[]) STRING_VALUE.get(value);
      if (isAscii(latin1)) {
        bytesField(field, latin1);
        return;
      }
    }
    bytesField(field, value.getBytes(StandardCharsets.UTF_8));
  }

  private static boolean isAscii(byte[] bytes) {
    int any = 0;
    for (byte b : bytes) {
      any |= b; // a loop without an exit, so that it is vectorized
    }
    return any >= 0;
  }

  /** True if strings are read in place (see {@link #stringField}). */
  boolean readsStringsInPlace() {
    return readsStringsInPlace;
  }

  /**
   * Lowercase or uppercase hex as the bytes it spells: trace and span ids are held as hex strings,
   * and decoding them in place saves the array the SDK's {@code getTraceIdBytes()} would make.
   */
  void hexField(int field, String hex) {
    int size = hex.length() / 2;
    int at = claim(size);
    for (int i = 0; i < size; i++) {
      int high = HEX_VALUES[hex.charAt(2 * i) & 0x7f];
      int low = HEX_VALUES[hex.charAt(2 * i + 1) & 0x7f];
      buf[at + i] = (byte) ((high << 4) | low);
    }
    varint(size);
    tag(field, LENGTH_DELIMITED);
  }

  static int varintSize(long value) {
    // 1 byte per started 7 bits; 0 takes one byte.
    return value == 0 ? 1 : (63 - Long.numberOfLeadingZeros(value)) / 7 + 1;
  }

  /** Makes room for {@code size} bytes before the written ones; returns where they start. */
  private int claim(int size) {
    if (pos < size) {
      grow(size);
    }
    pos -= size;
    return pos;
  }

  private void grow(int size) {
    int used = buf.length - pos;
    int capacity = Math.max(buf.length * 2, used + size);
    byte[] bigger = new byte[capacity];
    System.arraycopy(buf, pos, bigger, capacity - used, used);
    buf = bigger;
    pos = capacity - used;
  }

  private static byte[] hexValues() {
    byte[] values = new byte[128];
    for (int i = 0; i < 10; i++) {
      values['0' + i] = (byte) i;
    }
    for (int i = 0; i < 6; i++) {
      values['a' + i] = (byte) (10 + i);
      values['A' + i] = (byte) (10 + i);
    }
    return values;
  }
}
