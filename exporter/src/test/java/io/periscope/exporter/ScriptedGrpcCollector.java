package io.periscope.exporter;

import java.io.IOException;
import java.net.URI;
import org.jspecify.annotations.Nullable;

/**
 * An OTLP/gRPC collector: a {@link FakeGrpcReceiver} on {@link #port} while up, none while down.
 * Slow answers are not counted as taken: in these tests the exporter has given up by then.
 */
final class ScriptedGrpcCollector extends ScriptedCollector {
  private volatile @Nullable FakeGrpcReceiver receiver;

  @Override
  URI endpoint() {
    return URI.create("http://127.0.0.1:" + port);
  }

  @Override
  void start() throws IOException {
    receiver =
        new FakeGrpcReceiver(
            port,
            message -> {
              CollectorFault fault = arrived(message);
              if (fault instanceof CollectorFault.Healthy) {
                took(message);
              } else if (fault instanceof CollectorFault.PartialSuccess partial) {
                took(message, partial.rejectedSpans());
              }
              return fault;
            });
  }

  @Override
  void stop() {
    FakeGrpcReceiver running = receiver;
    receiver = null;
    if (running != null) {
      try {
        running.close();
      } catch (IOException e) {
        // closing: nothing to do
      }
    }
  }
}
