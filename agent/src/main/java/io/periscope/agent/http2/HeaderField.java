package io.periscope.agent.http2;

import java.nio.charset.StandardCharsets;

/**
 * The HTTP/2 header fields tracing keeps, by name. Every other field is {@link #OTHER}: decoded far
 * enough to keep the compression state right, and its value never kept (credentials among them).
 */
public enum HeaderField {
  OTHER(null),
  METHOD(":method"),
  PATH(":path"),
  AUTHORITY(":authority"),
  SCHEME(":scheme"),
  STATUS(":status"),
  HOST("host"),
  CONTENT_TYPE("content-type"),
  USER_AGENT("user-agent"),
  TRACEPARENT("traceparent"),
  TRACESTATE("tracestate"),
  GRPC_STATUS("grpc-status"),
  GRPC_MESSAGE("grpc-message");

  private static final HeaderField[] VALUES = values();
  private final byte[] name;

  HeaderField(String name) {
    this.name = name == null ? new byte[0] : name.getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * The field with this name (HTTP/2 names are lowercase, RFC 9113 §8.2.1: a name with uppercase
   * letters is malformed and is not recognised).
   */
  static HeaderField named(byte[] bytes, int offset, int length) {
    for (int i = 1; i < VALUES.length; i++) {
      byte[] candidate = VALUES[i].name;
      if (candidate.length == length && java.util.Arrays.equals(candidate, 0, length, bytes, offset, offset + length)) {
        return VALUES[i];
      }
    }
    return OTHER;
  }

  static HeaderField named(String name) {
    byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
    return named(bytes, 0, bytes.length);
  }

  boolean kept() {
    return this != OTHER;
  }
}
