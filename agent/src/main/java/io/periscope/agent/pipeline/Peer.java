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
    return new Peer(tgid, comm, role, local, localPort, remote, remotePort, local.getHostAddress(),
        remote.getHostAddress());
  }

  static InetAddress address(byte[] sixteen) {
    try {
      return InetAddress.getByAddress(sixteen); // v4-mapped bytes yield an Inet4Address
    } catch (UnknownHostException e) {
      throw new AssertionError("16 bytes is a valid IPv6 address", e);
    }
  }
}
