package io.periscope.agent.it;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A grpc-java peer for kernel tests, run in its own JVM (the agent never traces the process it runs
 * in). Messages are raw bytes, so no protobuf code is generated.
 *
 * <pre>
 *   GrpcJavaPeer server PORT           serves demo.JavaEcho on 127.0.0.1:PORT until killed
 *   GrpcJavaPeer client PORT CALL...   makes each call (unary, not_found, big) on one channel, one line each
 * </pre>
 */
final class GrpcJavaPeer {
  static final String SERVICE = "demo.JavaEcho";
  static final String NOT_FOUND_MESSAGE = "no order 17 in this shop";

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try (stream) {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };
  /** Answers with the request reversed. */
  private static final MethodDescriptor<byte[], byte[]> REVERSE = unary("Reverse");
  /** Fails with NOT_FOUND and {@link #NOT_FOUND_MESSAGE}. */
  private static final MethodDescriptor<byte[], byte[]> FIND = unary("Find");
  /** Answers with one message of 1 MiB. */
  private static final MethodDescriptor<byte[], byte[]> DOWNLOAD = unary("Download");

  private GrpcJavaPeer() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[1]);
    switch (args[0]) {
      case "server" -> serve(port);
      case "client" -> call(port, List.of(args).subList(2, args.length));
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
  }

  private static MethodDescriptor<byte[], byte[]> unary(String name) {
    return MethodDescriptor.newBuilder(BYTES, BYTES)
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .build();
  }

  private static void serve(int port) throws Exception {
    ServerServiceDefinition service = ServerServiceDefinition.builder(SERVICE)
        .addMethod(REVERSE, ServerCalls.asyncUnaryCall((request, response) -> {
          byte[] reversed = new byte[request.length];
          for (int i = 0; i < request.length; i++) {
            reversed[i] = request[request.length - 1 - i];
          }
          response.onNext(reversed);
          response.onCompleted();
        }))
        .addMethod(FIND, ServerCalls.asyncUnaryCall((request, response) ->
            response.onError(Status.NOT_FOUND.withDescription(NOT_FOUND_MESSAGE).asRuntimeException())))
        .addMethod(DOWNLOAD, ServerCalls.asyncUnaryCall((request, response) -> {
          response.onNext(new byte[1 << 20]);
          response.onCompleted();
        }))
        .build();
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
        .addService(service)
        .build()
        .start();
    System.out.println("serving");
    server.awaitTermination();
  }

  private static void call(int port, List<String> calls) throws InterruptedException {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      List<String> lines = new ArrayList<>();
      for (String call : calls) {
        MethodDescriptor<byte[], byte[]> method = switch (call) {
          case "unary" -> REVERSE;
          case "not_found" -> FIND;
          case "big" -> DOWNLOAD;
          default -> throw new IllegalArgumentException("unknown call " + call);
        };
        try {
          byte[] answer = ClientCalls.blockingUnaryCall(channel, method, CallOptions.DEFAULT,
              "stressed".getBytes(StandardCharsets.UTF_8));
          lines.add("OK " + (method == DOWNLOAD ? answer.length + " bytes" : new String(answer, StandardCharsets.UTF_8)));
        } catch (StatusRuntimeException e) {
          lines.add(e.getStatus().getCode() + " " + e.getStatus().getDescription());
        }
      }
      lines.forEach(System.out::println);
    } finally {
      channel.shutdown();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
