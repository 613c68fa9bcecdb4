package io.periscope.exporter;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Just enough of a gRPC server, over cleartext HTTP/2 with prior knowledge (RFC 9113 section 3.3),
 * to receive OTLP exports: it reads frames, acknowledges SETTINGS and PING, collects each request
 * stream's DATA and answers with a trailers-only OK response. No HPACK decoding (requests' headers
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
  private static final byte[] TRAILERS_ONLY_OK = trailersOnlyOk();

  private final ServerSocket server;
  private final BlockingQueue<byte[]> messages = new LinkedBlockingQueue<>();
  private volatile Socket connection = new Socket();

  FakeGrpcReceiver() throws IOException {
    server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    Thread.ofPlatform().daemon().name("fake-grpc-receiver").start(this::serve);
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

  @Override
  public void close() throws IOException {
    connection.close();
    server.close();
  }

  private void serve() {
    try (Socket socket = server.accept()) {
      connection = socket;
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
            messages.add(unframe(bodies.remove(stream).toByteArray()));
            writeFrame(out, HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS_ONLY_OK);
          }
        }
      }
    } catch (IOException e) {
      // The client hung up or close() closed the socket: either way the exchange is over.
    }
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

  private static byte[] trailersOnlyOk() {
    ByteArrayOutputStream block = new ByteArrayOutputStream();
    block.write(0x88); // indexed: static table entry 8, ":status: 200"
    block.write(0x0f); // literal, name = static entry 31 (content-type): 15 + ...
    block.write(0x10); // ... 16
    literal(block, "application/grpc");
    block.write(0x00); // literal with a new name
    literal(block, "grpc-status");
    literal(block, "0");
    return block.toByteArray();
  }

  private static void literal(ByteArrayOutputStream block, String text) {
    block.write(text.length()); // Huffman bit clear; all strings here are shorter than 127 bytes
    block.writeBytes(text.getBytes(US_ASCII));
  }
}
