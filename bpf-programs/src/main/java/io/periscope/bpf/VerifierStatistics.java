package io.periscope.bpf;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the kernel's verifier reported for one program it accepted (its log at BPF_LOG_STATS):
 * the instructions it processed, against {@link #INSTRUCTION_LIMIT}, and the stack depth of each
 * subprogram (the main program, then the bpf-to-bpf functions and {@code bpf_loop} callbacks the
 * program calls, in the order the verifier numbered them).
 *
 * <p>{@link #combinedStack()} adds every subprogram's depth: no call chain can be deeper, whatever
 * the call graph, so keeping it under {@link #STACK_BUDGET} keeps every chain there, on any
 * kernel's way of counting (private stacks, rounding, callbacks counted or not).
 */
public record VerifierStatistics(String program, long instructionsProcessed, List<Integer> stackDepths) {
  /** The verifier's hard limit for one call chain's stack (MAX_BPF_STACK). */
  public static final int STACK_LIMIT = 512;
  /** What our programs may use of it: a quarter kept free for verifiers that count more. */
  public static final int STACK_BUDGET = 384;
  /** The verifier's limit on instructions processed per program (BPF_COMPLEXITY_LIMIT_INSNS, since 5.2). */
  public static final long INSTRUCTION_LIMIT = 1_000_000;
  /** What our programs may use of it: older verifiers prune fewer states and process more. */
  public static final long INSTRUCTION_BUDGET = INSTRUCTION_LIMIT / 2;

  private static final Pattern STACK = Pattern.compile("^stack depth ([0-9+]+)$", Pattern.MULTILINE);
  private static final Pattern PROCESSED = Pattern.compile("^processed (\\d+) insns", Pattern.MULTILINE);

  public VerifierStatistics {
    stackDepths = List.copyOf(stackDepths);
  }

  /** The sum of every subprogram's stack depth: a bound on every call chain's. */
  public int combinedStack() {
    return stackDepths.stream().mapToInt(Integer::intValue).sum();
  }

  /** Reads the statistics lines of a verifier log; throws if the log has none (a kernel that logged nothing). */
  static VerifierStatistics parse(String program, String log) {
    Matcher processed = PROCESSED.matcher(log);
    Matcher stack = STACK.matcher(log);
    if (!processed.find() || !stack.find()) {
      throw new BpfException("the verifier's log for " + program + " has no statistics: " + log.strip());
    }
    List<Integer> depths = new ArrayList<>();
    for (String depth : stack.group(1).split("\\+")) {
      depths.add(Integer.parseInt(depth));
    }
    return new VerifierStatistics(program, Long.parseLong(processed.group(1)), depths);
  }

  /** "exit_read: 40715 instructions, stack 152+32+88+8 = 280 bytes". */
  @Override
  public String toString() {
    return program + ": " + instructionsProcessed + " instructions, stack "
        + String.join("+", stackDepths.stream().map(String::valueOf).toList()) + " = " + combinedStack() + " bytes";
  }
}
