package io.periscope.agent.link;

/**
 * What linking did. Written by the pipeline thread only; readers on other threads may see slightly
 * stale values, which is fine for counters.
 *
 * @see TraceLinker
 */
public final class LinkStats {
  long linked;
  long linkedInProcess;
  long ambiguous;
  long unlinkedAfterWait;
  long heldOverflow;
  long sdkProcesses;
  long sdkClientSpans;
  long sdkServerSpans;
  long injected;
  long injectedElsewhere;
  long kernelContextsDropped;
  long unfinishedParents;

  /** Server spans made children of a client span seen on this node. */
  public long linked() {
    return linked;
  }

  /** Client spans made children of the server span their thread was serving. */
  public long linkedInProcess() {
    return linkedInProcess;
  }

  /** Client spans left without a parent: their thread was serving several requests at once. */
  public long ambiguous() {
    return ambiguous;
  }

  /** Server spans that waited for a traced client on this node that did not show up within the window. */
  public long unlinkedAfterWait() {
    return unlinkedAfterWait;
  }

  /** Spans released early, unlinked, because too many were waiting. */
  public long heldOverflow() {
    return heldOverflow;
  }

  /** Processes found to have an OpenTelemetry SDK of their own (they send traceparents they did not receive). */
  public long sdkProcesses() {
    return sdkProcesses;
  }

  /** Client spans not made: the process's SDK made its own for those calls. */
  public long sdkClientSpans() {
    return sdkClientSpans;
  }

  /** Server spans not made for processes with an SDK of their own. */
  public long sdkServerSpans() {
    return sdkServerSpans;
  }

  /** Client spans whose request the kernel gave a traceparent (injection on): they carry its ids. */
  public long injected() {
    return injected;
  }

  /**
   * Injected client spans left as roots: the kernel had put them in another trace than the request
   * their thread was serving (it judges from syscalls alone, before the agent has seen anything).
   */
  public long injectedElsewhere() {
    return injectedElsewhere;
  }

  /** Injected contexts or kernel-made traces whose request start never came, pushed out of their table. */
  public long kernelContextsDropped() {
    return kernelContextsDropped;
  }

  /**
   * Spans made for requests never seen to end (their connection lost to the parser, evicted, or
   * pushed out of a full table) because another span names them as parent.
   */
  public long unfinishedParents() {
    return unfinishedParents;
  }
}
