package io.periscope.metadata.k8s;

import java.net.InetAddress;
import org.jspecify.annotations.Nullable;

/** IP addresses as the API server writes them ({@code 10.96.0.10}, {@code fd00:10:96::a}), parsed without DNS. */
final class IpLiterals {

  private IpLiterals() {}

  /** The address, or null for anything that is not an IP literal ({@code None} for a headless Service, blank). */
  static @Nullable InetAddress parse(@Nullable String text) {
    if (text == null || text.isBlank()) {
      return null;
    }
    try {
      // ofLiteral never resolves a name, and turns an IPv4-mapped IPv6 literal into the IPv4 address.
      return InetAddress.ofLiteral(text.strip());
    } catch (IllegalArgumentException notAnAddress) {
      return null;
    }
  }
}
