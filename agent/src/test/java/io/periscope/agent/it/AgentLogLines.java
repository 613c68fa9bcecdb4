package io.periscope.agent.it;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Every line the agent logs while a test's agent runs, at every level, FINE included (parse
 * failures are logged there, with what failed to parse): the privacy rules hold for the logs as
 * for the spans. The console shows what it showed before: its own handler keeps its level.
 */
final class AgentLogLines extends Handler {
  /** Far more than a test logs; past it, lines are counted, not kept, and the check fails. */
  private static final int LIMIT = 50_000;
  private static final SimpleFormatter FORMAT = new SimpleFormatter();

  /** Held: a logger no one references may be collected, its level with it. */
  private final Logger periscope = Logger.getLogger("io.periscope");
  private final Level previousLevel;
  private final List<String> lines = new ArrayList<>();
  private int overflow;

  private AgentLogLines() {
    previousLevel = periscope.getLevel();
    setLevel(Level.ALL);
    periscope.setLevel(Level.ALL);
    periscope.addHandler(this);
  }

  static AgentLogLines capture() {
    return new AgentLogLines();
  }

  @Override
  public synchronized void publish(LogRecord record) {
    if (lines.size() >= LIMIT) {
      overflow++;
      return;
    }
    StringBuilder line = new StringBuilder(record.getLevel() + " " + record.getLoggerName() + ": "
        + FORMAT.formatMessage(record));
    if (record.getThrown() != null) {
      StringWriter trace = new StringWriter();
      record.getThrown().printStackTrace(new PrintWriter(trace));
      line.append('\n').append(trace);
    }
    lines.add(line.toString());
  }

  synchronized List<String> lines() {
    if (overflow > 0) {
      throw new AssertionError(overflow + " log lines past the " + LIMIT + " kept: the check would be blind to them");
    }
    return List.copyOf(lines);
  }

  @Override
  public void flush() {
  }

  @Override
  public void close() {
    periscope.removeHandler(this);
    periscope.setLevel(previousLevel);
  }
}
