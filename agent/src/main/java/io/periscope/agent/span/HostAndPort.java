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
    int portStart; // the port's digits run from here to the end; none when it is the end
    if (value.charAt(0) == '[') {
      int close = value.indexOf(']');
      if (close < 0) {
        return null;
      }
      host = value.substring(1, close);
      portStart = close + 1 < value.length() && value.charAt(close + 1) == ':' ? close + 2 : value.length();
    } else {
      int colon = value.lastIndexOf(':');
      host = colon < 0 ? value : value.substring(0, colon);
      portStart = colon < 0 ? value.length() : colon + 1;
    }
    if (host.isEmpty()) {
      return null;
    }
    int number = port(value, portStart);
    if (number < 0) {
      return null;
    }
    return new HostAndPort(host, number);
  }

  /**
   * The decimal port from {@code from} to the end (0 when empty), or -1 when it is not one. Read in
   * place: a substring and a stream per span were a tenth of the span factory's garbage.
   */
  private static int port(String value, int from) {
    int length = value.length() - from;
    if (length > 5) {
      return -1;
    }
    int number = 0;
    for (int i = from; i < value.length(); i++) {
      int digit = Character.digit(value.charAt(i), 10); // as Integer.parseInt reads digits
      if (digit < 0) {
        return -1;
      }
      number = number * 10 + digit;
    }
    return number > 65535 ? -1 : number;
  }
}
