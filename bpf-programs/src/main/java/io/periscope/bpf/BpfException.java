package io.periscope.bpf;

/** A kernel or libbpf operation failed; the message says what was attempted and why it failed. */
public final class BpfException extends RuntimeException {
  private final int errno;

  public BpfException(String message) {
    this(message, 0);
  }

  public BpfException(String message, int errno) {
    super(errno == 0 ? message : message + ": " + Errno.describe(errno));
    this.errno = errno;
  }

  /** The positive errno behind the failure, or 0 when there was none. */
  public int errno() {
    return errno;
  }
}
