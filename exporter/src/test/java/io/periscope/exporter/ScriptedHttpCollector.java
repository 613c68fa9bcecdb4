package io.periscope.exporter;

import static java.nio.charset.StandardCharsets.ISO_8859_1;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * An OTLP/HTTP collector on raw sockets, so that it can answer what no HTTP server library would:
 * bytes that are not HTTP, or a reset instead of an answer. HTTP/1.1 with keep-alive, bodies by
 * Content-Length (both transports send one); one thread per connection.
 */
final class ScriptedHttpCollector extends ScriptedCollector {
  private static final byte[] NOT_HTTP = "SSH-2.0-OpenSSH_9.6\r\n\0\1\2 nothing like HTTP\r\n\r\n".getBytes(ISO_8859_1);

  private volatile @Nullable ServerSocket listening;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();

  @Override
  URI endpoint() {
    return URI.create("http://127.0.0.1:" + port + "/v1/traces");
  }

  @Override
  void start() throws IOException {
    ServerSocket server = new ServerSocket();
    server.setReuseAddress(true); // the port was ours a moment ago; its old connections may linger
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    listening = server;
    Thread.ofPlatform().daemon().name("test-collector-http").start(() -> accept(server));
  }

  @Override
  void stop() {
    ServerSocket server = listening;
    listening = null;
    try {
      if (server != null) {
        server.close();
      }
    } catch (IOException e) {
      // closing: nothing to do
    }
    synchronized (open) {
      open.forEach(ScriptedHttpCollector::closeQuietly);
    }
  }

  private void accept(ServerSocket server) {
    while (!server.isClosed()) {
      try {
        Socket socket = server.accept();
        // accept() can still hand over a connection once stop() closed the port (the thread was
        // slow to see the close): cut it, as a dead collector's would be, not served behind its back.
        synchronized (open) {
          if (server.isClosed()) {
            closeQuietly(socket);
            return;
          }
          open.add(socket);
        }
        Thread.ofPlatform().daemon().name("test-collector-http-connection").start(() -> serve(socket));
      } catch (IOException e) {
        return; // stop() closed the server socket
      }
    }
  }

  private void serve(Socket socket) {
    try (socket) {
      InputStream in = new BufferedInputStream(socket.getInputStream());
      OutputStream out = socket.getOutputStream();
      while (true) {
        byte[] request = readRequest(in);
        if (request == null) {
          return; // the exporter closed the connection
        }
        if (!meet(arrived(request), request, socket, out)) {
          return;
        }
      }
    } catch (IOException e) {
      // the exporter gave up on the connection, or stop() cut it
    } finally {
      open.remove(socket);
    }
  }

  /** Meets one request with {@code fault}; false when the connection is over. */
  private boolean meet(CollectorFault fault, byte[] request, Socket socket, OutputStream out) throws IOException {
    switch (fault) {
      case CollectorFault.Healthy healthy -> {
        took(request); // before the answer: once it is out, the exporter may count the spans exported
        answer(out, 200, null, new byte[0]);
      }
      case CollectorFault.PartialSuccess partial -> {
        took(request, partial.rejectedSpans());
        answer(out, 200, null, partial.response());
      }
      case CollectorFault.Slow slow -> {
        try {
          if (closing.await(slow.delay().toNanos(), TimeUnit.NANOSECONDS)) {
            return false;
          }
        } catch (InterruptedException e) {
          return false;
        }
        // Not counted as taken: in these tests the exporter has given up by now.
        answer(out, 200, null, new byte[0]);
      }
      case CollectorFault.Refusal refusal -> answer(out, refusal.httpStatus(), refusal.retryAfter(), refusal.body());
      case CollectorFault.Garbage garbage -> {
        CollectorFault.Garbage.answer(socket, NOT_HTTP);
        return false;
      }
      case CollectorFault.Reset reset -> {
        socket.setSoLinger(true, 0); // close() then sends RST, not FIN
        return false;
      }
    }
    return true;
  }

  private static void answer(OutputStream out, int status, @Nullable String retryAfter, byte[] body) throws IOException {
    StringBuilder head = new StringBuilder("HTTP/1.1 ").append(status).append(status == 200 ? " OK" : " Error").append("\r\n");
    head.append("Content-Type: application/x-protobuf\r\n");
    if (retryAfter != null) {
      head.append("Retry-After: ").append(retryAfter).append("\r\n");
    }
    head.append("Content-Length: ").append(body.length).append("\r\n\r\n");
    out.write(head.toString().getBytes(ISO_8859_1));
    out.write(body);
    out.flush();
  }

  /** The body of the next request, or null at the end of the connection before one. */
  private static byte @Nullable [] readRequest(InputStream in) throws IOException {
    String requestLine = readLine(in);
    if (requestLine == null) {
      return null;
    }
    int contentLength = 0;
    for (String field = readLine(in); field != null && !field.isEmpty(); field = readLine(in)) {
      int colon = field.indexOf(':');
      if (colon > 0 && field.substring(0, colon).trim().toLowerCase(Locale.ROOT).equals("content-length")) {
        contentLength = Integer.parseInt(field.substring(colon + 1).trim());
      }
    }
    byte[] body = in.readNBytes(contentLength);
    if (body.length < contentLength) {
      throw new EOFException("request body cut short");
    }
    return body;
  }

  private static @Nullable String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int b = in.read(); b != '\n'; b = in.read()) {
      if (b < 0) {
        return line.size() == 0 ? null : line.toString(ISO_8859_1);
      }
      if (b != '\r') {
        line.write(b);
      }
    }
    return line.toString(ISO_8859_1);
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // closing: nothing to do
    }
  }
}
