package io.periscope.bpf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 */
final class ElfSymbols {
  private static final int SHT_SYMTAB = 2;
  private static final int SHT_DYNSYM = 11;
  private static final int SHN_UNDEF = 0;
  /** Tables and functions read at most: node's symbol table is about 3 MiB; a larger one is not a program we probe. */
  private static final long MAX_TABLE_BYTES = 64L << 20;
  private static final byte[] GO_BUILDINFO_MAGIC = "\u00ff Go buildinf:".getBytes(StandardCharsets.ISO_8859_1);

  /** A defined symbol: its address, its size, and the section it is in. */
  private record Symbol(long value, long size, int section) {}

  private final FileChannel elf;
  private final ByteBuffer sections;
  private final int sectionSize;
  private final int sectionCount;

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

  static boolean definesFunction(Path file, String name) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ElfSymbols elf = new ElfSymbols(channel);
      return elf.symbol(name).isPresent() || elf.goFunction(name).isPresent();
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** A function's machine code, and where it starts in the file (what a uprobe at an offset needs). */
  record Function(long fileOffset, byte[] code) {}

  /**
   * The machine code of a defined function, as its symbol's address and size say, or, in a Go
   * program stripped of its symbol table, as Go's own function table ({@code .gopclntab}) says;
   * empty if there is none.
   */
  static Optional<Function> function(Path file, String name) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ElfSymbols elf = new ElfSymbols(channel);
      Optional<Symbol> symbol = elf.symbol(name);
      if (symbol.isEmpty()) {
        symbol = elf.goFunction(name);
      }
      if (symbol.isEmpty() || symbol.get().size() == 0 || symbol.get().size() > MAX_TABLE_BYTES) {
        return Optional.empty();
      }
      long offset = elf.fileOffset(symbol.get().value());
      ByteBuffer code = elf.read(offset, symbol.get().size());
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
    int section = sectionNamed(".gopclntab");
    if (section < 0) {
      return Optional.empty();
    }
    ByteBuffer table = sectionContents(section);
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
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ElfSymbols symbols = new ElfSymbols(channel);
      int section = symbols.sectionNamed(".go.buildinfo");
      if (section < 0) {
        return Optional.empty();
      }
      int at = section * symbols.sectionSize;
      ByteBuffer info = symbols.read(symbols.sections.getLong(at + 0x18),
          Math.min(symbols.sections.getLong(at + 0x20), 4096));
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
    for (int i = 0; i < sectionCount; i++) {
      int at = i * sectionSize;
      int type = sections.getInt(at + 4);
      if (type != SHT_DYNSYM && type != SHT_SYMTAB) {
        continue;
      }
      ByteBuffer names = sectionContents(sections.getInt(at + 0x28)); // sh_link: its string table
      ByteBuffer symbols = read(sections.getLong(at + 0x18), sections.getLong(at + 0x20));
      long entry = sections.getLong(at + 0x38);
      if (entry >= 24) {
        Optional<Symbol> found = find(symbols, (int) entry, names, wanted);
        if (found.isPresent()) {
          return found;
        }
      }
    }
    return Optional.empty();
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
  private static Optional<Symbol> find(ByteBuffer symbols, int entry, ByteBuffer names, byte[] wanted) {
    for (int at = 0; at + entry <= symbols.limit(); at += entry) {
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
