package io.periscope.agent.span;

import org.jspecify.annotations.Nullable;

/** A Host header or authority: {@code name}, {@code name:port}, {@code [v6]} or {@code [v6]:port}; port 0 when absent. */
record HostAndPort(String host, int port) {

  static @Nullable HostAndPort parse(String authority) {
    String value = authority.strip();
    int at = value.lastIndexOf('@');
    if (at >= 0) {
      value = value.substring(at + 1); // never report userinfo
    }
    if (value.isEmpty()) {
      return null;
    }
    String host;
    String port = null;
    if (value.charAt(0) == '[') {
      int close = value.indexOf(']');
      if (close < 0) {
        return null;
      }
      host = value.substring(1, close);
      if (close + 1 < value.length() && value.charAt(close + 1) == ':') {
        port = value.substring(close + 2);
      }
    } else {
      int colon = value.lastIndexOf(':');
      host = colon < 0 ? value : value.substring(0, colon);
      port = colon < 0 ? null : value.substring(colon + 1);
    }
    if (host.isEmpty()) {
      return null;
    }
    int number = 0;
    if (port != null && !port.isEmpty()) {
      if (port.length() > 5 || !port.chars().allMatch(Character::isDigit)) {
        return null;
      }
      number = Integer.parseInt(port);
      if (number > 65535) {
        return null;
      }
    }
    return new HostAndPort(host, number);
  }
}
