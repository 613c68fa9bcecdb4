package io.periscope.agent.pipeline;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Who is on a traced connection: the process that owns this end, and both endpoints. IPv4 arrives
 * from the kernel as v4-mapped IPv6 and is reported as IPv4.
 *
 * @param role whether this process serves the connection's requests or makes them
 * @param localHost  {@code localAddress} as text, formatted once per connection rather than per span
 * @param remoteHost {@code remoteAddress} as text
 */
public record Peer(int tgid, String comm, Role role, InetAddress localAddress, int localPort,
    InetAddress remoteAddress, int remotePort, String localHost, String remoteHost) {

  public enum Role { SERVER, CLIENT }

  static Peer of(int tgid, String comm, Role role, InetAddress local, int localPort, InetAddress remote,
      int remotePort) {
    return new Peer(tgid, comm, role, local, localPort, remote, remotePort, text(local), text(remote));
  }

  /** The same endpoints with this process in another role. */
  Peer withRole(Role other) {
    return new Peer(tgid, comm, other, localAddress, localPort, remoteAddress, remotePort, localHost, remoteHost);
  }

  /**
   * An address as text: IPv4 dotted, IPv6 in the RFC 5952 canonical form ({@code ::1}, not Java's
   * {@code 0:0:0:0:0:0:0:1}), so attributes match what other instrumentation reports.
   */
  static String text(InetAddress address) {
    byte[] bytes = address.getAddress();
    if (bytes.length == 4) {
      return address.getHostAddress();
    }
    int[] groups = new int[8];
    for (int i = 0; i < 8; i++) {
      groups[i] = ((bytes[2 * i] & 0xff) << 8) | (bytes[2 * i + 1] & 0xff);
    }
    // §4.2.3: the longest run of two or more zero groups (the first, on a tie) becomes "::".
    int bestStart = -1;
    int bestLength = 1;
    for (int i = 0; i < 8; ) {
      int j = i;
      while (j < 8 && groups[j] == 0) {
        j++;
      }
      if (j - i > bestLength) {
        bestStart = i;
        bestLength = j - i;
      }
      i = j == i ? i + 1 : j;
    }
    StringBuilder out = new StringBuilder(39);
    for (int i = 0; i < 8; i++) {
      if (i == bestStart) {
        out.append("::");
        i += bestLength - 1;
        continue;
      }
      if (out.length() > 0 && out.charAt(out.length() - 1) != ':') {
        out.append(':');
      }
      out.append(Integer.toHexString(groups[i])); // §4.1 and §4.3: no leading zeros, lowercase
    }
    return out.toString();
  }

  static InetAddress address(byte[] sixteen) {
    try {
      return InetAddress.getByAddress(sixteen); // v4-mapped bytes yield an Inet4Address
    } catch (UnknownHostException e) {
      throw new AssertionError("16 bytes is a valid IPv6 address", e);
    }
  }
}
