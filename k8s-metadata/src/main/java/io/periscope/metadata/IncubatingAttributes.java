package io.periscope.metadata;

import io.opentelemetry.api.common.AttributeKey;

/**
 * Resource attribute keys that OpenTelemetry still marks as development and therefore publishes
 * only in {@code io.opentelemetry.semconv:opentelemetry-semconv-incubating} (1.37.0-alpha). That
 * artifact may rename or drop a constant in any release, so, as the semantic-conventions projects
 * advise libraries, the few keys used here are copied rather than depended on. Names and types are
 * those of semantic conventions 1.37.0.
 */
final class IncubatingAttributes {

  /** {@code process.pid}: the process identifier. */
  static final AttributeKey<Long> PROCESS_PID = AttributeKey.longKey("process.pid");

  /** {@code process.executable.name}: on Linux, the base name of the target of {@code /proc/[pid]/exe}. */
  static final AttributeKey<String> PROCESS_EXECUTABLE_NAME = AttributeKey.stringKey("process.executable.name");

  /** {@code process.executable.path}: on Linux, the target of {@code /proc/[pid]/exe}. */
  static final AttributeKey<String> PROCESS_EXECUTABLE_PATH = AttributeKey.stringKey("process.executable.path");

  /** {@code process.command}: the command name; on Linux, the zeroth string of {@code /proc/[pid]/cmdline}. */
  static final AttributeKey<String> PROCESS_COMMAND = AttributeKey.stringKey("process.command");

  /** {@code host.name}: the host name, as {@code hostname} returns it. */
  static final AttributeKey<String> HOST_NAME = AttributeKey.stringKey("host.name");

  private IncubatingAttributes() {}
}
