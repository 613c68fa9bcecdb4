package io.periscope.agent.span;

import org.jspecify.annotations.Nullable;

/**
 * The authorities (Host headers, {@code :authority}) requests name, each parsed once while it
 * recurs: a service is asked for by the same few names, and parsing one per span cost a host
 * substring and a record. Direct-mapped by hash, so bounded; a collision only costs a parse. A
 * result is immutable, so an equal authority may share it. One per span factory, on the pipeline thread.
 */
final class Authorities {
  private static final int SIZE = 256;

  private final String[] authorities = new String[SIZE];
  private final HostAndPort[] parsed = new HostAndPort[SIZE];

  /** What {@link HostAndPort#parse} says of it. */
  @Nullable HostAndPort parse(String authority) {
    int index = authority.hashCode() & (SIZE - 1);
    String seen = authorities[index];
    if (seen != null && (seen == authority || seen.equals(authority))) {
      return parsed[index];
    }
    HostAndPort host = HostAndPort.parse(authority);
    if (host != null) {
      authorities[index] = authority;
      parsed[index] = host;
    }
    return host;
  }
}
