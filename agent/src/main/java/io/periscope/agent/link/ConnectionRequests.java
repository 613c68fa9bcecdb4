package io.periscope.agent.link;

import io.periscope.agent.pipeline.Peer;
import java.util.IdentityHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The requests in flight on each connection (the pipeline's one {@link Peer} per connection, by
 * identity), in the order they started: a list through the nodes, so a request costs no list of
 * its own. A connection with none in flight has no entry.
 */
final class ConnectionRequests {
  private final IdentityHashMap<Peer, RequestNode> first = new IdentityHashMap<>();

  void add(RequestNode node) {
    RequestNode head = first.get(node.peer);
    node.nextOnConnection = null;
    if (head == null) {
      node.previousOnConnection = node;
      first.put(node.peer, node);
    } else {
      RequestNode last = head.previousOnConnection;
      last.nextOnConnection = node;
      node.previousOnConnection = last;
      head.previousOnConnection = node;
    }
  }

  /** Takes the node off its connection's list, when it is on it. */
  void remove(RequestNode node) {
    if (node.previousOnConnection == null) {
      return; // on no list
    }
    RequestNode head = first.get(node.peer);
    RequestNode next = node.nextOnConnection;
    if (node == head) {
      if (next == null) {
        first.remove(node.peer);
      } else {
        next.previousOnConnection = node.previousOnConnection;
        first.put(node.peer, next);
      }
    } else {
      node.previousOnConnection.nextOnConnection = next;
      if (next != null) {
        next.previousOnConnection = node.previousOnConnection;
      } else {
        head.previousOnConnection = node.previousOnConnection;
      }
    }
    node.previousOnConnection = null;
    node.nextOnConnection = null;
  }

  /**
   * Forgets the connection: returns its first request, whose {@link RequestNode#nextOnConnection}
   * chain (still intact) gives the others in order, or null when none was in flight.
   */
  @Nullable RequestNode removeAll(Peer peer) {
    RequestNode head = first.remove(peer);
    for (RequestNode n = head; n != null; n = n.nextOnConnection) {
      n.previousOnConnection = null;
    }
    return head;
  }

  /** The requests on all lists. */
  int count() {
    int total = 0;
    for (RequestNode head : first.values()) {
      for (RequestNode n = head; n != null; n = n.nextOnConnection) {
        total++;
      }
    }
    return total;
  }
}
