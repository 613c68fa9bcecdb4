package io.periscope.exporter.otlp;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.util.concurrent.TimeUnit.NANOSECONDS;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.time.Duration;
import java.util.Deque;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * POSTs over plain HTTP/1.1 on blocking sockets kept alive between requests: what OTLP over
 * {@code http://} needs and no more. The JDK's HttpClient spent about 0.2 ms of CPU on each
 * request, measured (its asynchronous stages, thread hand-offs and copies into its buffers), so
 * small batches, which keep the agent's bursts short, cost a quarter more CPU through it. Here a
 * request is two writes, the head and the encoder's buffer as it is, and a read of the answer.
 *
 * <p>The answer is read as RFC 9112 frames it (Content-Length, chunked, or until close; 1xx
 * skipped), within bounds: a head over 64 KiB or a body over 1 MiB fails the request. A timer
 * closes the socket at the timeout, so a collector that stops reading cannot hold an export thread
 * longer. A kept-alive connection the collector closed while it was idle is found on the next
 * request, which is sent again at once on a new connection.
 */
final class PlainHttpTransport implements Transport {
  private static final int MAX_IDLE_CONNECTIONS = 4;
  private static final int MAX_HEAD_BYTES = 64 * 1024;
  private static final int MAX_BODY_BYTES = 1 << 20;

  private final String host;
  private final int port;
  private final byte[] head; // the request head up to the Content-Length value
  private final Deque<Connection> idle = new ConcurrentLinkedDeque<>();
  private final Set<Connection> busy = ConcurrentHashMap.newKeySet();
  private final ScheduledThreadPoolExecutor timer;
  private volatile boolean closed;

  PlainHttpTransport(URI url, Map<String, String> headers) {
    host = url.getHost();
    port = url.getPort() < 0 ? 80 : url.getPort();
    String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
    StringBuilder text = new StringBuilder("POST ").append(path);
    if (url.getRawQuery() != null) {
      text.append('?').append(url.getRawQuery());
    }
    text.append(" HTTP/1.1\r\nHost: ").append(host).append(url.getPort() < 0 ? "" : ":" + port).append("\r\n");
    OtlpHttpExporter.requestHeaders(headers).forEach((name, value) -> text.append(name).append(": ").append(value).append("\r\n"));
    text.append("Content-Length: ");
    head = text.toString().getBytes(ISO_8859_1);
    timer = new ScheduledThreadPoolExecutor(1, task -> {
      Thread thread = new Thread(task, "periscope-export-timeout");
      thread.setDaemon(true);
      return thread;
    });
    timer.setRemoveOnCancelPolicy(true); // a request answered in time leaves nothing queued
  }

  @Override
  public Answer post(byte[] body, int offset, int length, Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (closed) {
        throw new IOException("the exporter is shut down");
      }
      Connection connection = idle.pollFirst();
      boolean reused = connection != null;
      if (connection == null) {
        connection = connect(deadline);
      }
      busy.add(connection);
      ScheduledFuture<?> guard = timer.schedule(connection::close, deadline - System.nanoTime(), NANOSECONDS);
      try {
        Answer answer = connection.exchange(body, offset, length);
        guard.cancel(false);
        busy.remove(connection);
        if (connection.reusable && !closed && idle.size() < MAX_IDLE_CONNECTIONS) {
          idle.offerFirst(connection);
        } else {
          connection.close();
        }
        return answer;
      } catch (IOException e) {
        guard.cancel(false);
        busy.remove(connection);
        connection.close();
        if (System.nanoTime() - deadline >= 0) {
          throw new Timeout("no answer within " + timeout, e);
        }
        // A kept-alive connection that broke before any byte of an answer was, most likely,
        // closed by the collector while idle: the request goes once more, on a new connection.
        boolean brokeWhileIdle = reused && !connection.answered;
        if (closed || !brokeWhileIdle) {
          throw e;
        }
      }
    }
  }

  private Connection connect(long deadline) throws IOException {
    long remainingMillis = Math.max(1, NANOSECONDS.toMillis(deadline - System.nanoTime()));
    Socket socket = new Socket();
    try {
      socket.setTcpNoDelay(true); // the head and the body's last segment go out at once
      socket.connect(new InetSocketAddress(host, port), (int) Math.min(remainingMillis, Integer.MAX_VALUE));
      return new Connection(socket);
    } catch (SocketTimeoutException e) {
      socket.close();
      throw new Timeout("could not connect to " + host + ":" + port + " within the timeout", e);
    } catch (IOException | RuntimeException e) {
      socket.close();
      throw e;
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Connection connection; (connection = idle.pollFirst()) != null; ) {
      connection.close();
    }
    busy.forEach(Connection::close); // unblocks an export in flight
    timer.shutdownNow();
  }

  /** One kept-alive connection; used by one export at a time. */
  private final class Connection {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final byte[] line = new byte[8 * 1024];
    // Of the last exchange: whether any byte of the answer came, and whether the connection may serve another.
    boolean answered;
    boolean reusable;

    Connection(Socket socket) throws IOException {
      this.socket = socket;
      in = new BufferedInputStream(socket.getInputStream(), 8 * 1024);
      out = socket.getOutputStream();
    }

    Answer exchange(byte[] body, int offset, int length) throws IOException {
      answered = false;
      reusable = false;
      byte[] contentLength = (length + "\r\n\r\n").getBytes(ISO_8859_1);
      byte[] request = new byte[head.length + contentLength.length];
      System.arraycopy(head, 0, request, 0, head.length);
      System.arraycopy(contentLength, 0, request, head.length, contentLength.length);
      out.write(request);
      out.write(body, offset, length);
      out.flush();
      return readAnswer();
    }

    private Answer readAnswer() throws IOException {
      while (true) {
        String status = readLine();
        answered = true;
        if (!status.startsWith("HTTP/1.") || status.length() < 12 || status.charAt(8) != ' ') {
          throw malformed("status line '" + printable(status) + "'");
        }
        int code = statusCode(status);
        boolean close = status.startsWith("HTTP/1.0");
        long contentLength = -1;
        boolean chunked = false;
        String retryAfter = null;
        int headBytes = status.length();
        for (String field = readLine(); !field.isEmpty(); field = readLine()) {
          headBytes += field.length() + 2;
          if (headBytes > MAX_HEAD_BYTES) {
            throw malformed("head over " + MAX_HEAD_BYTES + " bytes");
          }
          int colon = field.indexOf(':');
          if (colon <= 0) {
            throw malformed("header field '" + printable(field) + "'");
          }
          String name = field.substring(0, colon).trim().toLowerCase(Locale.ROOT);
          String asSent = field.substring(colon + 1).trim();
          String value = asSent.toLowerCase(Locale.ROOT);
          switch (name) {
            case "content-length" -> contentLength = contentLength(value, contentLength);
            case "transfer-encoding" -> chunked = value.endsWith("chunked");
            case "connection" -> close = value.contains("close") || (close && !value.contains("keep-alive"));
            case "retry-after" -> retryAfter = asSent; // an HTTP-date is read as sent
            default -> {}
          }
        }
        if (code / 100 == 1) {
          continue; // an interim answer (100 Continue, 103): the real one follows
        }
        byte[] body;
        if (code == 204 || code == 304) {
          body = new byte[0];
        } else if (chunked) {
          body = readChunked();
        } else if (contentLength >= 0) {
          body = readFixed(contentLength);
        } else {
          body = readToEnd();
          close = true;
        }
        reusable = !close;
        return new Answer(code, body, retryAfter);
      }
    }

    private static int statusCode(String status) throws IOException {
      int code = 0;
      for (int i = 9; i < 12; i++) {
        char c = status.charAt(i);
        if (c < '0' || c > '9') {
          throw malformed("status line '" + printable(status) + "'");
        }
        code = code * 10 + (c - '0');
      }
      return code;
    }

    private static long contentLength(String value, long earlier) throws IOException {
      long length;
      try {
        length = Long.parseLong(value);
      } catch (NumberFormatException e) {
        throw malformed("Content-Length '" + printable(value) + "'");
      }
      if (length < 0 || (earlier >= 0 && earlier != length)) {
        throw malformed("Content-Length '" + printable(value) + "'");
      }
      return length;
    }

    private byte[] readFixed(long length) throws IOException {
      if (length > MAX_BODY_BYTES) {
        throw malformed("body of " + length + " bytes");
      }
      byte[] body = in.readNBytes((int) length);
      if (body.length < length) {
        throw new EOFException("connection closed within the answer's body");
      }
      return body;
    }

    private byte[] readChunked() throws IOException {
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      while (true) {
        String sizeLine = readLine();
        int extension = sizeLine.indexOf(';');
        String size = (extension < 0 ? sizeLine : sizeLine.substring(0, extension)).trim();
        long chunk;
        try {
          chunk = Long.parseLong(size, 16);
        } catch (NumberFormatException e) {
          throw malformed("chunk size '" + printable(sizeLine) + "'");
        }
        if (chunk < 0 || body.size() + chunk > MAX_BODY_BYTES) {
          throw malformed("chunked body over " + MAX_BODY_BYTES + " bytes");
        }
        if (chunk == 0) {
          for (String trailer = readLine(); !trailer.isEmpty(); trailer = readLine()) {
            // trailers: nothing here wants them
          }
          return body.toByteArray();
        }
        body.write(readFixed(chunk));
        if (!readLine().isEmpty()) {
          throw malformed("chunk without its line end");
        }
      }
    }

    private byte[] readToEnd() throws IOException {
      byte[] body = in.readNBytes(MAX_BODY_BYTES + 1);
      if (body.length > MAX_BODY_BYTES) {
        throw malformed("body over " + MAX_BODY_BYTES + " bytes");
      }
      return body;
    }

    /** A line without its CRLF (a bare LF ends one too), at most 8 KiB. */
    private String readLine() throws IOException {
      int length = 0;
      while (true) {
        int b = in.read();
        if (b < 0) {
          throw new EOFException(answered ? "connection closed within the answer" : "connection closed before an answer");
        }
        if (b == '\n') {
          if (length > 0 && line[length - 1] == '\r') {
            length--;
          }
          return new String(line, 0, length, ISO_8859_1);
        }
        if (length == line.length) {
          throw malformed("line over " + line.length + " bytes");
        }
        line[length++] = (byte) b;
      }
    }

    void close() {
      try {
        socket.close();
      } catch (IOException e) {
        // closing: nothing to do about it
      }
    }
  }

  /** A {@link ProtocolException}, as the JDK's client throws for an answer that is not HTTP. */
  private static ProtocolException malformed(String what) {
    return new ProtocolException("malformed answer from the collector: " + what);
  }

  private static String printable(String text) {
    String cut = text.length() > 80 ? text.substring(0, 80) + "..." : text;
    return cut.replaceAll("[^\\x20-\\x7e]", "?");
  }
}
