package io.periscope.exporter.otlp;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.common.ComponentLoader;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporterBuilder;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.export.GrpcResponse;
import io.opentelemetry.sdk.common.export.GrpcSender;
import io.opentelemetry.sdk.common.export.GrpcSenderConfig;
import io.opentelemetry.sdk.common.export.GrpcSenderProvider;
import io.opentelemetry.sdk.common.export.GrpcStatusCode;
import io.opentelemetry.sdk.common.export.MessageWriter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * OTLP/gRPC through OpenTelemetry's {@link OtlpGrpcSpanExporter}, its sender, retries and all, that
 * also sees the collector's last answer to each export, which the SDK's exporter keeps to itself:
 * from an OK answer it reads {@code partial_success} (logged, and the rejected spans reported to
 * the caller of {@link #export(Collection, LongConsumer)}), and an error status fails the export
 * with a {@link GrpcStatusException} saying which, around the SDK's own failure. A failure without
 * an answer (no connection, a timeout) is the SDK's, its cause the I/O exception of the call.
 *
 * <p>How: the SDK's exporter finds its {@link GrpcSender} through a {@link ComponentLoader} (public
 * API, {@link OtlpGrpcSpanExporterBuilder#setComponentLoader}); the loader given here wraps the
 * sender found on the class path in one that hands each final answer to the export it belongs to.
 * The SDK's exporter calls the sender on the thread that called {@code export} (SDK 1.68.0), so a
 * thread-local carries the export to it. A later SDK that calls it elsewhere leaves the answers
 * unseen: rejected spans then count as exported, and error statuses fail the export with the SDK's
 * exception alone, as before this class (CollectorFaultsTest would show it).
 */
public final class OtlpGrpcExporter implements OtlpSpanExporter {
  private static final Logger logger = Logger.getLogger(OtlpGrpcExporter.class.getName());

  // The export the calling thread is in, for the sender that the SDK's exporter calls on it.
  private static final ThreadLocal<@Nullable LastAnswer> exporting = new ThreadLocal<>();

  private final SpanExporter exporter;

  private OtlpGrpcExporter(SpanExporter exporter) {
    this.exporter = exporter;
  }

  /**
   * Builds the SDK's exporter as {@code builder} is configured, with the sender that lets this one
   * see the answers. The builder's own {@link ComponentLoader}, if it was given one, is replaced.
   */
  public static OtlpGrpcExporter build(OtlpGrpcSpanExporterBuilder builder) {
    ComponentLoader classPath = ComponentLoader.forClassLoader(OtlpGrpcSpanExporter.class.getClassLoader());
    return new OtlpGrpcExporter(builder.setComponentLoader(new AnswerSeeingLoader(classPath)).build());
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans, LongConsumer rejectedSpans) {
    LastAnswer answer = new LastAnswer();
    CompletableResultCode sdkResult;
    exporting.set(answer);
    try {
      sdkResult = exporter.export(spans);
    } finally {
      exporting.remove();
    }
    CompletableResultCode result = new CompletableResultCode();
    sdkResult.whenComplete(
        () -> {
          GrpcResponse last = answer.response;
          if (sdkResult.isSuccess()) {
            long rejected = last == null ? 0 : PartialSuccess.rejectedSpans(message(last), logger);
            if (rejected > 0) {
              rejectedSpans.accept(rejected);
            }
            result.succeed();
          } else if (last != null && last.getStatusCode() != GrpcStatusCode.OK) {
            Throwable sdkFailure = sdkResult.getFailureThrowable();
            result.failExceptionally(
                new GrpcStatusException(last.getStatusCode(), description(last), sdkFailure));
          } else if (sdkResult.getFailureThrowable() != null) {
            result.failExceptionally(sdkResult.getFailureThrowable());
          } else {
            result.fail();
          }
        });
    return result;
  }

  private static byte[] message(GrpcResponse response) {
    byte[] message = response.getResponseMessage();
    return message == null ? new byte[0] : message;
  }

  private static String description(GrpcResponse response) {
    String description = response.getStatusDescription();
    return description == null ? "" : description;
  }

  /** The SDK's exporter this one sends through. */
  public SpanExporter sdkExporter() {
    return exporter;
  }

  @Override
  public CompletableResultCode flush() {
    return exporter.flush();
  }

  @Override
  public CompletableResultCode shutdown() {
    return exporter.shutdown();
  }

  @Override
  public String toString() {
    return exporter.toString();
  }

  /** The last answer to one export; the sender writes it before the SDK completes the export. */
  private static final class LastAnswer {
    volatile @Nullable GrpcResponse response;
  }

  /** Loads what the SDK asks for from the class path, with the gRPC sender wrapped. */
  private record AnswerSeeingLoader(ComponentLoader classPath) implements ComponentLoader {
    @Override
    @SuppressWarnings("unchecked") // T is GrpcSenderProvider in that branch
    public <T> Iterable<T> load(Class<T> type) {
      Iterable<T> found = classPath.load(type);
      if (type != GrpcSenderProvider.class) {
        return found;
      }
      // One provider is on the class path (OkHttp's): the SDK takes it without asking which.
      return (Iterable<T>)
          ComponentLoader.loadList(classPath, GrpcSenderProvider.class).stream().map(AnswerSeeingProvider::new).toList();
    }
  }

  /** Makes the senders the SDK's exporter sends with. */
  private record AnswerSeeingProvider(GrpcSenderProvider provider) implements GrpcSenderProvider {
    @Override
    public GrpcSender createSender(GrpcSenderConfig config) {
      return new AnswerSeeingSender(provider.createSender(config));
    }
  }

  /** Passes each final answer to the export on whose thread it was sent. */
  private record AnswerSeeingSender(GrpcSender sender) implements GrpcSender {
    @Override
    public void send(MessageWriter request, Consumer<GrpcResponse> onResponse, Consumer<Throwable> onError) {
      LastAnswer answer = exporting.get();
      if (answer == null) {
        sender.send(request, onResponse, onError);
        return;
      }
      sender.send(
          request,
          response -> {
            answer.response = response;
            onResponse.accept(response);
          },
          onError);
    }

    @Override
    public CompletableResultCode shutdown() {
      return sender.shutdown();
    }
  }
}
