package io.periscope.agent.http2;

import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * An HPACK decoder (RFC 7541) for one direction of one HTTP/2 connection, built to decode what it
 * can of a connection whose beginning it never saw.
 *
 * <p>The dynamic table holds the insertions this decoder saw, newest first. An encoder refers to
 * entry {@code i} of its table only while it holds it, and its table's newest entries are the
 * insertions we saw since we started (or since we last lost bytes, which forgets them all): so a
 * reference within what we hold names the same entry on both sides, whatever either side evicted,
 * and a reference beyond it is to an entry we never saw. While the whole history is known (the
 * connection was seen from its preface) such a reference is a compression error; otherwise the
 * field is <em>unknown</em> and the block is marked incomplete: never guessed, never taken from
 * another connection. A dynamic table size update to 0 empties the table, after which the history
 * is known again.
 *
 * <p>Only the fields tracing keeps ({@link HeaderField}) have their values turned into strings; the
 * others (credentials among them) are decoded into a scratch buffer to keep the table's sizes right
 * and never kept. Failures (RFC 7541 §2.3.3, §4.2, §5.1, §5.2, §6) are reported as data, never thrown.
 */
public final class HpackDecoder {
  /** SETTINGS_HEADER_TABLE_SIZE until a peer says otherwise (RFC 9113 §6.5.2). */
  static final int DEFAULT_TABLE_SIZE = 4096;
  /**
   * Table size (RFC 7541 §4.1 accounting) held in memory per decoder. A peer may allow a larger
   * table; entries beyond this are let go early and references to them become unknown fields.
   */
  static final int MAX_RETAINED_SIZE = 64 * 1024;
  private static final int ENTRY_OVERHEAD = 32;

  private static final String[] STATIC_NAMES = {
    null, ":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme", ":status", ":status",
    ":status", ":status", ":status", ":status", ":status", "accept-charset", "accept-encoding", "accept-language",
    "accept-ranges", "accept", "access-control-allow-origin", "age", "allow", "authorization", "cache-control",
    "content-disposition", "content-encoding", "content-language", "content-length", "content-location",
    "content-range", "content-type", "cookie", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "link", "location",
    "max-forwards", "proxy-authenticate", "proxy-authorization", "range", "referer", "refresh", "retry-after",
    "server", "set-cookie", "strict-transport-security", "transfer-encoding", "user-agent", "vary", "via",
    "www-authenticate",
  };
  /** Values of the static table (RFC 7541 Appendix A); empty where the entry has only a name. */
  private static final String[] STATIC_VALUES = new String[STATIC_NAMES.length];
  private static final HeaderField[] STATIC_FIELDS = new HeaderField[STATIC_NAMES.length];
  static final int STATIC_TABLE_LENGTH = STATIC_NAMES.length - 1;

  static {
    java.util.Arrays.fill(STATIC_VALUES, "");
    String[] values = {null, "", "GET", "POST", "/", "/index.html", "http", "https", "200", "204", "206", "304",
        "400", "404", "500", "", "gzip, deflate"};
    System.arraycopy(values, 1, STATIC_VALUES, 1, values.length - 1);
    for (int i = 1; i < STATIC_NAMES.length; i++) {
      STATIC_FIELDS[i] = HeaderField.named(STATIC_NAMES[i]);
    }
  }

  // The dynamic table, a ring of entries; index 0 of the ring order is the oldest.
  private @Nullable HeaderField[] fields = new HeaderField[16]; // null: an entry whose name was unknown
  private @Nullable String[] values = new String[16];
  private int[] sizes = new int[16];
  private int[] nameLengths = new int[16];
  private int first;
  private int count;
  private int size;

  private int maxSize = DEFAULT_TABLE_SIZE;
  private int protocolLimit = DEFAULT_TABLE_SIZE;
  private boolean limitKnown;
  private boolean historyKnown;
  /** Entries the protocol still holds were let go to respect {@link #MAX_RETAINED_SIZE}. */
  private boolean truncated;
  private byte[] scratch = new byte[256];
  private boolean truncatedInput;
  private boolean ranOut;
  private @Nullable String failure;

  /**
   * @param historyKnown the connection is seen from its start: every table entry will be known,
   *                     and the protocol's table size limit is the default until SETTINGS change it
   */
  public HpackDecoder(boolean historyKnown) {
    this.historyKnown = historyKnown;
    this.limitKnown = historyKnown;
  }

  /** The decoding endpoint's SETTINGS_HEADER_TABLE_SIZE. */
  public void setProtocolLimit(long limit) {
    // Until the peer acknowledges new settings the encoder may still use the old limit: be lenient.
    protocolLimit = (int) Math.min(Math.max(limit, DEFAULT_TABLE_SIZE), Integer.MAX_VALUE);
    limitKnown = true;
  }

  /** Bytes of this direction were lost: any of them may have changed the table, so nothing in it is known. */
  public void forgetHistory() {
    first = 0;
    count = 0;
    size = 0;
    historyKnown = false;
  }

  public boolean historyKnown() {
    return historyKnown;
  }

  public @Nullable String failure() {
    return failure;
  }

  int tableEntries() {
    return count;
  }

  /** Decodes one complete header block into {@code out} (cleared first); false, with {@link #failure()}, when it is corrupt. */
  public boolean decode(byte[] block, int offset, int length, HeaderBlock out) {
    return decode(block, offset, length, out, false);
  }

  /**
   * Like {@link #decode(byte[], int, int, HeaderBlock)}; with {@code truncated}, the bytes are only
   * the block's beginning: the fields they hold whole are decoded, the block is marked incomplete,
   * and the table is forgotten, since the missing rest may have changed it.
   */
  public boolean decode(byte[] block, int offset, int length, HeaderBlock out, boolean truncated) {
    out.clear();
    if (failure != null) {
      return false;
    }
    truncatedInput = truncated;
    ranOut = false;
    boolean decoded = decodeFields(block, offset, length, out);
    if (truncated) {
      out.markIncomplete();
      forgetHistory();
    }
    return decoded || ranOut;
  }

  private boolean decodeFields(byte[] block, int offset, int length, HeaderBlock out) {
    int end = offset + length;
    int pos = offset;
    boolean fieldsStarted = false;
    while (pos < end) {
      int b = block[pos] & 0xff;
      long next;
      if ((b & 0x80) != 0) {
        next = indexed(block, pos, end, out);
      } else if ((b & 0xc0) == 0x40) {
        next = literal(block, pos, end, 6, true, out);
      } else if ((b & 0xe0) == 0x20) {
        if (fieldsStarted) {
          return fail("dynamic table size update after a header field (RFC 7541 §4.2)");
        }
        next = sizeUpdate(block, pos, end);
      } else {
        next = literal(block, pos, end, 4, false, out); // without indexing (0000) or never indexed (0001)
      }
      if (next < 0) {
        return false;
      }
      fieldsStarted |= (b & 0xe0) != 0x20;
      pos = (int) next;
    }
    return true;
  }

  /** §6.1: an indexed field. Returns the next position, or -1 on failure. */
  private long indexed(byte[] in, int pos, int end, HeaderBlock out) {
    long decoded = integer(in, pos, end, 7);
    if (decoded < 0) {
      return -1;
    }
    int index = (int) (decoded >>> 32);
    if (index == 0) {
      fail("indexed field with index 0");
      return -1;
    }
    if (index <= STATIC_TABLE_LENGTH) {
      HeaderField field = STATIC_FIELDS[index];
      if (field.kept()) {
        out.put(field, STATIC_VALUES[index]);
      }
    } else {
      int entry = dynamicEntry(index);
      if (entry == -2) {
        return -1;
      }
      if (entry < 0 || fields[entry] == null) {
        out.markIncomplete();
      } else if (fields[entry].kept()) {
        out.put(fields[entry], values[entry]);
      }
    }
    return (int) decoded;
  }

  /** §6.2: a literal field, with its name indexed or literal; inserted into the table when {@code index}. */
  private long literal(byte[] in, int pos, int end, int prefix, boolean index, HeaderBlock out) {
    long decoded = integer(in, pos, end, prefix);
    if (decoded < 0) {
      return -1;
    }
    int nameIndex = (int) (decoded >>> 32);
    int at = (int) decoded;
    @Nullable HeaderField field;
    int nameLength;
    if (nameIndex == 0) {
      long name = string(in, at, end);
      if (name < 0) {
        return -1;
      }
      nameLength = (int) (name >>> 32);
      field = HeaderField.named(scratch, 0, nameLength);
      at = (int) name;
    } else if (nameIndex <= STATIC_TABLE_LENGTH) {
      field = STATIC_FIELDS[nameIndex];
      nameLength = STATIC_NAMES[nameIndex].length();
    } else {
      int entry = dynamicEntry(nameIndex);
      if (entry == -2) {
        return -1;
      }
      field = entry < 0 ? null : fields[entry];
      nameLength = entry < 0 ? 0 : nameLengths[entry]; // unknown: the size is a guess, which only costs memory
    }
    long value = string(in, at, end);
    if (value < 0) {
      return -1;
    }
    int valueLength = (int) (value >>> 32);
    String text = field != null && field.kept() ? new String(scratch, 0, valueLength, StandardCharsets.ISO_8859_1) : null;
    if (field == null) {
      out.markIncomplete(); // a value whose name we never saw: of no use, and never guessed at
    } else if (text != null) {
      out.put(field, text);
    }
    if (index) {
      insert(field, text, nameLength, nameLength + valueLength + ENTRY_OVERHEAD);
    }
    return (int) value;
  }

  /** §6.3: a dynamic table size update. */
  private long sizeUpdate(byte[] in, int pos, int end) {
    long decoded = integer(in, pos, end, 5);
    if (decoded < 0) {
      return -1;
    }
    int newSize = (int) (decoded >>> 32);
    if (limitKnown && newSize > protocolLimit) {
      fail("dynamic table size update to " + newSize + " beyond the limit " + protocolLimit + " (RFC 7541 §6.3)");
      return -1;
    }
    maxSize = newSize;
    if (evictTo(Math.min(maxSize, MAX_RETAINED_SIZE)) && maxSize > MAX_RETAINED_SIZE) {
      truncated = true;
    }
    if (newSize == 0) {
      historyKnown = true; // the table is empty: everything inserted from now on is seen
      truncated = false;
    }
    return (int) decoded;
  }

  /**
   * Where dynamic table index {@code index} (62 and up) is in the ring; -1 for an entry this
   * decoder never saw (allowed only while the history is not fully known); -2 after failing.
   */
  private int dynamicEntry(int index) {
    int age = index - STATIC_TABLE_LENGTH - 1; // 0: the newest entry
    if (age < count) {
      return ring(count - 1 - age);
    }
    if (historyKnown && !truncated) {
      fail("index " + index + " beyond the dynamic table (" + count + " entries)");
      return -2;
    }
    return -1;
  }

  /**
   * §4.4: adds an entry, evicting the oldest to make room. Beyond {@link #MAX_RETAINED_SIZE} the
   * protocol's table may still hold what ours let go: references to those become unknown fields.
   */
  private void insert(@Nullable HeaderField field, @Nullable String value, int nameLength, int entrySize) {
    int limit = Math.min(maxSize, MAX_RETAINED_SIZE);
    if (entrySize > limit) {
      evictTo(0); // larger than the table: it empties the table and is not added
      truncated |= entrySize <= maxSize;
      return;
    }
    if (evictTo(limit - entrySize) && maxSize > MAX_RETAINED_SIZE) {
      truncated = true;
    }
    if (count == fields.length) {
      grow();
    }
    int slot = ring(count);
    fields[slot] = field;
    values[slot] = field != null && field.kept() ? value : null;
    sizes[slot] = entrySize;
    nameLengths[slot] = nameLength;
    count++;
    size += entrySize;
  }

  /** Drops the oldest entries until the table's size is at most {@code target}; true when any went. */
  private boolean evictTo(int target) {
    boolean evicted = false;
    while (size > target && count > 0) {
      size -= sizes[first];
      fields[first] = null;
      values[first] = null;
      first = (first + 1) % fields.length;
      count--;
      evicted = true;
    }
    if (count == 0) {
      first = 0;
    }
    return evicted;
  }

  private int ring(int i) {
    return (first + i) % fields.length;
  }

  private void grow() {
    int n = fields.length * 2;
    HeaderField[] f = new HeaderField[n];
    String[] v = new String[n];
    int[] sz = new int[n];
    int[] names = new int[n];
    for (int i = 0; i < count; i++) {
      f[i] = fields[ring(i)];
      v[i] = values[ring(i)];
      sz[i] = sizes[ring(i)];
      names[i] = nameLengths[ring(i)];
    }
    fields = f;
    values = v;
    sizes = sz;
    nameLengths = names;
    first = 0;
  }

  /**
   * §5.1: an integer with an N-bit prefix at {@code pos}. Returns {@code value << 32 | next position},
   * or -1 on failure (truncated, or larger than any HPACK quantity).
   */
  private long integer(byte[] in, int pos, int end, int prefixBits) {
    int mask = (1 << prefixBits) - 1;
    long value = in[pos] & mask;
    pos++;
    if (value == mask) {
      int shift = 0;
      int b;
      do {
        if (pos >= end) {
          endOfInput("integer cut off at the end of the block");
          return -1;
        }
        b = in[pos++] & 0xff;
        value += (long) (b & 0x7f) << shift;
        shift += 7;
        if (value > Integer.MAX_VALUE || (shift > 28 && (b & 0x80) != 0)) {
          fail("integer overflow (RFC 7541 §5.1)");
          return -1;
        }
      } while ((b & 0x80) != 0);
    }
    return (value << 32) | pos;
  }

  /**
   * §5.2: a string literal at {@code pos}, decoded into {@link #scratch}. Returns
   * {@code decoded length << 32 | next position}, or -1 on failure.
   */
  private long string(byte[] in, int pos, int end) {
    if (pos >= end) {
      endOfInput("string literal missing at the end of the block");
      return -1;
    }
    boolean huffman = (in[pos] & 0x80) != 0;
    long decoded = integer(in, pos, end, 7);
    if (decoded < 0) {
      return -1;
    }
    int length = (int) (decoded >>> 32);
    int at = (int) decoded;
    if (length > end - at) {
      endOfInput("string literal of " + length + " bytes runs past the block");
      return -1;
    }
    // A Huffman code is at least 5 bits long, so a string decodes to at most 8/5 of its length.
    int room = huffman ? length * 8 / 5 + 1 : length;
    if (scratch.length < room) {
      scratch = new byte[Math.max(room, scratch.length * 2)];
    }
    int n;
    if (huffman) {
      n = HpackHuffman.decode(in, at, length, scratch);
      if (n < 0) {
        fail("invalid Huffman code (RFC 7541 §5.2)");
        return -1;
      }
    } else {
      System.arraycopy(in, at, scratch, 0, length);
      n = length;
    }
    return ((long) n << 32) | (at + length);
  }

  /** The bytes ran out inside a field: the end of a truncated block, else a corrupt one. */
  private void endOfInput(String why) {
    if (truncatedInput) {
      ranOut = true;
    } else {
      fail(why);
    }
  }

  private boolean fail(String why) {
    if (failure == null) {
      failure = why;
    }
    return false;
  }
}
