package io.periscope.bpf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Whether an ELF file defines a function in its symbol tables ({@code .dynsym}, or {@code .symtab}
 * where it was not stripped): how an executable that carries its own TLS library (a statically
 * linked OpenSSL or BoringSSL) is told from one that does not, without asking libbpf to attach to
 * every executable. Reads only the ELF and section headers and the symbol tables with their string
 * tables; anything that is not a 64-bit little-endian ELF file, or is cut short, defines nothing.
 */
final class ElfSymbols {
  private static final int SHT_SYMTAB = 2;
  private static final int SHT_DYNSYM = 11;
  private static final int SHN_UNDEF = 0;
  /** Symbol tables read at most: node's is about 3 MiB; a larger one is not a program we probe. */
  private static final long MAX_TABLE_BYTES = 64L << 20;

  private ElfSymbols() {}

  static boolean definesFunction(Path file, String name) {
    try (FileChannel elf = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer header = read(elf, 0, 64);
      // \x7fELF, 64-bit (class 2), little-endian (data 1)
      if (header.getInt(0) != 0x464c457f || header.get(4) != 2 || header.get(5) != 1) {
        return false;
      }
      long sectionsAt = header.getLong(0x28);
      int sectionSize = Short.toUnsignedInt(header.getShort(0x3a));
      int sections = Short.toUnsignedInt(header.getShort(0x3c));
      if (sectionSize < 64 || sections == 0) {
        return false;
      }
      ByteBuffer table = read(elf, sectionsAt, (long) sectionSize * sections);
      for (int i = 0; i < sections; i++) {
        int at = i * sectionSize;
        int type = table.getInt(at + 4);
        if (type != SHT_DYNSYM && type != SHT_SYMTAB) {
          continue;
        }
        int strings = table.getInt(at + 0x28); // sh_link: the string table's section
        if (strings < 0 || strings >= sections) {
          return false;
        }
        int stringsAt = strings * sectionSize;
        ByteBuffer names = read(elf, table.getLong(stringsAt + 0x18), table.getLong(stringsAt + 0x20));
        ByteBuffer symbols = read(elf, table.getLong(at + 0x18), table.getLong(at + 0x20));
        long entry = table.getLong(at + 0x38);
        if (entry >= 24 && defines(symbols, (int) entry, names, name.getBytes(StandardCharsets.US_ASCII))) {
          return true;
        }
      }
      return false;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** A defined (not imported) symbol of that name. Elf64_Sym: name(4) info(1) other(1) shndx(2) value(8) size(8). */
  private static boolean defines(ByteBuffer symbols, int entry, ByteBuffer names, byte[] wanted) {
    for (int at = 0; at + entry <= symbols.limit(); at += entry) {
      int nameAt = symbols.getInt(at);
      int section = Short.toUnsignedInt(symbols.getShort(at + 6));
      if (section != SHN_UNDEF && nameAt >= 0 && nameEquals(names, nameAt, wanted)) {
        return true;
      }
    }
    return false;
  }

  private static boolean nameEquals(ByteBuffer names, int at, byte[] wanted) {
    if (at + wanted.length >= names.limit()) {
      return false;
    }
    for (int i = 0; i < wanted.length; i++) {
      if (names.get(at + i) != wanted[i]) {
        return false;
      }
    }
    return names.get(at + wanted.length) == 0;
  }

  private static ByteBuffer read(FileChannel elf, long at, long length) throws IOException {
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
