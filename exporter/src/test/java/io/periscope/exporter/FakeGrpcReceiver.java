package io.periscope.exporter;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Just enough of a gRPC server, over cleartext HTTP/2 with prior knowledge (RFC 9113 section 3.3),
 * to receive OTLP exports: it reads frames, acknowledges SETTINGS and PING, collects each request
 * stream's DATA and answers with a trailers-only response, OK unless its {@link Responder} says
 * otherwise (an error status, a slow answer, garbage, a reset). No HPACK decoding (requests' headers
 * are ignored), no flow control (requests are far below the 65535-byte initial window).
 *
 * <p>Written by hand because grpc-java's server is not on the test classpath, and a real h2c
 * exchange is what proves the exporter's sender can speak gRPC at all.
 */
final class FakeGrpcReceiver implements AutoCloseable {
  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(US_ASCII);
  private static final int DATA = 0x0;
  private static final int HEADERS = 0x1;
  private static final int SETTINGS = 0x4;
  private static final int PING = 0x6;
  private static final int END_STREAM = 0x1;
  private static final int ACK = 0x1;
  private static final int END_HEADERS = 0x4;
  private static final int PADDED = 0x8;

  /**
   * HPACK (RFC 7541) for {@code :status: 200}, {@code content-type: application/grpc}, {@code
   * grpc-status: 0}: indexed field 8, then literals without indexing, no Huffman coding.
   */
  private static final byte[] TRAILERS_ONLY_OK = trailersOnly(0, null);

  /** The headers of a response that has a message: {@code :status: 200}, {@code content-type}. */
  private static final byte[] RESPONSE_HEADERS = responseHeaders();

  /** The trailers after a response's message: {@code grpc-status: 0}. */
  private static final byte[] TRAILERS_OK = trailers(0);

  /** Decides what a request gets: {@link CollectorFault#HEALTHY} answers OK. */
  interface Responder {
    CollectorFault answer(byte[] message);
  }

  private final ServerSocket server;
  private final Responder responder;
  private final BlockingQueue<byte[]> messages = new LinkedBlockingQueue<>();
  private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
  // Slow answers are written from here, so that a connection keeps reading its other streams.
  private final ScheduledExecutorService slowAnswers =
      Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon().name("fake-grpc-slow").factory());

  /** A receiver on a free port that answers every request OK. */
  FakeGrpcReceiver() throws IOException {
    this(0, message -> CollectorFault.HEALTHY);
  }

  /** A receiver on {@code port} (0: any free one) that answers as {@code responder} says. */
  FakeGrpcReceiver(int port, Responder responder) throws IOException {
    this.responder = responder;
    server = new ServerSocket();
    server.setReuseAddress(true); // a receiver brought up again takes its predecessor's port
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    Thread.ofPlatform().daemon().name("fake-grpc-receiver").start(this::acceptConnections);
  }

  int port() {
    return server.getLocalPort();
  }

  /** The next gRPC request message received, without its 5-byte length prefix. */
  byte[] awaitMessage() throws InterruptedException {
    byte[] message = messages.poll(10, TimeUnit.SECONDS);
    assertThat(message).as("a gRPC request within 10 s").isNotNull();
    return message;
  }

  /** Closes the port and cuts every open connection, as a collector that dies. */
  @Override
  public void close() throws IOException {
    server.close();
    synchronized (connections) {
      for (Socket connection : connections) {
        connection.close();
      }
    }
    slowAnswers.shutdownNow();
  }

  private void acceptConnections() {
    while (!server.isClosed()) {
      try {
        Socket socket = server.accept();
        // accept() can still hand over a connection once close() closed the port (the thread was
        // slow to see the close): cut it, as a dead collector's would be, not served behind its back.
        synchronized (connections) {
          if (server.isClosed()) {
            socket.close();
            return;
          }
          connections.add(socket);
        }
        Thread.ofPlatform().daemon().name("fake-grpc-connection").start(() -> serve(socket));
      } catch (IOException e) {
        return; // close() closed the port
      }
    }
  }

  private void serve(Socket connection) {
    try (Socket socket = connection) {
      DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
      OutputStream out = socket.getOutputStream();
      if (!Arrays.equals(in.readNBytes(PREFACE.length), PREFACE)) {
        return; // not HTTP/2 with prior knowledge: the client hangs up or times out
      }
      writeFrame(out, SETTINGS, 0, 0, new byte[0]);
      Map<Integer, ByteArrayOutputStream> bodies = new HashMap<>();
      while (true) {
        int length =
            in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte();
        int type = in.readUnsignedByte();
        int flags = in.readUnsignedByte();
        int stream = in.readInt() & 0x7fffffff;
        byte[] payload = in.readNBytes(length);
        if (type == SETTINGS && (flags & ACK) == 0) {
          writeFrame(out, SETTINGS, ACK, 0, new byte[0]);
        } else if (type == PING && (flags & ACK) == 0) {
          writeFrame(out, PING, ACK, 0, payload);
        } else if (type == DATA || type == HEADERS) {
          ByteArrayOutputStream body =
              bodies.computeIfAbsent(stream, s -> new ByteArrayOutputStream());
          if (type == DATA) {
            int padding = (flags & PADDED) != 0 ? payload[0] & 0xff : 0;
            int offset = (flags & PADDED) != 0 ? 1 : 0;
            body.write(payload, offset, payload.length - offset - padding);
          }
          if ((flags & END_STREAM) != 0) {
            byte[] message = unframe(bodies.remove(stream).toByteArray());
            messages.add(message);
            if (!meet(responder.answer(message), socket, out, stream)) {
              return;
            }
          }
        }
      }
    } catch (IOException e) {
      // The client hung up or close() closed the socket: either way the exchange is over.
    } finally {
      connections.remove(connection);
    }
  }

  /** Answers one request's stream as {@code fault} says; false when the connection is over. */
  private boolean meet(CollectorFault fault, Socket socket, OutputStream out, int stream) throws IOException {
    switch (fault) {
      case CollectorFault.Healthy healthy -> writeFrame(out, HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS_ONLY_OK);
      case CollectorFault.PartialSuccess partial -> {
        // A response with a message: headers, the length-prefixed message, then the trailers.
        writeFrame(out, HEADERS, END_HEADERS, stream, RESPONSE_HEADERS);
        writeFrame(out, DATA, 0, stream, frame(partial.response()));
        writeFrame(out, HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS_OK);
      }
      case CollectorFault.Slow slow ->
          slowAnswers.schedule(
              () -> {
                try {
                  writeFrame(out, HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS_ONLY_OK);
                } catch (IOException e) {
                  // the client gave up on the stream's connection
                }
              },
              slow.delay().toNanos(),
              TimeUnit.NANOSECONDS);
      case CollectorFault.Refusal refusal ->
          writeFrame(out, HEADERS, END_HEADERS | END_STREAM, stream, trailersOnly(refusal.grpcStatus(), refusal.retryDelay()));
      case CollectorFault.Garbage garbage -> {
        CollectorFault.Garbage.answer(socket, "HTTP/1.1 400 Bad Request\r\n\r\nnot a frame at all".getBytes(US_ASCII));
        return false;
      }
      case CollectorFault.Reset reset -> {
        socket.setSoLinger(true, 0); // close() then sends RST, not FIN
        return false;
      }
    }
    return true;
  }

  /** Adds gRPC's length-prefixed framing: 1 byte compressed flag (0), 4 bytes big-endian length. */
  private static byte[] frame(byte[] message) {
    return ByteBuffer.allocate(5 + message.length).put((byte) 0).putInt(message.length).put(message).array();
  }

  private static byte[] responseHeaders() {
    ByteArrayOutputStream block = new ByteArrayOutputStream();
    block.write(0x88); // indexed: static table entry 8, ":status: 200"
    block.write(0x0f); // literal, name = static entry 31 (content-type): 15 + ...
    block.write(0x10); // ... 16
    literal(block, "application/grpc");
    return block.toByteArray();
  }

  private static byte[] trailers(int grpcStatus) {
    ByteArrayOutputStream block = new ByteArrayOutputStream();
    block.write(0x00); // literal with a new name
    literal(block, "grpc-status");
    literal(block, Integer.toString(grpcStatus));
    return block.toByteArray();
  }

  /** Strips gRPC's length-prefixed framing: 1 byte compressed flag, 4 bytes big-endian length. */
  private static byte[] unframe(byte[] body) {
    ByteBuffer buffer = ByteBuffer.wrap(body);
    assertThat(buffer.get()).as("compressed flag").isZero();
    int length = buffer.getInt();
    assertThat(length).as("gRPC message length").isEqualTo(body.length - 5);
    return Arrays.copyOfRange(body, 5, body.length);
  }

  private static void writeFrame(OutputStream out, int type, int flags, int stream, byte[] payload)
      throws IOException {
    ByteBuffer frame = ByteBuffer.allocate(9 + payload.length);
    frame
        .put((byte) (payload.length >>> 16))
        .put((byte) (payload.length >>> 8))
        .put((byte) payload.length);
    frame.put((byte) type).put((byte) flags).putInt(stream).put(payload);
    synchronized (out) {
      out.write(frame.array());
      out.flush();
    }
  }

  /**
   * A trailers-only response with {@code grpcStatus}; with a {@code retryDelay}, also a {@code
   * grpc-status-details-bin} holding a google.rpc.Status whose details are a google.rpc.RetryInfo
   * (the gRPC way for a server to say when to retry, which OTLP/gRPC's "Throttling" asks clients
   * to honour).
   */
  private static byte[] trailersOnly(int grpcStatus, @Nullable Duration retryDelay) {
    ByteArrayOutputStream block = new ByteArrayOutputStream();
    block.write(0x88); // indexed: static table entry 8, ":status: 200"
    block.write(0x0f); // literal, name = static entry 31 (content-type): 15 + ...
    block.write(0x10); // ... 16
    literal(block, "application/grpc");
    block.write(0x00); // literal with a new name
    literal(block, "grpc-status");
    literal(block, Integer.toString(grpcStatus));
    if (retryDelay != null) {
      block.write(0x00);
      literal(block, "grpc-status-details-bin");
      // Binary headers are base64 without padding (gRPC over HTTP/2, "Requests").
      literal(block, Base64.getEncoder().withoutPadding().encodeToString(statusWithRetryInfo(grpcStatus, retryDelay)));
    }
    return block.toByteArray();
  }

  /** google.rpc.Status { code = 1; details = 3 (Any of google.rpc.RetryInfo { retry_delay = 1 }) }. */
  private static byte[] statusWithRetryInfo(int grpcStatus, Duration retryDelay) {
    try {
      com.google.protobuf.Duration delay =
          com.google.protobuf.Duration.newBuilder()
              .setSeconds(retryDelay.getSeconds())
              .setNanos(retryDelay.getNano())
              .build();
      ByteString.Output retryInfoBytes = ByteString.newOutput();
      CodedOutputStream retryInfoOut = CodedOutputStream.newInstance(retryInfoBytes);
      retryInfoOut.writeMessage(1, delay);
      retryInfoOut.flush();
      ByteString retryInfo = retryInfoBytes.toByteString();
      Any detail = Any.newBuilder().setTypeUrl("type.googleapis.com/google.rpc.RetryInfo").setValue(retryInfo).build();
      ByteArrayOutputStream status = new ByteArrayOutputStream();
      CodedOutputStream statusOut = CodedOutputStream.newInstance(status);
      statusOut.writeInt32(1, grpcStatus);
      statusOut.writeMessage(3, detail);
      statusOut.flush();
      return status.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void literal(ByteArrayOutputStream block, String text) {
    block.write(text.length()); // Huffman bit clear; all strings here are shorter than 127 bytes
    block.writeBytes(text.getBytes(US_ASCII));
  }
}
