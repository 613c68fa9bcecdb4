package io.periscope.bpf;

import java.util.Arrays;

/**
 * Where an x86-64 function returns: the offsets of its {@code RET} instructions, found by decoding
 * the instructions' lengths from the function's first byte (a {@code 0xc3} byte inside another
 * instruction's operands is not a return). Go functions need this: a uretprobe rewrites the return
 * address on the stack, and Go moves goroutine stacks, so a Go function's return is probed with a
 * uprobe on each {@code RET} instead.
 *
 * <p>Lengths only, not meanings: legacy prefixes, REX, the one-, two- and three-byte opcode maps,
 * VEX and EVEX, ModRM, SIB, displacements and immediates. Code it cannot decode (an opcode invalid
 * in 64-bit mode, or one running past the end) gives no offsets at all: a return probe missed would
 * leave a call open for ever, and one on a wrong byte would corrupt the program.
 */
final class X86Returns {
  private static final byte RET = (byte) 0xc3;

  private X86Returns() {}

  /** The offsets of the RET instructions in the function's code; empty if it does not decode. */
  static int[] offsets(byte[] code) {
    int[] found = new int[8];
    int count = 0;
    int at = 0;
    while (at < code.length) {
      int length = length(code, at);
      if (length <= 0 || at + length > code.length) {
        return new int[0];
      }
      if (code[at + length - 1] == RET && onlyPrefixes(code, at, length - 1)) {
        if (count == found.length) {
          found = Arrays.copyOf(found, count * 2);
        }
        found[count++] = at;
      }
      at += length;
    }
    return Arrays.copyOf(found, count);
  }

  /** A RET may carry prefixes ({@code rep ret}, as older compilers emit it). */
  private static boolean onlyPrefixes(byte[] code, int at, int count) {
    for (int i = at; i < at + count; i++) {
      if (!isLegacyPrefix(code[i] & 0xff)) {
        return false;
      }
    }
    return true;
  }

  /** The length of the instruction at {@code start}, or -1 when it is not one we decode. */
  static int length(byte[] code, int start) {
    int at = start;
    boolean operandSize16 = false;
    boolean rexW = false;
    // Legacy prefixes, any number, in any order.
    while (at < code.length && isLegacyPrefix(code[at] & 0xff)) {
      operandSize16 |= (code[at] & 0xff) == 0x66;
      at++;
    }
    if (at < code.length && (code[at] & 0xf0) == 0x40) {
      rexW = (code[at] & 0x08) != 0;
      at++;
    }
    if (at >= code.length) {
      return -1;
    }
    int opcode = code[at++] & 0xff;
    int rest;
    switch (opcode) {
      case 0xc4, 0xc5 -> { // VEX: its payload names the map; every VEX instruction has ModRM
        int map = opcode == 0xc5 ? 1 : (at < code.length ? code[at] & 0x1f : -1);
        at += opcode == 0xc5 ? 1 : 2;
        rest = mapped(code, at, map);
      }
      case 0x62 -> { // EVEX: four bytes, the map in the first payload byte's low bits
        int map = at < code.length ? code[at] & 0x07 : -1;
        at += 3;
        rest = mapped(code, at, map);
      }
      case 0x0f -> {
        if (at >= code.length) {
          return -1;
        }
        int second = code[at++] & 0xff;
        if (second == 0x38 || second == 0x3a) {
          rest = mapped(code, at, second == 0x38 ? 2 : 3);
        } else {
          rest = twoByte(code, at - 1, operandSize16);
        }
      }
      default -> rest = oneByte(code, at - 1, operandSize16, rexW);
    }
    return rest < 0 ? -1 : at - start + rest;
  }

  private static boolean isLegacyPrefix(int b) {
    return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e
        || b == 0x26 || b == 0x64 || b == 0x65;
  }

  /**
   * The bytes after the opcode of an instruction of the one-byte map, whose opcode is at
   * {@code op}: ModRM and what it brings, and the immediate.
   */
  private static int oneByte(byte[] code, int op, boolean operandSize16, boolean rexW) {
    int opcode = code[op] & 0xff;
    int immediate32 = operandSize16 ? 2 : 4;
    if (opcode < 0x40 && (opcode & 0x07) < 4) {
      return modrm(code, op + 1, 0); // ALU ops: add, or, adc, sbb, and, sub, xor, cmp with ModRM
    }
    if (opcode < 0x40) {
      return switch (opcode & 0x07) {
        case 4 -> 1; // al, imm8
        case 5 -> immediate32; // eax, imm32
        default -> -1; // push/pop of segment registers, daa...: invalid in 64-bit mode
      };
    }
    if (opcode >= 0x50 && opcode <= 0x5f) {
      return 0;
    }
    if (opcode >= 0x70 && opcode <= 0x7f) {
      return 1; // jcc rel8
    }
    if (opcode >= 0x84 && opcode <= 0x8f) {
      return modrm(code, op + 1, 0); // test, xchg, mov, lea, pop r/m
    }
    if (opcode >= 0x90 && opcode <= 0x9f) {
      return opcode == 0x9a ? -1 : 0;
    }
    if (opcode >= 0xb0 && opcode <= 0xb7) {
      return 1;
    }
    if (opcode >= 0xb8 && opcode <= 0xbf) {
      return rexW ? 8 : immediate32;
    }
    if (opcode >= 0xd8 && opcode <= 0xdf) {
      return modrm(code, op + 1, 0); // x87
    }
    return switch (opcode) {
      case 0x63, 0xd0, 0xd1, 0xd2, 0xd3, 0xfe, 0xff -> modrm(code, op + 1, 0);
      case 0x69, 0x81, 0xc7 -> modrm(code, op + 1, immediate32);
      case 0x6b, 0x80, 0x83, 0xc0, 0xc1, 0xc6 -> modrm(code, op + 1, 1);
      case 0x68 -> immediate32;
      case 0x6a, 0xa8, 0xcd, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xeb -> 1;
      case 0xa9 -> immediate32;
      case 0xa0, 0xa1, 0xa2, 0xa3 -> 8; // mov with a 64-bit absolute address
      case 0xc2, 0xca -> 2;
      case 0xc8 -> 3;
      case 0xe8, 0xe9 -> 4; // call, jmp rel32
      case 0xf6 -> group3(code, op + 1, 1);
      case 0xf7 -> group3(code, op + 1, immediate32);
      case 0x6c, 0x6d, 0x6e, 0x6f, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xc3, 0xc9, 0xcb,
          0xcc, 0xcf, 0xd7, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf4, 0xf5, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd -> 0;
      default -> -1;
    };
  }

  /** test r/m, imm (reg 0 and 1) takes an immediate; not, neg, mul, imul, div, idiv do not. */
  private static int group3(byte[] code, int modrmAt, int immediate) {
    if (modrmAt >= code.length) {
      return -1;
    }
    int reg = (code[modrmAt] >> 3) & 0x07;
    return modrm(code, modrmAt, reg < 2 ? immediate : 0);
  }

  /** The two-byte map (0x0f xx), its second byte at {@code op}. */
  private static int twoByte(byte[] code, int op, boolean operandSize16) {
    int opcode = code[op] & 0xff;
    if (opcode >= 0x80 && opcode <= 0x8f) {
      return 4; // jcc rel32
    }
    if (opcode >= 0xc8 && opcode <= 0xcf) {
      return 0; // bswap
    }
    return switch (opcode) {
      case 0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xa0, 0xa1, 0xa2,
          0xa8, 0xa9, 0xaa -> 0;
      case 0x04, 0x0a, 0x0c, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0xff -> -1;
      default -> modrm(code, op + 1, hasImmediate8(opcode) ? 1 : 0);
    };
  }

  /** Two-byte-map opcodes with ModRM and an 8-bit immediate (pshufd and shifts by immediate, shld/shrd, bt, cmpps...). */
  private static boolean hasImmediate8(int opcode) {
    return (opcode >= 0x70 && opcode <= 0x73) || opcode == 0x0f || opcode == 0xa4 || opcode == 0xac || opcode == 0xba
        || opcode == 0xc2 || opcode == 0xc4 || opcode == 0xc5 || opcode == 0xc6;
  }

  /**
   * An instruction of the given map (1: 0x0f, 2: 0x0f38, 3: 0x0f3a) whose opcode is at {@code op},
   * as VEX, EVEX and the three-byte maps encode them: ModRM always (but for vzeroupper and
   * vzeroall), an 8-bit immediate in map 3 and where the two-byte map has one.
   */
  private static int mapped(byte[] code, int op, int map) {
    if (op >= code.length) {
      return -1;
    }
    int opcode = code[op] & 0xff;
    return switch (map) {
      case 1 -> opcode == 0x77 ? 1 : 1 + modrm(code, op + 1, hasImmediate8(opcode) ? 1 : 0);
      case 2 -> 1 + modrm(code, op + 1, 0);
      case 3 -> 1 + modrm(code, op + 1, 1);
      default -> -1;
    };
  }

  /**
   * ModRM at {@code at} and what it brings (SIB, displacement), then {@code immediate} bytes: their
   * total length, or a negative number past the end of the code.
   */
  private static int modrm(byte[] code, int at, int immediate) {
    if (at >= code.length) {
      return -1_000;
    }
    int modrm = code[at] & 0xff;
    int mod = modrm >> 6;
    int rm = modrm & 0x07;
    int length = 1;
    if (mod != 3 && rm == 4) {
      if (at + 1 >= code.length) {
        return -1_000;
      }
      length++;
      if (mod == 0 && (code[at + 1] & 0x07) == 5) {
        length += 4; // SIB with no base: disp32
      }
    }
    if (mod == 0 && rm == 5) {
      length += 4; // rip-relative
    } else if (mod == 1) {
      length += 1;
    } else if (mod == 2) {
      length += 4;
    }
    return length + immediate;
  }
}
