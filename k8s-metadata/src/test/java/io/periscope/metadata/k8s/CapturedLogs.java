package io.periscope.metadata.k8s;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** What the agent's Kubernetes side logs, for assertions; detach with {@link #close()}. */
final class CapturedLogs extends Handler implements AutoCloseable {
  private final Logger logger = Logger.getLogger("io.periscope.metadata.kubernetes");
  private final List<LogRecord> records = new CopyOnWriteArrayList<>();

  CapturedLogs() {
    logger.addHandler(this);
  }

  List<String> at(Level level) {
    return records.stream().filter(r -> r.getLevel().equals(level)).map(LogRecord::getMessage).toList();
  }

  @Override
  public void publish(LogRecord record) {
    records.add(record);
  }

  @Override
  public void flush() {}

  @Override
  public void close() {
    logger.removeHandler(this);
  }
}
