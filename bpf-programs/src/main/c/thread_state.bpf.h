/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * What the programs keep per thread, and what they read of the current task: the one place where
 * the two variants of the object differ in how, never in what.
 *
 * - The full variant (kernels with task-local storage, bpf_get_current_task_btf and
 *   bpf_task_pt_regs: 5.15 and newer) keeps a thread's syscall in its task storage, which the
 *   kernel frees with the thread, and reads a syscall's arguments at exit from the registers the
 *   task saved at entry: reads need no entry program at all.
 * - The compat variant (PERISCOPE_COMPAT: 5.10 and newer) keeps it in an LRU hash keyed by the
 *   thread, bounded and counted like every table, and saves the arguments at entry; a read that
 *   was already blocked when the programs were attached is therefore not captured.
 */
#ifndef THREAD_STATE_BPF_H
#define THREAD_STATE_BPF_H

/* The arguments of the data syscalls that the exit programs use. */
struct syscall_args {
	__u64 buf;  /* the buffer, iovec array or msghdr */
	__u64 arg3; /* the length, iovec count or msg flags */
	__u64 arg4; /* recvfrom's flags */
	__s32 fd;
	__u32 pad;
};

struct inflight {
	__u64 enter_ns;
	__u64 exec_id;  /* the task's self_exec_id when the verdict was made */
	__s32 fd;       /* accept/connect: the listening or connecting fd */
	__u8 syscall;
	__u8 active;    /* set at entry, cleared at exit */
	__u8 verdict;   /* the process filter's answer for this thread: 0 unknown, 1 traced, 2 not */
	__u8 in_tls;    /* inside a probed TLS library call (SSL_read, SSL_write...): its syscalls carry ciphertext */
#ifdef PERISCOPE_COMPAT
	struct syscall_args args; /* saved at entry: there are no saved registers to read at exit */
#endif
};

#define VERDICT_TRACED 1
#define VERDICT_IGNORED 2

#ifndef PERISCOPE_COMPAT

/*
 * The syscall a thread is in, between entry and exit. Task-local storage: no hashing, bounded by
 * the number of threads, freed by the kernel when a thread exits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

#define INFLIGHT_CREATE BPF_LOCAL_STORAGE_GET_F_CREATE
/* Only writes need their entry (for its time). */
#define ARGS_SAVED_AT_ENTRY 0

static __always_inline struct inflight *inflight_of_current(__u64 flags)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, flags);
}

static __always_inline __u64 current_exec_id(void)
{
	return bpf_get_current_task_btf()->self_exec_id;
}

/*
 * Loaded straight from the task (a trusted pointer, plain loads) rather than through
 * bpf_get_current_comm, whose copy was a tenth of a captured syscall's program time. The kernel
 * keeps comm NUL-padded, so the record holds what the helper would have written.
 */
static __always_inline void current_comm(__u8 comm[16])
{
	struct task_struct *task = bpf_get_current_task_btf();
	__builtin_memcpy(comm, task->comm, 16);
}

/* Arguments saved at entry: nothing to do, the exit reads the task's saved registers. */
static __always_inline void save_syscall_args(struct inflight *call, void *ctx, __u8 syscall) {}

/* The arguments of the syscall this thread is leaving; plain loads from a trusted pointer. */
static __always_inline bool syscall_args(struct inflight *call, struct syscall_args *args)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	args->fd = PT_REGS_PARM1_SYSCALL(regs);
	args->buf = PT_REGS_PARM2_SYSCALL(regs);
	args->arg3 = PT_REGS_PARM3_SYSCALL(regs);
	args->arg4 = PT_REGS_PARM4_SYSCALL(regs);
	return true;
}

#else /* PERISCOPE_COMPAT */

/*
 * The syscall a thread is in, between entry and exit, keyed by thread. Entries of threads that
 * exited stay until the LRU lets them go, which it does first: they are used least recently.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

#define INFLIGHT_CREATE 1
/* Every captured syscall needs its entry, for its arguments. */
#define ARGS_SAVED_AT_ENTRY 1

static __always_inline struct inflight *inflight_of_current(__u64 flags)
{
	__u64 thread = bpf_get_current_pid_tgid();
	struct inflight *call = bpf_map_lookup_elem(&inflight, &thread);
	if (call || !flags)
		return call;
	struct inflight fresh = {};
	bpf_map_update_elem(&inflight, &thread, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&inflight, &thread);
}

static __always_inline __u64 current_exec_id(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, self_exec_id);
}

static __always_inline void current_comm(__u8 comm[16])
{
	bpf_get_current_comm(comm, 16);
}

/*
 * Only the arguments the syscall has: the kernel refuses to attach a program that reads past its
 * tracepoint's record (EACCES), and read's record ends after its third argument.
 */
static __always_inline void save_syscall_args(struct inflight *call, struct trace_event_raw_sys_enter *ctx,
					      __u8 syscall)
{
	call->args.fd = ctx->args[0];
	call->args.buf = ctx->args[1];
	call->args.arg3 = ctx->args[2];
	call->args.arg4 = syscall == SYS_RECVFROM ? ctx->args[3] : 0;
}

/* The arguments saved at the entry of the syscall this thread is leaving. */
static __always_inline bool syscall_args(struct inflight *call, struct syscall_args *args)
{
	if (!call)
		return false;
	*args = call->args;
	return true;
}

#endif /* PERISCOPE_COMPAT */
#endif /* THREAD_STATE_BPF_H */
