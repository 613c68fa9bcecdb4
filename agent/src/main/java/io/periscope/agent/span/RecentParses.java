package io.periscope.agent.span;

import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Strings that recur from span to span (authorities, gRPC paths), each parsed once while it
 * recurs: a service is asked for by the same few names and offers the same few methods, and
 * parsing them per span cost substrings and records for every span. Direct-mapped by hash, so
 * bounded; a collision only costs a parse. A result must be immutable, as equal strings share it.
 * One per span factory and kind of string, on the pipeline thread.
 */
final class RecentParses<T> {
  private static final int SIZE = 256;

  private final Function<String, @Nullable T> parser;
  private final String[] inputs = new String[SIZE];
  private final Object[] results = new Object[SIZE];

  RecentParses(Function<String, @Nullable T> parser) {
    this.parser = parser;
  }

  /** What the parser says of it; null results are not kept. */
  @SuppressWarnings("unchecked")
  @Nullable T parse(String input) {
    int index = input.hashCode() & (SIZE - 1);
    String seen = inputs[index];
    if (seen != null && (seen == input || seen.equals(input))) {
      return (T) results[index];
    }
    T result = parser.apply(input);
    if (result != null) {
      inputs[index] = input;
      results[index] = result;
    }
    return result;
  }
}
