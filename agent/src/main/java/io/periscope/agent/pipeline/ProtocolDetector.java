package io.periscope.agent.pipeline;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Guesses a connection's protocol from the first bytes seen in one direction: cheap checks of
 * the first few bytes only, before any parser runs.
 */
final class ProtocolDetector {
  enum Guess { HTTP1_REQUEST, HTTP1_RESPONSE, HTTP2_PREFACE, UNKNOWN }

  private static final byte[] HTTP2_PREFACE = "PRI * HTTP/2.0\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] STATUS_LINE = "HTTP/1.".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final String[] METHODS = {
    "GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
    "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ", "SEARCH ", "REPORT ",
  };

  private ProtocolDetector() {}

  static Guess detect(MemorySegment data, long offset, int length) {
    if (startsWith(data, offset, length, HTTP2_PREFACE)) {
      return Guess.HTTP2_PREFACE;
    }
    if (startsWith(data, offset, length, STATUS_LINE)) {
      return Guess.HTTP1_RESPONSE;
    }
    for (String method : METHODS) {
      if (startsWith(data, offset, length, method)) {
        return Guess.HTTP1_REQUEST;
      }
    }
    return Guess.UNKNOWN;
  }

  private static boolean startsWith(MemorySegment data, long offset, int length, byte[] prefix) {
    if (length < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (data.get(ValueLayout.JAVA_BYTE, offset + i) != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static boolean startsWith(MemorySegment data, long offset, int length, String prefix) {
    if (length < prefix.length()) {
      return false;
    }
    for (int i = 0; i < prefix.length(); i++) {
      if (data.get(ValueLayout.JAVA_BYTE, offset + i) != prefix.charAt(i)) {
        return false;
      }
    }
    return true;
  }
}
