package io.periscope.agent.it;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A grpc-java peer for kernel tests, run in its own JVM (the agent never traces the process it runs
 * in). Messages are raw bytes, so no protobuf code is generated.
 *
 * <pre>
 *   GrpcJavaPeer server PORT           serves demo.JavaEcho on 127.0.0.1:PORT until killed
 *   GrpcJavaPeer client PORT CALL...   makes each call on one channel, one line each:
 *                                      unary, not_found, big; cancel (Watch, cancelled after the
 *                                      first update), deadline (Bake with a deadline of
 *                                      {@link #DEADLINE}), closed (Menu)
 * </pre>
 */
final class GrpcJavaPeer {
  static final String SERVICE = "demo.JavaEcho";
  static final String NOT_FOUND_MESSAGE = "no order 17 in this shop";
  /** Not ASCII, and with a '%': grpc-java percent-encodes both in grpc-message. */
  static final String CLOSED_MESSAGE = "café closed, 100% booked";
  /** How long Bake takes: far longer than {@link #DEADLINE}. */
  static final Duration BAKING = Duration.ofSeconds(10);
  /** The deadline the client gives Bake. */
  static final Duration DEADLINE = Duration.ofMillis(500);

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
  /** Streams one update, then nothing more until the caller goes away. */
  private static final MethodDescriptor<byte[], byte[]> WATCH = serverStreaming("Watch");
  /** Answers after {@link #BAKING}, unless the call was cancelled by then. */
  private static final MethodDescriptor<byte[], byte[]> BAKE = unary("Bake");
  /**
   * Fails with UNAVAILABLE and {@link #CLOSED_MESSAGE} before any message: grpc-java answers with
   * a Trailers-Only response, one HEADERS frame with both :status and grpc-status.
   */
  private static final MethodDescriptor<byte[], byte[]> MENU = serverStreaming("Menu");

  private GrpcJavaPeer() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[1]);
    switch (args[0]) {
      case "server" -> serve(port);
      case "client" -> call(port, List.of(args).subList(2, args.length));
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
  }

  /** The command that runs this peer in a new JVM, the test's own, with the test's classpath. */
  static String[] command(String mode, int port, String... calls) {
    List<String> command = new ArrayList<>(List.of(
        ProcessHandle.current().info().command().orElseThrow(),
        "-XX:TieredStopAtLevel=1",
        "--sun-misc-unsafe-memory-access=allow",
        "-cp", System.getProperty("java.class.path"),
        GrpcJavaPeer.class.getName(), mode, Integer.toString(port)));
    command.addAll(List.of(calls));
    return command.toArray(String[]::new);
  }

  private static MethodDescriptor<byte[], byte[]> unary(String name) {
    return method(MethodDescriptor.MethodType.UNARY, name);
  }

  private static MethodDescriptor<byte[], byte[]> serverStreaming(String name) {
    return method(MethodDescriptor.MethodType.SERVER_STREAMING, name);
  }

  private static MethodDescriptor<byte[], byte[]> method(MethodDescriptor.MethodType type, String name) {
    return MethodDescriptor.newBuilder(BYTES, BYTES)
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .build();
  }

  private static void serve(int port) throws Exception {
    ScheduledExecutorService oven = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
        .name("oven").factory());
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
        .addMethod(WATCH, ServerCalls.asyncServerStreamingCall((request, response) ->
            response.onNext("order 17: in the oven".getBytes(StandardCharsets.UTF_8))))
        .addMethod(BAKE, ServerCalls.asyncUnaryCall((request, response) ->
            oven.schedule(() -> answerUnlessCancelled(response), BAKING.toMillis(), TimeUnit.MILLISECONDS)))
        .addMethod(MENU, ServerCalls.asyncServerStreamingCall((request, response) ->
            response.onError(Status.UNAVAILABLE.withDescription(CLOSED_MESSAGE).asRuntimeException())))
        .build();
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
        .addService(service)
        .build()
        .start();
    System.out.println("serving");
    server.awaitTermination();
  }

  private static void answerUnlessCancelled(StreamObserver<byte[]> response) {
    if (!((ServerCallStreamObserver<byte[]>) response).isCancelled()) {
      response.onNext("baked".getBytes(StandardCharsets.UTF_8));
      response.onCompleted();
    }
  }

  private static void call(int port, List<String> calls) throws Exception {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      List<String> lines = new ArrayList<>();
      for (String call : calls) {
        lines.add(call(channel, call));
      }
      lines.forEach(System.out::println);
    } finally {
      channel.shutdown();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** Makes one call; returns how it ended: "OK" and the answer, or the status code and its description. */
  private static String call(Channel channel, String call) throws Exception {
    byte[] request = "stressed".getBytes(StandardCharsets.UTF_8);
    try {
      return switch (call) {
        case "unary" -> "OK " + text(ClientCalls.blockingUnaryCall(channel, REVERSE, CallOptions.DEFAULT, request));
        case "not_found" -> "OK " + text(ClientCalls.blockingUnaryCall(channel, FIND, CallOptions.DEFAULT, request));
        case "big" -> "OK " + ClientCalls.blockingUnaryCall(channel, DOWNLOAD, CallOptions.DEFAULT, request).length
            + " bytes";
        case "cancel" -> cancelAfterFirstUpdate(channel, request);
        case "deadline" -> "OK " + text(ClientCalls.blockingUnaryCall(channel, BAKE,
            CallOptions.DEFAULT.withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS), request));
        case "closed" -> {
          Iterator<byte[]> menu = ClientCalls.blockingServerStreamingCall(channel, MENU, CallOptions.DEFAULT, request);
          yield "OK " + menu.hasNext();
        }
        default -> throw new IllegalArgumentException("unknown call " + call);
      };
    } catch (StatusRuntimeException e) {
      // A deadline's description says how long the call took: only its code is the same every time.
      Status status = e.getStatus();
      return status.getCode() == Status.Code.DEADLINE_EXCEEDED ? status.getCode().toString()
          : status.getCode() + " " + status.getDescription();
    }
  }

  private static String text(byte[] answer) {
    return new String(answer, StandardCharsets.UTF_8);
  }

  /**
   * Watches order 17 and cancels the call once the first update came: grpc-java resets the
   * stream with RST_STREAM(CANCEL), and no trailers ever come.
   */
  private static String cancelAfterFirstUpdate(Channel channel, byte[] request) throws Exception {
    ClientCall<byte[], byte[]> call = channel.newCall(WATCH, CallOptions.DEFAULT);
    CompletableFuture<Status> closed = new CompletableFuture<>();
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onMessage(byte[] update) {
        call.cancel("seen the first update", null);
      }

      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.complete(status);
      }
    }, new Metadata());
    call.sendMessage(request);
    call.halfClose();
    call.request(1);
    Status status = closed.get(30, TimeUnit.SECONDS);
    return status.getCode() + " after first";
  }
}
