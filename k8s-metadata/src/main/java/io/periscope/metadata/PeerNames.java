package io.periscope.metadata;

import java.net.InetAddress;
import org.jspecify.annotations.Nullable;

/**
 * The name of the other end of a connection, known from metadata rather than from DNS: in a
 * Kubernetes cluster, {@code <service>.<namespace>} for a Service's cluster IP, or the pod's name
 * for the IP of a pod on this node.
 *
 * <p>Called on the pipeline's hot path, from any thread: implementations answer from memory, never
 * block and never throw. Addresses are compared as addresses, so the text form an address was
 * written in does not matter; an IPv4-mapped IPv6 address is the IPv4 address.
 */
public interface PeerNames {

  /** Knows no names: outside Kubernetes, every peer is its address. */
  PeerNames NONE = address -> null;

  /** The peer's name, or null when this address names nothing known. */
  @Nullable String nameOf(InetAddress address);
}
