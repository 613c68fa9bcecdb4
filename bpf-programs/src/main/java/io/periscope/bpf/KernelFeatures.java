package io.periscope.bpf;

import java.util.ArrayList;
import java.util.List;

/**
 * The BPF features of the running kernel that decide which variant of the programs loads, probed
 * with libbpf's feature probes (each loads a tiny program or makes a tiny map): never inferred from
 * the version string, since distributions backport features into old versions.
 *
 * @param ringBuffer   BPF_MAP_TYPE_RINGBUF (5.8): needed by every variant
 * @param taskStorage  BPF_MAP_TYPE_TASK_STORAGE (5.11)
 * @param taskBtf      bpf_get_current_task_btf (5.11)
 * @param taskPtRegs   bpf_task_pt_regs (5.15)
 * @param loop         bpf_loop (5.17)
 * @param injection    sockops and sk_msg programs, bpf_msg_push_data and the sockhash (traceparent injection)
 */
public record KernelFeatures(boolean ringBuffer, boolean taskStorage, boolean taskBtf, boolean taskPtRegs,
    boolean loop, boolean injection) {
  // Numbers from the kernel's UAPI (include/uapi/linux/bpf.h): stable by contract.
  private static final int PROG_TRACEPOINT = 5;
  private static final int PROG_SOCK_OPS = 13;
  private static final int PROG_SK_MSG = 16;
  private static final int MAP_SOCKHASH = 18;
  private static final int MAP_RINGBUF = 27;
  private static final int MAP_TASK_STORAGE = 29;
  private static final int FUNC_MSG_PUSH_DATA = 90;
  private static final int FUNC_GET_CURRENT_TASK_BTF = 158;
  private static final int FUNC_TASK_PT_REGS = 175;
  private static final int FUNC_LOOP = 181;

  /** Every feature: what a current kernel has. */
  public static final KernelFeatures ALL = new KernelFeatures(true, true, true, true, true, true);

  /** Probes the running kernel (needs the privileges that loading needs). */
  public static KernelFeatures probe() {
    return new KernelFeatures(
        yes(Libbpf.probeMapType(MAP_RINGBUF)),
        yes(Libbpf.probeMapType(MAP_TASK_STORAGE)),
        yes(Libbpf.probeHelper(PROG_TRACEPOINT, FUNC_GET_CURRENT_TASK_BTF)),
        yes(Libbpf.probeHelper(PROG_TRACEPOINT, FUNC_TASK_PT_REGS)),
        yes(Libbpf.probeHelper(PROG_TRACEPOINT, FUNC_LOOP)),
        yes(Libbpf.probeProgramType(PROG_SOCK_OPS)) && yes(Libbpf.probeProgramType(PROG_SK_MSG))
            && yes(Libbpf.probeHelper(PROG_SK_MSG, FUNC_MSG_PUSH_DATA)) && yes(Libbpf.probeMapType(MAP_SOCKHASH)));
  }

  private static boolean yes(int probe) {
    return probe == 1;
  }

  /** Whether the full variant loads here: it keeps per-thread state in task storage and walks frames with bpf_loop. */
  public boolean full() {
    return taskStorage && taskBtf && taskPtRegs && loop;
  }

  /** What the full variant needs that this kernel lacks, by name (empty when nothing is missing). */
  public List<String> missingForFull() {
    List<String> missing = new ArrayList<>();
    if (!loop) {
      missing.add("bpf_loop");
    }
    if (!taskStorage) {
      missing.add("task storage");
    }
    if (!taskBtf) {
      missing.add("bpf_get_current_task_btf");
    }
    if (!taskPtRegs) {
      missing.add("bpf_task_pt_regs");
    }
    return missing;
  }
}
