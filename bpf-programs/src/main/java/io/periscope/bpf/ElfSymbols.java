package io.periscope.bpf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What the uprobe loader needs of an ELF file, read from its section headers and symbol tables
 * ({@code .dynsym}, or {@code .symtab} where it was not stripped) without asking libbpf to attach to
 * every executable: whether it defines a function (how an executable that carries its own TLS
 * library, a statically linked OpenSSL or BoringSSL, is told from one that does not), the machine
 * code of a function (where a Go function returns), and the Go version a program was built with.
 * Go programs stripped of their symbol table keep Go's own ({@code .gopclntab}), which is read
 * instead.
 * Anything that is not a 64-bit little-endian ELF file, or is cut short, defines nothing.
 *
 * <p>Opened once, read many times: the file stays readable through its open descriptor after the
 * process that named it (through {@code /proc/PID/root}) has gone, and its tables are read once.
 */
final class ElfSymbols implements AutoCloseable {
  private static final int SHT_SYMTAB = 2;
  private static final int SHT_DYNSYM = 11;
  private static final int SHN_UNDEF = 0;
  /** sizeof(Elf64_Sym) */
  private static final int SYMBOL_SIZE = 24;
  /** Tables and functions read at most: node's symbol table is about 3 MiB; a larger one is not a program we probe. */
  private static final long MAX_TABLE_BYTES = 64L << 20;
  private static final byte[] GO_BUILDINFO_MAGIC = "\u00ff Go buildinf:".getBytes(StandardCharsets.ISO_8859_1);

  /** A defined symbol: its address, its size, and the section it is in. */
  private record Symbol(long value, long size, int section) {}

  private final FileChannel elf;
  private final ByteBuffer sections;
  private final int sectionSize;
  private final int sectionCount;
  /** The symbol tables with their string tables, read at the first lookup. */
  private List<ByteBuffer[]> symbolTables;
  /** Go's function table ({@code .gopclntab}; empty when there is none) and its section, read at the first lookup. */
  private ByteBuffer goTable;
  private int goTableSection;

  /** The ELF file at {@code file}; an IOException if it is not one this class reads. */
  static ElfSymbols open(Path file) throws IOException {
    FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
    try {
      return new ElfSymbols(channel);
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e instanceof IOException io ? io : new IOException(e);
    }
  }

  private ElfSymbols(FileChannel elf) throws IOException {
    this.elf = elf;
    ByteBuffer header = read(0, 64);
    // \x7fELF, 64-bit (class 2), little-endian (data 1)
    if (header.getInt(0) != 0x464c457f || header.get(4) != 2 || header.get(5) != 1) {
      throw new IOException("not a 64-bit little-endian ELF file");
    }
    sectionSize = Short.toUnsignedInt(header.getShort(0x3a));
    sectionCount = Short.toUnsignedInt(header.getShort(0x3c));
    if (sectionSize < 64 || sectionCount == 0) {
      throw new IOException("no section headers");
    }
    sections = read(header.getLong(0x28), (long) sectionSize * sectionCount);
  }

  @Override
  public void close() throws IOException {
    elf.close();
  }

  /** Whether {@code file} defines the function in a symbol table; false for anything unreadable. */
  static boolean definesFunction(Path file, String name) {
    try (ElfSymbols elf = open(file)) {
      return elf.definesFunction(name);
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether this file defines the function in a symbol table. */
  boolean definesFunction(String name) {
    try {
      return symbol(name).isPresent();
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether this file defines the Go function: in a symbol table, or, stripped, in Go's own table. */
  boolean definesGoFunction(String name) {
    try {
      return symbol(name).isPresent() || goFunction(name).isPresent();
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** A function's machine code, and where it starts in the file (what a uprobe at an offset needs). */
  record Function(long fileOffset, byte[] code) {}

  /** {@link #function(String)} of the file at {@code file}. */
  static Optional<Function> function(Path file, String name) {
    try (ElfSymbols elf = open(file)) {
      return elf.function(name);
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * The machine code of a defined function, as its symbol's address and size say, or, in a Go
   * program stripped of its symbol table, as Go's own function table ({@code .gopclntab}) says;
   * empty if there is none.
   */
  Optional<Function> function(String name) {
    try {
      Optional<Symbol> symbol = symbol(name);
      if (symbol.isEmpty()) {
        symbol = goFunction(name);
      }
      if (symbol.isEmpty() || symbol.get().size() == 0 || symbol.get().size() > MAX_TABLE_BYTES) {
        return Optional.empty();
      }
      long offset = fileOffset(symbol.get().value());
      ByteBuffer code = read(offset, symbol.get().size());
      byte[] bytes = new byte[code.remaining()];
      code.get(bytes);
      return Optional.of(new Function(offset, bytes));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Where the byte at a virtual address lies in the file: from the section that holds it. */
  private long fileOffset(long address) throws IOException {
    for (int i = 0; i < sectionCount; i++) {
      int at = i * sectionSize;
      long start = sections.getLong(at + 0x10);
      long size = sections.getLong(at + 0x20);
      if (start != 0 && address >= start && address < start + size) {
        return sections.getLong(at + 0x18) + address - start;
      }
    }
    throw new IOException("no section holds 0x" + Long.toHexString(address));
  }

  /**
   * A function from Go's table of functions (Go 1.18 and later: runtime/symtab.go's pcHeader,
   * magic 0xfffffff0 or 0xfffffff1), which stripping leaves in place: the function table holds
   * (entry, func) offset pairs sorted by entry, each func names itself, and a function ends where
   * the next begins.
   */
  private Optional<Symbol> goFunction(String name) throws IOException {
    if (goTable == null) {
      int found = sectionNamed(".gopclntab");
      goTableSection = found;
      goTable = found < 0 ? ByteBuffer.allocate(0) : sectionContents(found);
    }
    ByteBuffer table = goTable;
    int section = goTableSection;
    if (table.limit() < 72) {
      return Optional.empty();
    }
    int magic = table.getInt(0);
    if ((magic != 0xfffffff0 && magic != 0xfffffff1) || table.get(7) != 8) {
      return Optional.empty();
    }
    long functions = table.getLong(8);
    long textStart = table.getLong(24);
    long names = table.getLong(32);
    long functionTable = table.getLong(64);
    if (functions <= 0 || functionTable + (functions + 1) * 8 > table.limit() || names >= table.limit()) {
      return Optional.empty();
    }
    byte[] wanted = name.getBytes(StandardCharsets.US_ASCII);
    ByteBuffer nameTable = table.slice((int) names, table.limit() - (int) names).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < functions; i++) {
      int pair = (int) functionTable + i * 8;
      long func = functionTable + Integer.toUnsignedLong(table.getInt(pair + 4));
      if (func + 8 > table.limit()) {
        return Optional.empty();
      }
      if (nameEquals(nameTable, table.getInt((int) func + 4), wanted)) {
        long entry = Integer.toUnsignedLong(table.getInt(pair));
        long end = Integer.toUnsignedLong(table.getInt(pair + 8));
        return end > entry ? Optional.of(new Symbol(textStart + entry, end - entry, section)) : Optional.empty();
      }
    }
    return Optional.empty();
  }

  /**
   * The Go release a program was built with ({@code go1.19.8}), from its {@code .go.buildinfo}
   * section in the form Go 1.18 and later write (the version inline); empty for anything else.
   */
  static Optional<String> goVersion(Path file) {
    try (ElfSymbols elf = open(file)) {
      return elf.goVersion();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** {@link #goVersion(Path)} of this file. */
  Optional<String> goVersion() {
    try {
      int section = sectionNamed(".go.buildinfo");
      if (section < 0) {
        return Optional.empty();
      }
      int at = section * sectionSize;
      ByteBuffer info = read(sections.getLong(at + 0x18), Math.min(sections.getLong(at + 0x20), 4096));
      // magic (14 bytes), pointer size, flags (bit 1: strings inline), then at 32 the version as a
      // uvarint-prefixed string.
      for (int i = 0; i < GO_BUILDINFO_MAGIC.length; i++) {
        if (info.get(i) != GO_BUILDINFO_MAGIC[i]) {
          return Optional.empty();
        }
      }
      if ((info.get(15) & 2) == 0) {
        return Optional.empty();
      }
      int length = info.get(32);
      if (length <= 0 || 33 + length > info.limit()) {
        return Optional.empty();
      }
      byte[] version = new byte[length];
      info.get(33, version);
      return Optional.of(new String(version, StandardCharsets.US_ASCII));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  private Optional<Symbol> symbol(String name) throws IOException {
    byte[] wanted = name.getBytes(StandardCharsets.US_ASCII);
    for (ByteBuffer[] table : symbolTables()) {
      Optional<Symbol> found = find(table[0], table[1], wanted);
      if (found.isPresent()) {
        return found;
      }
    }
    return Optional.empty();
  }

  /** Each symbol table (entries of 24 bytes) with its string table. */
  private List<ByteBuffer[]> symbolTables() throws IOException {
    if (symbolTables == null) {
      List<ByteBuffer[]> tables = new ArrayList<>();
      for (int i = 0; i < sectionCount; i++) {
        int at = i * sectionSize;
        int type = sections.getInt(at + 4);
        if ((type == SHT_DYNSYM || type == SHT_SYMTAB) && sections.getLong(at + 0x38) == SYMBOL_SIZE) {
          ByteBuffer names = sectionContents(sections.getInt(at + 0x28)); // sh_link: its string table
          tables.add(new ByteBuffer[] {read(sections.getLong(at + 0x18), sections.getLong(at + 0x20)), names});
        }
      }
      symbolTables = tables;
    }
    return symbolTables;
  }

  private int sectionNamed(String name) throws IOException {
    ByteBuffer header = read(0, 64);
    ByteBuffer names = sectionContents(Short.toUnsignedInt(header.getShort(0x3e))); // e_shstrndx
    byte[] wanted = name.getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < sectionCount; i++) {
      if (nameEquals(names, sections.getInt(i * sectionSize), wanted)) {
        return i;
      }
    }
    return -1;
  }

  private ByteBuffer sectionContents(int section) throws IOException {
    if (section < 0 || section >= sectionCount) {
      throw new IOException("no such section");
    }
    int at = section * sectionSize;
    return read(sections.getLong(at + 0x18), sections.getLong(at + 0x20));
  }

  /** A defined (not imported) symbol of that name. Elf64_Sym: name(4) info(1) other(1) shndx(2) value(8) size(8). */
  private static Optional<Symbol> find(ByteBuffer symbols, ByteBuffer names, byte[] wanted) {
    for (int at = 0; at + SYMBOL_SIZE <= symbols.limit(); at += SYMBOL_SIZE) {
      int nameAt = symbols.getInt(at);
      int section = Short.toUnsignedInt(symbols.getShort(at + 6));
      if (section != SHN_UNDEF && nameAt >= 0 && nameEquals(names, nameAt, wanted)) {
        return Optional.of(new Symbol(symbols.getLong(at + 8), symbols.getLong(at + 16), section));
      }
    }
    return Optional.empty();
  }

  private static boolean nameEquals(ByteBuffer names, int at, byte[] wanted) {
    if (at < 0 || at + wanted.length >= names.limit()) {
      return false;
    }
    for (int i = 0; i < wanted.length; i++) {
      if (names.get(at + i) != wanted[i]) {
        return false;
      }
    }
    return names.get(at + wanted.length) == 0;
  }

  private ByteBuffer read(long at, long length) throws IOException {
    if (at < 0 || length < 0 || length > MAX_TABLE_BYTES || at + length > elf.size()) {
      throw new IOException("not within the file");
    }
    ByteBuffer buffer = ByteBuffer.allocate((int) length).order(ByteOrder.LITTLE_ENDIAN);
    while (buffer.hasRemaining()) {
      if (elf.read(buffer, at + buffer.position()) < 0) {
        throw new IOException("cut short");
      }
    }
    return buffer.flip();
  }
}
