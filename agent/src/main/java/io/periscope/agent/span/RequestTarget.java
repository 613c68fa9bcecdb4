package io.periscope.agent.span;

import org.jspecify.annotations.Nullable;

/**
 * The parts of a request target (RFC 9112 §3.2): origin-form {@code /path?query}, absolute-form
 * {@code http://host/path} (requests to proxies), authority-form {@code host:port} (CONNECT) and
 * asterisk-form {@code *}. A fragment is never sent, but is dropped if a client sends one anyway.
 */
record RequestTarget(@Nullable String scheme, @Nullable String authority, @Nullable String path,
    @Nullable String query) {

  static RequestTarget parse(@Nullable String target) {
    if (target == null || target.isEmpty() || target.equals("*")) {
      return new RequestTarget(null, null, null, null);
    }
    String scheme = null;
    String authority = null;
    String rest = target;
    int schemeEnd = target.indexOf("://");
    if (target.charAt(0) != '/' && schemeEnd > 0) {
      scheme = target.substring(0, schemeEnd).toLowerCase(java.util.Locale.ROOT);
      int pathStart = firstOf(target, schemeEnd + 3, "/?#");
      authority = target.substring(schemeEnd + 3, pathStart);
      rest = target.substring(pathStart);
    } else if (target.charAt(0) != '/') {
      return new RequestTarget(null, target, null, null); // authority-form
    }
    int fragment = rest.indexOf('#');
    if (fragment >= 0) {
      rest = rest.substring(0, fragment);
    }
    int q = rest.indexOf('?');
    String path = q < 0 ? rest : rest.substring(0, q);
    String query = q < 0 ? null : rest.substring(q + 1);
    return new RequestTarget(scheme, authority, path.isEmpty() ? "/" : path, query);
  }

  private static int firstOf(String s, int from, String chars) {
    for (int i = from; i < s.length(); i++) {
      if (chars.indexOf(s.charAt(i)) >= 0) {
        return i;
      }
    }
    return s.length();
  }
}
