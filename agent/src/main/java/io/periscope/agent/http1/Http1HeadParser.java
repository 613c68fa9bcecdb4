package io.periscope.agent.http1;

import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * Parses one complete HTTP/1.x message head (start line, header fields, the empty line) from a
 * buffer (RFC 9112 §2-§5). Strict where framing depends on it (Content-Length, Transfer-Encoding,
 * the start line); lenient elsewhere, like the servers whose traffic it reads.
 *
 * <p>One per parser, so per connection and direction: it remembers the {@code Host} and
 * {@code User-Agent} it last read, which a connection repeats on every request, and gives the
 * same string again while the bytes are the same (a string per field per request was a fifth of
 * the pipeline's garbage). Standard methods are their constants.
 */
final class Http1HeadParser {
  private static final int MAX_METHOD_LENGTH = 32;
  /** RFC 9110 §9.3 and RFC 5789 (PATCH): methods are case-sensitive, so these are exact. */
  private static final String[] METHODS = {
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
  };

  private @Nullable String error;
  private @Nullable String lastHost;
  private @Nullable String lastUserAgent;

  /** Why the last parse found no head. */
  @Nullable String error() {
    return error;
  }

  /** The request head, or null when there is none (see {@link #error()}). */
  @Nullable Http1Head parseRequest(byte[] buf, int length) {
    int lineEnd = lineEnd(buf, 0, length);
    int sp1 = indexOf(buf, (byte) ' ', 0, lineEnd);
    if (sp1 <= 0 || sp1 > MAX_METHOD_LENGTH || !isToken(buf, 0, sp1)) {
      return error("not an HTTP/1 request line");
    }
    int sp2 = lastIndexOf(buf, (byte) ' ', sp1 + 1, lineEnd);
    if (sp2 <= sp1 + 1) {
      return error("request line without a target or version");
    }
    int minor = version(buf, sp2 + 1, lineEnd);
    if (minor < 0) {
      return error("unsupported HTTP version in request line");
    }
    for (int i = sp1 + 1; i < sp2; i++) {
      if (buf[i] <= ' ' || buf[i] == 0x7f) {
        return error("invalid character in request target");
      }
    }
    String method = method(buf, sp1);
    String target = ascii(buf, sp1 + 1, sp2);
    return fields(buf, length, nextLine(buf, lineEnd, length), method, target, 0, minor);
  }

  /** The response head, or null when there is none (see {@link #error()}). */
  @Nullable Http1Head parseResponse(byte[] buf, int length) {
    int lineEnd = lineEnd(buf, 0, length);
    int sp = indexOf(buf, (byte) ' ', 0, lineEnd);
    if (sp < 0) {
      return error("not an HTTP/1 status line");
    }
    int minor = version(buf, 0, sp);
    if (minor < 0) {
      return error("not an HTTP/1 status line");
    }
    if (lineEnd - sp < 4 || !isDigit(buf[sp + 1]) || !isDigit(buf[sp + 2]) || !isDigit(buf[sp + 3])
        || (lineEnd - sp > 4 && buf[sp + 4] != ' ')) {
      return error("status line without a three-digit status code");
    }
    int status = (buf[sp + 1] - '0') * 100 + (buf[sp + 2] - '0') * 10 + (buf[sp + 3] - '0');
    if (status < 100) {
      return error("status code below 100");
    }
    return fields(buf, length, nextLine(buf, lineEnd, length), null, null, status, minor);
  }

  private @Nullable Http1Head error(String reason) {
    error = reason;
    return null;
  }

  private @Nullable Http1Head fields(byte[] buf, int length, int pos, @Nullable String method,
      @Nullable String target, int status, int minor) {
    long contentLength = -1;
    boolean chunked = false;
    boolean otherEncoding = false;
    boolean close = minor == 0;
    String host = null;
    String userAgent = null;
    String traceparent = null;
    String tracestate = null;
    String upgrade = null;
    while (pos < length) {
      int lineEnd = lineEnd(buf, pos, length);
      if (lineEnd == pos) {
        break; // the empty line that ends the head
      }
      if (buf[pos] == ' ' || buf[pos] == '\t') {
        return error("obsolete line folding in header field"); // §5.2: reject
      }
      int colon = indexOf(buf, (byte) ':', pos, lineEnd);
      if (colon <= pos || !isToken(buf, pos, colon)) {
        return error("malformed header field");
      }
      int valueStart = colon + 1;
      int valueEnd = lineEnd;
      while (valueStart < valueEnd && isWhitespace(buf[valueStart])) {
        valueStart++;
      }
      while (valueEnd > valueStart && isWhitespace(buf[valueEnd - 1])) {
        valueEnd--;
      }
      int nameLength = colon - pos;
      if (is(buf, pos, nameLength, "content-length")) {
        long value = contentLength(buf, valueStart, valueEnd);
        if (value < 0 || (contentLength >= 0 && contentLength != value)) {
          return error("invalid Content-Length");
        }
        contentLength = value;
      } else if (is(buf, pos, nameLength, "transfer-encoding")) {
        // The final coding decides (§6.3 rule 4); a later field appends to an earlier one.
        chunked = endsWithToken(buf, valueStart, valueEnd, "chunked");
        otherEncoding = !chunked;
      } else if (is(buf, pos, nameLength, "connection")) {
        if (containsToken(buf, valueStart, valueEnd, "close")) {
          close = true;
        } else if (containsToken(buf, valueStart, valueEnd, "keep-alive")) {
          close = false;
        }
      } else if (is(buf, pos, nameLength, "host")) {
        host = same(buf, valueStart, valueEnd, lastHost);
        lastHost = host;
      } else if (is(buf, pos, nameLength, "user-agent")) {
        userAgent = same(buf, valueStart, valueEnd, lastUserAgent);
        lastUserAgent = userAgent;
      } else if (is(buf, pos, nameLength, "traceparent")) {
        traceparent = ascii(buf, valueStart, valueEnd);
      } else if (is(buf, pos, nameLength, "tracestate")) {
        tracestate = ascii(buf, valueStart, valueEnd);
      } else if (is(buf, pos, nameLength, "upgrade")) {
        upgrade = ascii(buf, valueStart, valueEnd);
      }
      pos = nextLine(buf, lineEnd, length);
    }
    if (chunked || otherEncoding) {
      contentLength = -1; // §6.3 rule 3: Transfer-Encoding overrides Content-Length
    }
    error = null;
    return new Http1Head(method, target, status, minor, contentLength, chunked, otherEncoding, close,
        host, userAgent, traceparent, tracestate, upgrade);
  }

  /** The method at the start of the line, a constant when it is a standard one. */
  private static String method(byte[] buf, int length) {
    for (String known : METHODS) {
      if (matches(buf, 0, length, known)) {
        return known;
      }
    }
    return ascii(buf, 0, length);
  }

  /** The text at [from, to): {@code last} itself when it is that text. */
  private static String same(byte[] buf, int from, int to, @Nullable String last) {
    return last != null && matches(buf, from, to - from, last) ? last : ascii(buf, from, to);
  }

  /** Whether the bytes are exactly this text (ISO-8859-1, as {@link #ascii} decodes them). */
  private static boolean matches(byte[] buf, int from, int length, String text) {
    if (text.length() != length) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      if ((buf[from + i] & 0xff) != text.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** "HTTP/1.x" at [from, to): returns x, or -1. */
  private static int version(byte[] buf, int from, int to) {
    if (to - from != 8 || buf[from] != 'H' || buf[from + 1] != 'T' || buf[from + 2] != 'T' || buf[from + 3] != 'P'
        || buf[from + 4] != '/' || buf[from + 5] != '1' || buf[from + 6] != '.' || !isDigit(buf[from + 7])) {
      return -1;
    }
    return buf[from + 7] - '0';
  }

  /** A list of equal decimal values ("42" or "42, 42"), or -1 when invalid. */
  private static long contentLength(byte[] buf, int from, int to) {
    long result = -1;
    long value = -1;
    for (int i = from; i <= to; i++) {
      if (i == to || buf[i] == ',') {
        if (value < 0 || (result >= 0 && result != value)) {
          return -1;
        }
        result = value;
        value = -1;
      } else if (isDigit(buf[i])) {
        value = (value < 0 ? 0 : value * 10) + (buf[i] - '0');
        if (value > 1L << 50) {
          return -1;
        }
      } else if (!isWhitespace(buf[i])) {
        return -1;
      }
    }
    return result;
  }

  private static boolean containsToken(byte[] buf, int from, int to, String token) {
    int start = from;
    for (int i = from; i <= to; i++) {
      if (i == to || buf[i] == ',') {
        int s = start;
        int e = i;
        while (s < e && isWhitespace(buf[s])) {
          s++;
        }
        while (e > s && isWhitespace(buf[e - 1])) {
          e--;
        }
        if (is(buf, s, e - s, token)) {
          return true;
        }
        start = i + 1;
      }
    }
    return false;
  }

  private static boolean endsWithToken(byte[] buf, int from, int to, String token) {
    int start = from;
    for (int i = to - 1; i >= from; i--) {
      if (buf[i] == ',') {
        start = i + 1;
        break;
      }
    }
    while (start < to && isWhitespace(buf[start])) {
      start++;
    }
    return is(buf, start, to - start, token);
  }

  /** Case-insensitive comparison with a lowercase ASCII name. */
  private static boolean is(byte[] buf, int from, int length, String lowercase) {
    if (length != lowercase.length()) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      int b = buf[from + i];
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != lowercase.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** The end of the line starting at from: the index of its CR LF or LF. */
  private static int lineEnd(byte[] buf, int from, int length) {
    int lf = indexOf(buf, (byte) '\n', from, length);
    if (lf < 0) {
      return length;
    }
    return lf > from && buf[lf - 1] == '\r' ? lf - 1 : lf;
  }

  private static int nextLine(byte[] buf, int lineEnd, int length) {
    int i = lineEnd;
    if (i < length && buf[i] == '\r') {
      i++;
    }
    return i < length ? i + 1 : length;
  }

  private static int indexOf(byte[] buf, byte b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (buf[i] == b) {
        return i;
      }
    }
    return -1;
  }

  private static int lastIndexOf(byte[] buf, byte b, int from, int to) {
    for (int i = to - 1; i >= from; i--) {
      if (buf[i] == b) {
        return i;
      }
    }
    return -1;
  }

  /** RFC 9110 §5.6.2 tchar, as a table: every header name is checked, so this is on the hot path. */
  private static final boolean[] TCHAR = new boolean[256];

  static {
    for (int c = 0; c < 128; c++) {
      TCHAR[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }
  }

  private static boolean isToken(byte[] buf, int from, int to) {
    for (int i = from; i < to; i++) {
      if (!TCHAR[buf[i] & 0xff]) {
        return false;
      }
    }
    return true;
  }

  private static boolean isDigit(byte b) {
    return b >= '0' && b <= '9';
  }

  private static boolean isWhitespace(byte b) {
    return b == ' ' || b == '\t';
  }

  private static String ascii(byte[] buf, int from, int to) {
    return new String(buf, from, to - from, StandardCharsets.ISO_8859_1);
  }
}
