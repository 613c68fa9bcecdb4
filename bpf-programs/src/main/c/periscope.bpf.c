// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Socket-layer capture for Periscope: syscall tracepoints record the bytes every traced
 * process moves over TCP, with the socket's addresses and the TCP sequence number of the first
 * byte, into one ring buffer. Nothing here knows HTTP; the Java side parses the streams.
 *
 * Per syscall: the exit does the work, once the byte count is known: it takes the arguments from
 * the registers the task saved at entry, resolves fd -> struct sock (cached per tgid+fd), filters,
 * copies a payload prefix (and, when that was cut, the last bytes) into a per-CPU scratch record
 * and submits it without waking the reader (the reader polls; a wakeup per event quadruples the
 * in-kernel cost). Egress entries only note the time a request began to leave.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "periscope.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define TCP_CLOSE 7
#define MSG_PEEK 2
#define RCV_SHUTDOWN 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct periscope_config settings = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[16]);
	__type(value, __u8);
} filter_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

/* Both endpoints of a TCP connection, as one end sees them. */
struct connection_key {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 pad[4];
};

/*
 * The agent's own outgoing connections (OTLP export), as the agent sees them. A collector on this
 * node reading from such a connection must not be traced, or every batch would trace the last.
 * Both endpoints, not the agent's local port alone: Linux gives one ephemeral port to several
 * connections whose destinations differ, and hands a freed port to the next program at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct connection_key);
	__type(value, __u8);
} agent_connections SEC(".maps");


struct fd_key {
	__u32 tgid;
	__s32 fd;
};

/*
 * Where one direction of an HTTP/2 connection stands between two syscalls: inside the payload of
 * a frame, or inside a frame header that a syscall boundary cut (RFC 9113 §4.1: a frame is a
 * 9-byte header, whose first 3 bytes are the payload length and the 4th the type, then the payload).
 */
struct h2_cursor {
	__u32 remaining;  /* payload bytes of the current frame still to come */
	__u8 elide;       /* the current frame's payload is skipped, not copied (DATA, unknown types) */
	__u8 have;        /* bytes of the next frame header already seen (0-8) ... */
	__u8 synced;      /* frame boundaries in this direction are known */
	__u8 seen;        /* bytes of this direction were seen before */
	__u8 header[8];   /* ... and those bytes */
};

enum h2_verdict { H2_UNDECIDED = 0, H2_YES = 1, H2_NO = 2 };

/* What a traced socket fd is, worked out once: every later syscall on it costs one lookup. */
struct sock_info {
	__u64 sock;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 port_traced;  /* the port filter passed (always, without one) */
	__u8 peer_checked; /* agent_peer below is known (decided at the first bytes moved) */
	__u8 agent_peer;   /* the other end is the agent's own export connection */
	__u8 h2;           /* enum h2_verdict: does this connection carry HTTP/2 frames? */
	__u8 h2_probes;    /* syscalls looked at for frames while undecided */
	__u8 fresh;        /* made at accept()/connect(): the first byte of each direction begins the stream */
	__u8 origin;       /* enum origin: how it was made, when that was seen */
	__u8 request_open; /* injection: a request was read on it and its answer has not begun */
	__u8 pad[4];
	struct h2_cursor h2_ingress;
	struct h2_cursor h2_egress;
};

/* fd -> socket cache; dropped on close() and when the socket reaches TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, struct sock_info);
} fd_socks SEC(".maps");

/* The reverse of fd_socks, so the TCP_CLOSE transition (softirq, no fd) can find the cache entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct fd_key);
} sock_fds SEC(".maps");

struct inflight {
	__u64 enter_ns;
	__u64 exec_id;  /* the task's self_exec_id when the verdict was made */
	__s32 fd;       /* accept/connect: the listening or connecting fd */
	__u8 syscall;
	__u8 active;    /* set at entry, cleared at exit */
	__u8 verdict;   /* the process filter's answer for this thread: 0 unknown, 1 traced, 2 not */
	__u8 pad;
};

#define VERDICT_TRACED 1
#define VERDICT_IGNORED 2

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

/* The iovec array of a readv/writev/recvmsg/sendmsg, fetched with one copy rather than one per iovec. */
struct iovecs {
	struct iovec v[MAX_IOV];
};

/*
 * One record being made, and the working space of the program making it. Large structs live here,
 * not on the stack: the verifier allows 512 bytes for the whole call chain (main program,
 * subprograms, bpf_loop callbacks), some builds count it differently from others, and we keep
 * every chain under STACK_BUDGET (tested).
 */
struct scratch {
	struct socket_event event;
	/*
	 * Twice MAX_CAPTURE so that "offset < MAX_CAPTURE, length <= MAX_CAPTURE" is provably in
	 * bounds, and room for the tail after a full capture.
	 */
	__u8 payload[2 * MAX_CAPTURE + TAIL_BYTES];
	struct iovecs iovs;       /* the syscall's first MAX_IOV iovecs */
	struct user_msghdr msg;   /* a recvmsg/sendmsg's header */
	struct sock_info sock;    /* a socket cache entry being made */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_space SEC(".maps");

static __always_inline void count(__u32 id)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &id);
	if (value)
		*value += 1;
}

static __always_inline struct inflight *inflight_of_current(__u64 flags)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, flags);
}

/*
 * The agent itself, and processes outside the pid/comm filter, are never traced. With a filter
 * the verdict is cached per thread (in its task storage) until the thread execs, so a thread of
 * an untraced process pays for the filter lookups once, not per syscall. The name compared is the
 * process's (its main thread's comm), not the calling thread's: JVM threads rename themselves.
 */
static __always_inline bool process_traced_cached(__u32 tgid, struct inflight *cache)
{
	if (tgid == settings.agent_tgid)
		return false;
	if (!settings.filter_pids && !settings.filter_comms)
		return true;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 exec_id = task->self_exec_id;
	if (cache && cache->verdict && cache->exec_id == exec_id)
		return cache->verdict == VERDICT_TRACED;
	bool traced = false;
	if (settings.filter_pids && bpf_map_lookup_elem(&filter_pids, &tgid))
		traced = true;
	if (!traced && settings.filter_comms) {
		char comm[16] = {};
		BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
		traced = bpf_map_lookup_elem(&filter_comms, comm) != NULL;
	}
	if (cache) {
		cache->exec_id = exec_id;
		cache->verdict = traced ? VERDICT_TRACED : VERDICT_IGNORED;
	}
	return traced;
}

/* The same, for a caller without the thread's storage at hand: looked up only if a filter needs it. */
static __always_inline bool process_traced(__u32 tgid)
{
	bool filtered = settings.filter_pids || settings.filter_comms;
	return process_traced_cached(tgid, filtered ? inflight_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE) : NULL);
}

static __always_inline bool port_traced(__u16 local_port, __u16 remote_port)
{
	if (!settings.filter_ports)
		return true;
	return bpf_map_lookup_elem(&filter_ports, &local_port) || bpf_map_lookup_elem(&filter_ports, &remote_port);
}

/* fd -> file -> socket -> sock, or 0 when fd is not a TCP socket over IPv4/IPv6. */
static __always_inline __u64 tcp_sock_of_fd(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *file = NULL;
	if (!fds || fd < 0)
		return 0;
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	if (!file)
		return 0;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *socket = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(socket, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (BPF_CORE_READ(sk, sk_type) != SOCK_STREAM || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return (__u64)sk;
}

static __always_inline void read_endpoints(struct sock *sk, struct sock_info *info)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	info->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	info->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		/* IPv4 as a v4-mapped IPv6 address, so there is one address format downstream. */
		__builtin_memset(info->local_addr, 0, 16);
		__builtin_memset(info->remote_addr, 0, 16);
		info->local_addr[10] = 0xff;
		info->local_addr[11] = 0xff;
		info->remote_addr[10] = 0xff;
		info->remote_addr[11] = 0xff;
		bpf_core_read(&info->local_addr[12], 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(&info->remote_addr[12], 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(info->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(info->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline struct scratch *scratch_record(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_space, &zero);
}

/*
 * Caches what a socket fd is; returns the cache entry, or NULL when the fd is not a TCP socket.
 * The slow walk runs once per socket fd (and for every non-socket fd: nothing could invalidate a
 * negative entry).
 */
static __always_inline struct sock_info *remember_sock(struct scratch *s, __u32 tgid, __s32 fd, __u64 sock,
							   __u8 origin)
{
	struct fd_key key = {.tgid = tgid, .fd = fd};
	struct sock_info *info = &s->sock;
	__builtin_memset(info, 0, sizeof(*info));
	info->sock = sock;
	info->fresh = origin != ORIGIN_UNKNOWN;
	info->origin = origin;
	read_endpoints((struct sock *)sock, info);
	info->port_traced = port_traced(info->local_port, info->remote_port);
	bpf_map_update_elem(&fd_socks, &key, info, BPF_ANY);
	bpf_map_update_elem(&sock_fds, &sock, &key, BPF_ANY);
	return bpf_map_lookup_elem(&fd_socks, &key);
}

static __always_inline struct sock_info *lookup_sock(struct scratch *s, __u32 tgid, __s32 fd)
{
	struct fd_key key = {.tgid = tgid, .fd = fd};
	struct sock_info *cached = bpf_map_lookup_elem(&fd_socks, &key);
	if (cached)
		return cached;
	__u64 sock = tcp_sock_of_fd(fd);
	return sock ? remember_sock(s, tgid, fd, sock, ORIGIN_UNKNOWN) : NULL;
}

static __always_inline void connection_key(struct connection_key *key, struct sock_info *info)
{
	__builtin_memcpy(key->local_addr, info->local_addr, 16);
	__builtin_memcpy(key->remote_addr, info->remote_addr, 16);
	key->local_port = info->local_port;
	key->remote_port = info->remote_port;
}

/*
 * Decided when the first bytes move, then kept in the socket's cache entry: the agent's connect()
 * has surely returned (and recorded its endpoint) once the agent has written to the connection,
 * but not necessarily when the collector accepted it.
 */
static __always_inline bool is_agent_peer(struct sock_info *info)
{
	/* The agent's side of this connection: our remote endpoint is its local one, and back. */
	struct connection_key agent = {};
	__builtin_memcpy(agent.local_addr, info->remote_addr, 16);
	__builtin_memcpy(agent.remote_addr, info->local_addr, 16);
	agent.local_port = info->remote_port;
	agent.remote_port = info->local_port;
	return bpf_map_lookup_elem(&agent_connections, &agent) != NULL;
}

/*
 * Fill the fields every record has. The time is the caller's: a data record's is the exit time it
 * already took (a clock read here again was a twentieth of a captured syscall's program time).
 */
static __always_inline void fill_header(struct socket_event *e, __u8 type, struct sock_info *info, __s32 fd,
					__u8 syscall, __u64 exit_ns)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->type = type;
	e->direction = DIR_INGRESS;
	e->origin = ORIGIN_UNKNOWN;
	e->syscall = syscall;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->fd = fd;
	e->sock = info->sock;
	e->enter_ns = 0;
	e->exit_ns = exit_ns;
	e->seq = 0;
	e->total_len = 0;
	e->captured_len = 0;
	e->tail_len = 0;
	e->mode = CAPTURE_BYTES;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->frames_len = 0;
	e->frame_start = 0;
	e->frame_start_wire = 0;
	e->reserved = 0;
	e->local_port = info->local_port;
	e->remote_port = info->remote_port;
	__builtin_memcpy(e->local_addr, info->local_addr, 16);
	__builtin_memcpy(e->remote_addr, info->remote_addr, 16);
	/*
	 * Loaded straight from the task (a trusted pointer, plain loads) rather than through
	 * bpf_get_current_comm, whose copy was a tenth of a captured syscall's program time. The
	 * kernel keeps comm NUL-padded, so the record holds what the helper would have written.
	 */
	struct task_struct *task = bpf_get_current_task_btf();
	__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
}

static __always_inline void submit(struct socket_event *e)
{
	__u64 size = sizeof(*e) + (e->captured_len & (2 * MAX_CAPTURE - 1)) + (e->tail_len & (2 * TAIL_BYTES - 1));
	if (size > sizeof(struct scratch))
		return;
	if (bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP)) {
		count(COUNTER_RINGBUF_DROPS);
		return;
	}
	count(COUNTER_EVENTS);
}

static __always_inline __u32 capture_limit(void)
{
	__u32 limit = settings.capture_bytes;
	return limit > MAX_CAPTURE ? MAX_CAPTURE : limit;
}

/* Copy up to len user bytes to payload[offset]; returns the bytes copied. */
static __always_inline __u32 copy_user(struct scratch *s, __u32 offset, __u64 src, __u64 len)
{
	__u32 limit = capture_limit();
	if (offset >= limit)
		return 0;
	__u64 room = limit - offset;
	__u64 n = len < room ? len : room;
	if (n > MAX_CAPTURE)
		n = MAX_CAPTURE;
	offset &= MAX_CAPTURE - 1;
	if (bpf_probe_read_user(&s->payload[offset], n, (void *)src))
		return 0;
	return n;
}

static __always_inline bool read_iovecs(struct iovecs *iovs, __u64 iov_ptr, __u32 iovcnt)
{
	__u64 size = (__u64)iovcnt * sizeof(struct iovec);
	if (size > sizeof(*iovs))
		size = sizeof(*iovs);
	/* Keeps the bound visible to the verifier whatever registers clang picks. */
	barrier_var(size);
	size &= 2 * sizeof(*iovs) - 1;
	if (size > sizeof(*iovs))
		return false;
	return bpf_probe_read_user(iovs, size, (void *)iov_ptr) == 0;
}

static __always_inline __u32 copy_iovec(struct scratch *s, struct iovecs *iovs, __u32 iovcnt, __u64 len)
{
	__u32 copied = 0;
	__u64 left = len;
#pragma unroll
	for (int i = 0; i < MAX_IOV; i++) {
		if (i >= iovcnt || left == 0)
			break;
		__u64 n = iovs->v[i].iov_len < left ? iovs->v[i].iov_len : left;
		__u32 got = copy_user(s, copied, (__u64)iovs->v[i].iov_base, n);
		copied += got;
		left -= n;
		if (got < n)
			break; /* capture limit reached */
	}
	return copied;
}

/* Copies the last n (<= TAIL_BYTES) of the len bytes at src to payload[offset]; returns n or 0. */
static __always_inline __u32 copy_tail(struct scratch *s, __u32 offset, __u64 src, __u64 len, __u32 n)
{
	if (n > TAIL_BYTES || n > len || offset > MAX_CAPTURE)
		return 0;
	offset &= 2 * MAX_CAPTURE - 1;
	if (bpf_probe_read_user(&s->payload[offset], n, (void *)(src + len - n)))
		return 0;
	return n;
}

/* The tail of what an iovec array moved: taken from the iovec holding the last byte. */
static __always_inline __u32 copy_iovec_tail(struct scratch *s, __u32 offset, struct iovecs *iovs, __u32 iovcnt,
					      __u64 len, __u32 want)
{
	__u64 left = len;
	/* A bounded loop (kernel >= 5.3): the early return keeps clang from unrolling it. */
	for (int i = 0; i < MAX_IOV; i++) {
		if (i >= iovcnt)
			return 0;
		__u64 iov_len = iovs->v[i].iov_len;
		if (iov_len >= left) {
			/* The last byte is in this iovec, `left` bytes into it. */
			__u32 n = left < want ? left : want;
			return copy_tail(s, offset, (__u64)iovs->v[i].iov_base, left, n);
		}
		left -= iov_len;
	}
	return 0; /* beyond MAX_IOV iovecs: no tail */
}

/* TCP sequence number of the first byte a syscall moved, from the socket's counter after the call. */
static __always_inline __u32 first_seq(__u64 sock, __u8 direction, long ret)
{
	struct tcp_sock *tp = (struct tcp_sock *)sock;
	if (direction == DIR_EGRESS)
		return BPF_CORE_READ(tp, write_seq) - (__u32)ret;
	__u32 copied = BPF_CORE_READ(tp, copied_seq);
	/*
	 * A read that reached the peer's FIN counted the FIN too (it takes one sequence number):
	 * then everything received was read, and the receive side is shut down.
	 */
	struct sock *sk = (struct sock *)sock;
	if ((BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) & RCV_SHUTDOWN) && copied == BPF_CORE_READ(tp, rcv_nxt))
		copied--;
	return copied - (__u32)ret;
}

/* ---- HTTP/2: frame-aware capture ---- */

#define H2_FRAME_HEADER 9
/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 §3.4: the first bytes a client sends. */
#define H2_PREFACE_LEN 24
/*
 * Pieces walked per syscall: a frame header (or the part of one inside an iovec), a payload
 * stretch, a step to the next iovec. A gRPC write of a few calls takes tens; a syscall needing
 * more loses the frame boundaries (counted), and the capture finds them again later.
 */
#define H2_MAX_STEPS 4096
/* Syscalls of a connection of unknown protocol whose bytes are tried as frames before giving up. */
#define H2_PROBES 8
/* iovecs an HTTP/2 walk follows (the kernel's UIO_MAXIOV). */
#define H2_MAX_IOV 1024
#define H2_NONE 0xffffffff

/* One walk over the bytes of one syscall; per CPU, so the loop's callback can reach it. */
struct h2_walk {
	struct h2_cursor cur;
	__u8 header[32];   /* the frame header being assembled (9 bytes used; room for the verifier) */
	__u64 iov_array;   /* the user's iovec array, or 0 for a single buffer */
	__u64 piece_base;  /* the buffer (or iovec) being walked */
	__u64 piece_len;
	__u32 piece_pos;   /* the walk position where that piece begins */
	__u32 iov_index;
	__u32 iovcnt;
	__u32 len;         /* bytes the syscall moved */
	__u32 pos;         /* bytes walked so far */
	__u32 out;         /* frame-stream bytes produced, copied or not */
	__u32 copied;      /* frame-stream bytes copied into the record (a prefix of out) */
	__u32 frame_start; /* out and pos where the first header beginning in this syscall starts */
	__u32 frame_start_wire;
	__u32 frames;      /* headers completed */
	__u8 unknown_type; /* a header of a type RFC 9113 does not define was seen */
	__u8 lost;         /* a read failed or the steps ran out: the boundaries after pos are unknown */
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2_walk);
} h2_walks SEC(".maps");

static __always_inline struct h2_walk *h2_walk_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&h2_walks, &zero);
}

/* Appends n walked bytes to the frame stream; copied while the record has room and nothing was left out. */
static __always_inline void h2_emit(struct h2_walk *w, struct scratch *s, __u64 src, __u64 n)
{
	if (w->copied == w->out)
		w->copied += copy_user(s, w->copied, src, n);
	w->out += n;
}

/* One step of a walk: a piece of a header or a payload, or a move to the next iovec. 1 stops the loop. */
static long h2_step(__u64 index, void *unused)
{
	struct h2_walk *w = h2_walk_state();
	struct scratch *s = scratch_record();
	if (!w || !s || w->pos >= w->len)
		return 1;
	if (w->pos >= w->piece_pos + w->piece_len) {
		/* This iovec is used up (or empty): on to the next one. */
		if (!w->iov_array || w->iov_index + 1 >= w->iovcnt) {
			w->lost = 1;
			return 1;
		}
		struct iovec v = {};
		w->piece_pos += w->piece_len;
		w->iov_index++;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov_array + (__u64)w->iov_index * sizeof(v)))) {
			w->lost = 1;
			return 1;
		}
		w->piece_base = (__u64)v.iov_base;
		w->piece_len = v.iov_len;
		return 0;
	}
	__u64 avail = w->piece_pos + w->piece_len - w->pos;
	if (avail > w->len - w->pos)
		avail = w->len - w->pos;
	__u64 src = w->piece_base + (w->pos - w->piece_pos);

	if (w->cur.remaining) {
		__u64 n = w->cur.remaining < avail ? w->cur.remaining : avail;
		if (!w->cur.elide)
			h2_emit(w, s, src, n);
		w->cur.remaining -= n;
		w->pos += n;
		return 0;
	}

	/* A frame header, or the rest of one that the previous syscall began. */
	__u32 have = w->cur.have;
	if (have >= H2_FRAME_HEADER) {
		w->lost = 1;
		return 1;
	}
	if (have == 0 && w->frame_start == H2_NONE) {
		w->frame_start = w->out;
		w->frame_start_wire = w->pos;
	}
	__u64 n = H2_FRAME_HEADER - have;
	if (n > avail)
		n = avail;
	if (n > H2_FRAME_HEADER)
		return 1;
	have &= 15;
	if (bpf_probe_read_user(&w->header[have], n, (void *)src)) {
		w->lost = 1;
		return 1;
	}
	h2_emit(w, s, src, n);
	w->pos += n;
	w->cur.have = have + n;
	if (w->cur.have < H2_FRAME_HEADER)
		return 0; /* the header goes on in the next syscall */
	__u8 type = w->header[3];
	w->cur.remaining = ((__u32)w->header[0] << 16) | ((__u32)w->header[1] << 8) | w->header[2];
	w->cur.elide = type == 0 || type > H2_LAST_KNOWN_TYPE;
	w->cur.have = 0;
	if (type > H2_LAST_KNOWN_TYPE)
		w->unknown_type = 1;
	w->frames++;
	return 0;
}

/*
 * Walks the len bytes a syscall moved as HTTP/2 frames, from where *cursor left the stream, and
 * writes the frame stream into the record. Returns the walk (its cursor is where the stream
 * stands after the syscall), or NULL. The cursor itself is not changed.
 */
static __always_inline struct h2_walk *h2_walk_syscall(struct scratch *s, struct h2_cursor *cursor, __u64 buf,
							 __u64 iov_array, __u32 iovcnt, __u32 len)
{
	struct h2_walk *w = h2_walk_state();
	if (!w)
		return NULL;
	w->cur = *cursor;
	__builtin_memcpy(w->header, cursor->header, sizeof(cursor->header));
	w->iov_array = iov_array;
	w->iovcnt = iovcnt > H2_MAX_IOV ? H2_MAX_IOV : iovcnt;
	w->iov_index = 0;
	w->piece_pos = 0;
	w->piece_base = buf;
	w->piece_len = len;
	if (iov_array) {
		struct iovec v = {};
		if (!iovcnt || bpf_probe_read_user(&v, sizeof(v), (void *)iov_array))
			return NULL;
		w->piece_base = (__u64)v.iov_base;
		w->piece_len = v.iov_len;
	}
	w->len = len;
	w->pos = 0;
	w->out = 0;
	w->copied = 0;
	w->frame_start = H2_NONE;
	w->frame_start_wire = H2_NONE;
	w->frames = 0;
	w->unknown_type = 0;
	w->lost = 0;
	bpf_loop(H2_MAX_STEPS, h2_step, NULL, 0);
	if (w->pos < w->len)
		w->lost = 1;
	__builtin_memcpy(w->cur.header, w->header, sizeof(w->cur.header));

	struct socket_event *e = &s->event;
	if (w->copied < w->out)
		count(COUNTER_TRUNCATED);
	e->mode = w->lost ? CAPTURE_H2_FRAMES_LOST : CAPTURE_H2_FRAMES;
	e->captured_len = w->copied;
	e->tail_len = 0;
	e->frames_len = w->out;
	e->frame_start = w->frame_start == H2_NONE ? w->out : w->frame_start;
	e->frame_start_wire = w->frame_start == H2_NONE ? len : w->frame_start_wire;
	return w;
}

/* Keeps where the stream stands after a walk, or forgets the boundaries when the walk lost them. */
static __always_inline void h2_advance(struct h2_cursor *cursor, struct h2_walk *w)
{
	if (w->lost) {
		cursor->synced = 0;
		count(COUNTER_H2_SYNC_LOST);
		return;
	}
	*cursor = w->cur;
	cursor->synced = 1;
	cursor->seen = 1;
}

static __always_inline bool h2_preface(const __u8 *p)
{
	/* "PRI * HT" "TP/2.0\r\n" "\r\nSM\r\n\r\n", compared as three words. */
	const __u64 *words = (const __u64 *)p;
	return words[0] == 0x5448202a20495250ULL && words[1] == 0x0a0d302e322f5054ULL &&
	       words[2] == 0x0a0d0a0d4d530a0dULL;
}

/* Could these 9 bytes begin an HTTP/2 frame? A defined type, the reserved bit clear, stream 0 where required. */
static __always_inline bool h2_plausible_header(const __u8 *h)
{
	__u8 type = h[3];
	if (type > H2_LAST_KNOWN_TYPE || (h[5] & 0x80))
		return false;
	bool stream0 = !(h[5] | h[6] | h[7] | h[8]);
	/* SETTINGS, PING and GOAWAY belong to the connection; DATA, HEADERS, PRIORITY, RST_STREAM,
	 * PUSH_PROMISE and CONTINUATION to a stream. */
	if (type == 4 || type == 6 || type == 7)
		return stream0;
	return type == 8 || !stream0;
}


/* ---- traceparent injection (opt-in: settings.inject_traceparent) ---- */

/*
 * A plaintext HTTP/1 request that a traced client writes without a traceparent gets one, so the
 * next hop (a Periscope agent on another node, a service with an SDK) continues the trace:
 * - at the write's entry, this tracepoint looks at the request head in the user's buffer. If the
 *   buffer begins with a whole head (request line to empty line) with no traceparent, the line to
 *   insert, with fresh ids, is armed for this thread;
 * - inside the same sendmsg, the sk_msg program (on sockets in inject_socks) inserts the line right
 *   after the request line. Nothing else of the request changes: Content-Length counts the body,
 *   chunked framing starts after the head;
 * - at the write's exit the record says what was inserted (EVENT_TRACE_INJECTED), and its seq is the
 *   request's first byte as the peer sees it.
 * The Java side gives the request's CLIENT span the inserted ids.
 */
#define INJECT_SCAN 1024  /* head bytes looked at; a longer head is sent as it is */
#define METHOD_MAX 16     /* longest request method recognised ("PROPPATCH", "OPTIONS", ...) */
#define REQUEST_LINE_MIN 14 /* "M / HTTP/1.1\r\n" */
#define REQUEST_HEAD_MIN 16 /* the same, and the empty line */

enum inject_state { INJECT_ARMED = 1, INJECT_DONE = 2 };

struct injection {
	__u16 local_port;  /* the socket it is for, as sk_msg sees it */
	__u16 remote_port;
	__u32 offset;      /* where in the written bytes the line goes: after the request line */
	__u8 state;        /* enum inject_state */
	__u8 pad[7];
	__u8 line[TRACEPARENT_LINE + 2];
};

/* A write armed for injection, by thread (sk_msg has no task storage). Entries live for one syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct injection);
} injections SEC(".maps");

/* Connections this node's processes opened, where sk_msg runs; the kernel drops a socket at close. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__uint(key_size, sizeof(__u64));
	__uint(value_size, sizeof(__u64));
} inject_socks SEC(".maps");

struct inject_scan {
	__u8 buf[INJECT_SCAN];
	__u32 len;
	__u32 line_start;  /* where the line being scanned begins */
	__u32 line_end;    /* where the request line ends (after its CRLF); 0 until then */
	__u32 head_end;    /* after the empty line; 0 until then */
	__u32 traceparent; /* where a traceparent line begins; 0 when none was seen */
	__u8 refused;      /* the head is not one we touch */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inject_scan);
} inject_scans SEC(".maps");

static __always_inline struct inject_scan *inject_scan_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&inject_scans, &zero);
}

/* "traceparent:" at buf[at], in any letter case (RFC 9110 §5.1: field names are case-insensitive). */
static __always_inline bool traceparent_name(struct inject_scan *sc, __u32 at)
{
	const char name[] = "traceparent:";
	if (at + 12 > sc->len)
		return false;
#pragma unroll
	for (int k = 0; k < 11; k++) {
		if ((sc->buf[(at + k) & (INJECT_SCAN - 1)] | 0x20) != name[k])
			return false;
	}
	return sc->buf[(at + 11) & (INJECT_SCAN - 1)] == ':';
}

/* One byte of the head: a state machine over its lines, stopping at the empty line. */
static long inject_scan_step(__u64 i, void *unused)
{
	struct inject_scan *sc = inject_scan_state();
	if (!sc || i >= sc->len)
		return 1;
	__u32 at = i & (INJECT_SCAN - 1);
	if (sc->buf[at] != '\n')
		return 0;
	if (at == 0 || sc->buf[(at - 1) & (INJECT_SCAN - 1)] != '\r') {
		sc->refused = 1; /* a bare LF: tolerated by some servers, not a head to edit */
		return 1;
	}
	if (!sc->line_end) {
		sc->line_end = at + 1;
	} else if (at == sc->line_start + 1) {
		sc->head_end = at + 1;
		return 1;
	}
	sc->line_start = at + 1;
	if (traceparent_name(sc, at + 1)) {
		sc->traceparent = at + 1;
		return 1;
	}
	return 0;
}

/* Scans the n head bytes in sc->buf: where its lines end, and where a traceparent is. */
static __always_inline void scan_head(struct inject_scan *sc, __u32 n)
{
	sc->len = n;
	sc->line_start = sc->line_end = sc->head_end = sc->traceparent = 0;
	sc->refused = 0;
	bpf_loop(INJECT_SCAN, inject_scan_step, NULL, 0);
}

/* The buffer begins with "METHOD SP": checked before scanning, which costs a step per byte. */
static __always_inline bool method_first(struct inject_scan *sc)
{
	int method = 0;
	bool token = true;
#pragma unroll
	for (int k = 0; k < METHOD_MAX + 1; k++) {
		__u8 c = sc->buf[k];
		if (!method && token) {
			if (c == ' ')
				method = k;
			else if (c < 'A' || c > 'Z')
				token = false;
		}
	}
	return method > 0;
}

/* The request line, scanned, ends with " HTTP/1.x" CRLF. */
static __always_inline bool request_line(struct inject_scan *sc)
{
	__u32 end = sc->line_end;
	if (end < REQUEST_LINE_MIN || end > INJECT_SCAN)
		return false;
	const char version[] = " HTTP/1.";
#pragma unroll
	for (int k = 0; k < 8; k++) {
		if (sc->buf[(end - 11 + k) & (INJECT_SCAN - 1)] != version[k])
			return false;
	}
	return true;
}

static __always_inline void hex32(__u8 *out, __u32 v)
{
#pragma unroll
	for (int k = 0; k < 8; k++) {
		__u8 d = (v >> (28 - 4 * k)) & 0xf;
		out[k] = d < 10 ? '0' + d : 'a' + d - 10;
	}
}

/* A fresh trace id, as 32 lowercase hex digits, and its sampled flag as 2 (TraceIdRatioBased). */
static __always_inline void random_trace_id(__u8 *hex, __u8 *flags)
{
	__u32 r[4];
#pragma unroll
	for (int k = 0; k < 4; k++) {
		r[k] = bpf_get_prandom_u32();
		hex32(hex + 8 * k, r[k]);
	}
	__s64 low = (__s64)(((__u64)r[2] << 32) | r[3]);
	__s64 magnitude = low < 0 ? -low : low; /* the minimum stays negative, as in Java's Math.abs */
	bool sampled = settings.sample_all || magnitude < settings.sample_bound;
	flags[0] = '0';
	flags[1] = sampled ? '1' : '0';
}

/*
 * The request a thread is serving, for the trace its outgoing requests continue. A thread-per-
 * request server reads a request, makes its calls, answers: the calls belong to that request's
 * trace. Worked out from the syscalls alone, because the injected line must be written before the
 * agent has seen any of it; the agent checks the result against its own linking and takes a line
 * whose trace disagrees as the root of a new trace, never as a wrong parent.
 */
struct serving {
	__u64 sock;         /* the connection the request came on */
	__u8 trace_id[32];  /* its trace: from its traceparent, or made here for a root */
	__u8 flags[2];      /* the trace flags to pass on, as hex */
	__u8 state;         /* enum serving_state */
	__u8 pad;
	__u32 open;         /* requests this thread read whose answer has not begun */
};

enum serving_state {
	SERVING_NONE = 0,
	SERVING_ONE = 1,      /* one request read and not yet answered: calls are its children */
	SERVING_ANSWERED = 2, /* its answer began: later calls are nobody's */
	SERVING_SEVERAL = 3,  /* requests of several connections are open (an event loop): until all are answered */
};

/* EVENT_TRACE_ROOT: the header and the 32 hex digits of the trace id. */
struct trace_root {
	struct socket_event event;
	__u8 trace_id[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct trace_root);
} trace_roots SEC(".maps");

static __always_inline struct trace_root *trace_root_record(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&trace_roots, &zero);
}

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct serving);
} serving_threads SEC(".maps");

/* The context a request written now continues, or NULL for a new trace. */
static __always_inline struct serving *serving_context(void)
{
	struct serving *serving = bpf_task_storage_get(&serving_threads, bpf_get_current_task_btf(), 0, 0);
	return serving && serving->state == SERVING_ONE ? serving : NULL;
}

/* "traceparent: 00-<trace id>-<span id>-<flags>\r\n" (W3C Trace Context), in the serving trace if any. */
static __always_inline void traceparent_line(__u8 *line, struct serving *serving)
{
	const char prefix[] = "traceparent: 00-";
	__builtin_memcpy(line, prefix, 16);
	if (serving) {
		__builtin_memcpy(line + 16, serving->trace_id, 32);
		line[66] = serving->flags[0];
		line[67] = serving->flags[1];
	} else {
		random_trace_id(line + 16, line + 66);
	}
	line[48] = '-';
	__u32 hi = bpf_get_prandom_u32();
	__u32 lo = bpf_get_prandom_u32() | (hi == 0); /* an all-zero span id is invalid */
	hex32(line + 49, hi);
	hex32(line + 57, lo);
	line[65] = '-';
	line[68] = '\r';
	line[69] = '\n';
}

static __always_inline bool lower_hex(__u8 c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "00-" trace id "-" parent id "-" flags: a version 00 traceparent value (W3C Trace Context §3.2). */
#define TRACEPARENT_VALUE 55

/*
 * The trace id and flags of the traceparent line at sc->buf[at] ("traceparent:" OWS "00-" trace
 * "-" parent "-" flags), into serving; false unless it is a valid version 00 value, by the rules
 * the agent's parser applies (lowercase hex, no all-zero id). One position per iteration of a
 * loop left rolled: unrolled, clang kept every byte alive and spilled the lot to the stack.
 */
static __always_inline bool parse_traceparent(struct inject_scan *sc, __u32 at, struct serving *serving)
{
	__u32 v = at + 12;
	if (sc->buf[v & (INJECT_SCAN - 1)] == ' ' || sc->buf[v & (INJECT_SCAN - 1)] == '\t')
		v++;
	/* The value and the byte after it. */
	if (v + TRACEPARENT_VALUE + 1 > sc->len)
		return false;
	__u8 trace_bits = 0, parent_bits = 0;
#pragma clang loop unroll(disable)
	for (__u32 k = 0; k <= TRACEPARENT_VALUE; k++) {
		__u8 c = sc->buf[(v + k) & (INJECT_SCAN - 1)];
		bool ok;
		if (k < 2)
			ok = c == '0';
		else if (k == 2 || k == 35 || k == 52)
			ok = c == '-';
		else if (k == TRACEPARENT_VALUE)
			ok = c == '\r' || c == ' ' || c == '\t';
		else
			ok = lower_hex(c);
		if (!ok)
			return false;
		if (k >= 3 && k < 35) {
			serving->trace_id[(k - 3) & 31] = c;
			trace_bits |= c ^ '0';
		} else if (k >= 36 && k < 52) {
			parent_bits |= c ^ '0';
		} else if (k == 53 || k == 54) {
			serving->flags[(k - 53) & 1] = c;
		}
	}
	return trace_bits && parent_bits;
}

/*
 * A traced server read the start of a request (origin ACCEPT, injection on): its thread now
 * serves it. A request with no valid traceparent gets a trace id made here, reported ahead of the
 * read's record (EVENT_TRACE_ROOT, seq the request's first byte) so the agent gives its SERVER
 * span that trace.
 */
static __noinline void serving_begin(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall)
{
	struct socket_event *data = &s->event;
	__u32 n = data->captured_len < INJECT_SCAN ? data->captured_len : INJECT_SCAN;
	struct inject_scan *sc = inject_scan_state();
	if (!sc || n < REQUEST_HEAD_MIN)
		return;
	barrier_var(n);
	if (n > INJECT_SCAN || bpf_probe_read_kernel(sc->buf, n, s->payload) || !method_first(sc))
		return;
	scan_head(sc, n);
	if (sc->refused || !request_line(sc))
		return; /* not the start of a request: a body, or more of a head */
	struct serving *serving = bpf_task_storage_get(&serving_threads, bpf_get_current_task_btf(), 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!serving)
		return;
	if (!info->request_open) {
		info->request_open = 1;
		serving->open++;
	}
	if (serving->open > 1) {
		serving->state = SERVING_SEVERAL; /* which request a call is for cannot be told */
		return;
	}
	serving->sock = info->sock;
	serving->state = SERVING_ONE;
	if (sc->traceparent && parse_traceparent(sc, sc->traceparent, serving))
		return;
	random_trace_id(serving->trace_id, serving->flags);
	struct trace_root *root = trace_root_record();
	if (!root)
		return;
	fill_header(&root->event, EVENT_TRACE_ROOT, info, fd, syscall, data->exit_ns);
	root->event.seq = data->seq;
	root->event.total_len = 32;
	root->event.captured_len = 32;
	__builtin_memcpy(root->trace_id, serving->trace_id, 32);
	if (bpf_ringbuf_output(&events, root, sizeof(*root), BPF_RB_NO_WAKEUP)) {
		count(COUNTER_RINGBUF_DROPS);
		return;
	}
	count(COUNTER_EVENTS);
}

/*
 * The thread began to answer on a connection: the request it read there is over for its calls. A
 * thread serving several is trusted again once it has answered them all. (A request read on one
 * thread and answered on another leaves the first thread's count high: its calls then start new
 * traces, and the agent, which sees the whole exchange, links what it can.)
 */
static __always_inline void serving_answered(struct sock_info *info)
{
	struct serving *serving = bpf_task_storage_get(&serving_threads, bpf_get_current_task_btf(), 0, 0);
	if (!serving)
		return;
	if (info->request_open) {
		info->request_open = 0;
		if (serving->open)
			serving->open--;
	}
	if (serving->state == SERVING_ONE && serving->sock == info->sock)
		serving->state = SERVING_ANSWERED;
	else if (serving->state == SERVING_SEVERAL && !serving->open)
		serving->state = SERVING_NONE;
}

/* At a traced write's entry: arm an injection if the write begins with a whole head that needs one. */
static __always_inline void inject_arm(__u8 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	/*
	 * Whatever an earlier write of this thread armed is void now (it failed before sk_msg ran):
	 * left armed, it would be inserted into whatever this write carries.
	 */
	bpf_map_delete_elem(&injections, &id);
	if (syscall == SYS_SENDFILE)
		return;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct fd_key key = {.tgid = id >> 32, .fd = PT_REGS_PARM1_SYSCALL(regs)};
	/* Only sockets seen at connect(): those are the ones in inject_socks. */
	struct sock_info *info = bpf_map_lookup_elem(&fd_socks, &key);
	if (!info || !info->port_traced || info->origin != ORIGIN_CONNECT || info->h2 == H2_YES)
		return;
	__u64 buf = PT_REGS_PARM2_SYSCALL(regs);
	__u64 len = PT_REGS_PARM3_SYSCALL(regs);
	if (syscall == SYS_WRITEV || syscall == SYS_SENDMSG) {
		__u64 iov_ptr = buf;
		if (syscall == SYS_SENDMSG) {
			struct user_msghdr msg = {};
			if (bpf_probe_read_user(&msg, sizeof(msg), (void *)buf) || msg.msg_iovlen < 1)
				return;
			iov_ptr = (__u64)msg.msg_iov;
		} else if (len < 1) {
			return;
		}
		struct iovec first = {};
		if (bpf_probe_read_user(&first, sizeof(first), (void *)iov_ptr))
			return;
		buf = (__u64)first.iov_base; /* the head is in the first iovec, or is not looked for */
		len = first.iov_len;
	}
	struct inject_scan *sc = inject_scan_state();
	if (!sc || len < REQUEST_HEAD_MIN)
		return;
	__u32 n = len < INJECT_SCAN ? len : INJECT_SCAN;
	barrier_var(n);
	if (n > INJECT_SCAN || bpf_probe_read_user(sc->buf, n, (void *)buf) || !method_first(sc))
		return;
	scan_head(sc, n);
	/* Never a second traceparent; and only a whole head, so none can hide in a later write. */
	if (sc->refused || sc->traceparent || !sc->head_end || !request_line(sc))
		return;
	struct injection inj = {
		.local_port = info->local_port,
		.remote_port = info->remote_port,
		.offset = sc->line_end,
		.state = INJECT_ARMED,
	};
	traceparent_line(inj.line, serving_context());
	bpf_map_update_elem(&injections, &id, &inj, BPF_ANY);
}

/*
 * At the write's exit: what sk_msg inserted, reported ahead of the data record (in s, which the
 * caller then fills anew); returns the bytes inserted. An armed write that left without its line
 * is counted.
 */
static __always_inline __u32 inject_report(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall,
					   long ret, __u64 exit_ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct injection *inj = bpf_map_lookup_elem(&injections, &id);
	if (!inj)
		return 0;
	bool done = inj->state == INJECT_DONE && inj->local_port == info->local_port &&
		    inj->remote_port == info->remote_port;
	struct socket_event *e = &s->event;
	if (done) {
		fill_header(e, EVENT_TRACE_INJECTED, info, fd, syscall, exit_ns);
		e->direction = DIR_EGRESS;
		e->seq = first_seq(info->sock, DIR_EGRESS, ret) - TRACEPARENT_LINE;
		e->total_len = TRACEPARENT_LINE;
		e->captured_len = TRACEPARENT_LINE;
		e->frame_start = inj->offset;
		__builtin_memcpy(s->payload, inj->line, TRACEPARENT_LINE);
		submit(e);
		count(COUNTER_INJECTED);
	} else {
		count(COUNTER_INJECT_FAILED);
	}
	bpf_map_delete_elem(&injections, &id);
	return done ? TRACEPARENT_LINE : 0;
}

/*
 * An egress syscall keeps only its entry time: a client span starts when its request begins to
 * leave. Everything else is worked out at exit, where the byte count is known.
 */
static __always_inline int egress_enter(__u8 syscall)
{
	/* One storage lookup for the filter's verdict and the call's entry. */
	struct inflight *call = inflight_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!process_traced_cached(bpf_get_current_pid_tgid() >> 32, call))
		return 0;
	if (!call) {
		count(COUNTER_INFLIGHT_DROPS);
		return 0;
	}
	call->enter_ns = bpf_ktime_get_ns();
	call->syscall = syscall;
	call->active = 1;
	if (settings.inject_traceparent)
		inject_arm(syscall);
	return 0;
}

/* The first bytes the syscall moved (and, when those were cut, its last ones) into the record. */
static __always_inline void capture_bytes(struct scratch *s, struct iovecs *iovs, __u32 iovcnt, __u64 buf, long ret)
{
	struct socket_event *e = &s->event;
	e->mode = CAPTURE_BYTES;
	e->frames_len = 0;
	e->frame_start = 0;
	e->frame_start_wire = 0;
	e->tail_len = 0;
	if (iovcnt)
		e->captured_len = copy_iovec(s, iovs, iovcnt, ret);
	else
		e->captured_len = copy_user(s, 0, buf, ret);
	if (e->captured_len < e->total_len) {
		count(COUNTER_TRUNCATED);
		__u64 cut = ret - e->captured_len;
		__u32 want = cut < TAIL_BYTES ? cut : TAIL_BYTES;
		if (iovcnt)
			e->tail_len = copy_iovec_tail(s, e->captured_len, iovs, iovcnt, ret, want);
		else
			e->tail_len = copy_tail(s, e->captured_len, buf, ret, want);
	}
}

/*
 * After a raw capture, looks for HTTP/2 in what was copied: the client's preface (at the start of
 * a connection, or after an HTTP/1 Upgrade: h2c) says frames follow it; on a connection already
 * known to carry HTTP/2 whose boundaries were lost, or one of unknown protocol (open before the
 * agent started), a syscall whose bytes are exactly a sequence of well-formed frames gives the
 * boundaries. Either way this syscall's record is redone as a frame stream.
 */
static __always_inline void h2_detect(struct scratch *s, struct sock_info *info, struct h2_cursor *cursor,
				      struct iovecs *iovs, __u32 iovcnt, __u64 buf, __u64 iov_array, __u32 iov_total,
				      long ret, bool at_start)
{
	struct socket_event *e = &s->event;
	if (e->captured_len < H2_FRAME_HEADER)
		return;
	if (e->captured_len >= H2_PREFACE_LEN && h2_preface(s->payload)) {
		/* The preface is copied like a frame payload; the frames follow it. */
		struct h2_cursor preface = {.remaining = H2_PREFACE_LEN};
		struct h2_walk *w = h2_walk_syscall(s, &preface, buf, iov_array, iov_total, ret);
		if (w) {
			info->h2 = H2_YES;
			h2_advance(cursor, w);
		} else {
			capture_bytes(s, iovs, iovcnt, buf, ret);
		}
		return;
	}
	if (info->h2 == H2_NO)
		return;
	if (info->h2 == H2_UNDECIDED && ++info->h2_probes > H2_PROBES) {
		info->h2 = H2_NO;
		return;
	}
	if (!h2_plausible_header(s->payload))
		return;
	struct h2_cursor fresh = {};
	struct h2_walk *w = h2_walk_syscall(s, &fresh, buf, iov_array, iov_total, ret);
	/*
	 * The start of a direction of a connection known to be HTTP/2 (the other direction said so,
	 * the server's reply to a preface) is a frame boundary; elsewhere, the syscall must be nothing
	 * but whole frames of defined types.
	 */
	bool boundary = at_start && info->h2 == H2_YES;
	if (w && !w->lost && (boundary || (!w->unknown_type && w->frames > 0 && w->cur.remaining == 0 &&
					   w->cur.have == 0))) {
		info->h2 = H2_YES;
		h2_advance(cursor, w);
		return;
	}
	capture_bytes(s, iovs, iovcnt, buf, ret); /* not frames after all: the raw bytes again */
}

/*
 * The data path runs at syscall exit, where the byte count is known. The arguments come from the
 * registers the task saved at entry, so a failed call (EAGAIN above all) costs one comparison, and
 * a read that was already blocked when the programs were attached (an idle keep-alive connection
 * waiting in recv) is captured like any other. The sequence number of the first byte moved is the
 * socket's counter minus the bytes moved.
 */
static __always_inline int io_exit(long ret, __u8 syscall, __u8 direction)
{
	/* Errors moved nothing; a write of 0 bytes says nothing; a read of 0 is end of stream. */
	if (ret < 0 || (ret == 0 && direction == DIR_EGRESS))
		return 0;
	__u64 enter_ns = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (direction == DIR_EGRESS) {
		/*
		 * A write needs its entry: egress_enter records only traced processes, so this is also
		 * the process filter. (A write already blocked when the programs were attached, on a full
		 * socket buffer, is rare enough to lose; a read blocked on an idle connection is not.)
		 */
		struct inflight *call = inflight_of_current(0);
		if (!call || !call->active || call->syscall != syscall)
			return 0;
		enter_ns = call->enter_ns;
		call->active = 0;
	} else if (!process_traced(tgid)) {
		return 0;
	}
	__u64 exit_ns = bpf_ktime_get_ns();
	if (!enter_ns)
		enter_ns = exit_ns; /* a read: its entry time says nothing (it may have waited for data) */
	struct scratch *s = scratch_record();
	if (!s)
		return 0;

	/* Saved user registers: plain loads from a trusted pointer, not helper calls. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__s32 fd = PT_REGS_PARM1_SYSCALL(regs);
	__u64 buf = PT_REGS_PARM2_SYSCALL(regs);
	__u64 arg3 = PT_REGS_PARM3_SYSCALL(regs);
	__u32 iovcnt = 0;   /* iovecs the raw capture looks at */
	__u32 iov_total = 0; /* iovecs the call had */
	if (syscall == SYS_RECVFROM && (PT_REGS_PARM4_SYSCALL(regs) & MSG_PEEK))
		return 0; /* the same bytes will be read again */
	if (syscall == SYS_READV || syscall == SYS_WRITEV) {
		iov_total = arg3;
	} else if (syscall == SYS_RECVMSG || syscall == SYS_SENDMSG) {
		if (syscall == SYS_RECVMSG && (arg3 & MSG_PEEK))
			return 0;
		if (bpf_probe_read_user(&s->msg, sizeof(s->msg), (void *)buf))
			return 0;
		buf = (__u64)s->msg.msg_iov;
		iov_total = s->msg.msg_iovlen;
	}
	iovcnt = iov_total > MAX_IOV ? MAX_IOV : iov_total;

	struct sock_info *info = lookup_sock(s, tgid, fd);
	if (!info || !info->port_traced)
		return 0;
	if (!info->peer_checked) {
		info->agent_peer = is_agent_peer(info);
		info->peer_checked = 1;
	}
	if (info->agent_peer)
		return 0;
	if (iovcnt && !read_iovecs(&s->iovs, buf, iovcnt))
		return 0;
	__u32 injected = 0;
	if (settings.inject_traceparent && direction == DIR_EGRESS)
		injected = inject_report(s, info, fd, syscall, ret, exit_ns);
	struct socket_event *e = &s->event;
	fill_header(e, EVENT_DATA, info, fd, syscall, exit_ns);
	e->direction = direction;
	e->enter_ns = enter_ns;
	/* The bytes the kernel inserted are in the socket's counter, not in what the process wrote. */
	e->seq = first_seq(info->sock, direction, ret) - injected;
	e->total_len = ret;
	if (syscall == SYS_SENDFILE) {
		submit(e); /* file contents: counted so parsers can skip them, never copied */
		return 0;
	}
	struct h2_cursor *cursor = direction == DIR_EGRESS ? &info->h2_egress : &info->h2_ingress;
	__u64 iov_array = iov_total ? buf : 0;
	/* The first byte of a direction, on a connection seen from its start, begins its stream. */
	bool at_start = info->fresh && !cursor->seen;
	cursor->seen = 1;
	if (info->h2 == H2_YES && cursor->synced) {
		struct h2_walk *w = h2_walk_syscall(s, cursor, buf, iov_array, iov_total, ret);
		if (w) {
			h2_advance(cursor, w);
			/*
			 * A syscall wholly inside a skipped payload, not ending it, says nothing: the reader
			 * accounts for its bytes from the next record's sequence number. (A 1 MiB body read
			 * 8 KiB at a time is then one record, not 128.)
			 */
			if (!w->lost && w->out == 0 && w->cur.remaining)
				return 0;
			submit(e);
			return 0;
		}
		cursor->synced = 0;
	}
	capture_bytes(s, &s->iovs, iovcnt, buf, ret);
	if (info->h2 != H2_YES || !cursor->synced)
		h2_detect(s, info, cursor, &s->iovs, iovcnt, buf, iov_array, iov_total, ret, at_start);
	if (settings.inject_traceparent && info->origin == ORIGIN_ACCEPT && e->mode == CAPTURE_BYTES) {
		if (direction == DIR_INGRESS)
			serving_begin(s, info, fd, syscall);
		else
			serving_answered(info);
	}
	submit(e);
	return 0;
}

/* ---- data syscalls: exits for all, entries for egress only ---- */

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_READ, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_READV, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_RECVFROM, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_RECVMSG, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return egress_enter(SYS_WRITE); }

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_WRITE, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return egress_enter(SYS_WRITEV); }

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_WRITEV, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return egress_enter(SYS_SENDTO); }

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDTO, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return egress_enter(SYS_SENDMSG); }

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDMSG, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx) { return egress_enter(SYS_SENDFILE); }

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDFILE, DIR_EGRESS); }

/* ---- connection lifecycle ---- */

static __always_inline int remember_call(__s32 fd, __u8 syscall)
{
	struct inflight *call = inflight_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!call)
		return 0;
	call->fd = fd;
	call->syscall = syscall;
	call->enter_ns = bpf_ktime_get_ns();
	call->active = 1;
	return 0;
}

static __always_inline int conn_open(long ret, __u8 origin)
{
	struct inflight *call = inflight_of_current(0);
	if (!call || !call->active)
		return 0;
	call->active = 0;
	__u64 enter_ns = call->enter_ns;
	/* accept returns the new fd; connect returns 0, or EINPROGRESS with the local port already bound. */
	__s32 fd = origin == ORIGIN_ACCEPT ? ret : call->fd;
	if (origin == ORIGIN_ACCEPT ? ret < 0 : (ret != 0 && ret != -EINPROGRESS))
		return 0;

	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 sock = tcp_sock_of_fd(fd);
	if (!sock)
		return 0;
	if (tgid == settings.agent_tgid) {
		/* Remember the agent's own export connections; trace nothing of them. */
		struct sock_info self = {};
		read_endpoints((struct sock *)sock, &self);
		struct connection_key key = {};
		connection_key(&key, &self);
		__u8 one = 1;
		bpf_map_update_elem(&agent_connections, &key, &one, BPF_ANY);
		return 0;
	}
	if (!process_traced(tgid))
		return 0;
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	struct sock_info *info = remember_sock(s, tgid, fd, sock, origin);
	if (!info || !info->port_traced)
		return 0;
	struct socket_event *e = &s->event;
	fill_header(e, EVENT_CONN_OPEN, info, fd, origin == ORIGIN_ACCEPT ? SYS_ACCEPT : SYS_CONNECT,
		    bpf_ktime_get_ns());
	e->origin = origin;
	e->enter_ns = enter_ns;
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx) { return remember_call(ctx->args[0], SYS_ACCEPT); }

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx) { return conn_open(ctx->ret, ORIGIN_ACCEPT); }

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx) { return remember_call(ctx->args[0], SYS_ACCEPT); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx) { return conn_open(ctx->ret, ORIGIN_ACCEPT); }

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx) { return remember_call(ctx->args[0], SYS_CONNECT); }

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx) { return conn_open(ctx->ret, ORIGIN_CONNECT); }

static __always_inline void forget(struct fd_key *key, __u64 sock)
{
	bpf_map_delete_elem(&fd_socks, key);
	bpf_map_delete_elem(&sock_fds, &sock);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct fd_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = ctx->args[0]};
	struct sock_info *cached = bpf_map_lookup_elem(&fd_socks, &key);
	if (!cached)
		return 0; /* never a traced socket: the common case, and cheap */
	struct sock_info info = *cached;
	forget(&key, info.sock);
	if (!info.port_traced)
		return 0;
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	struct socket_event *e = &s->event;
	fill_header(e, EVENT_CONN_CLOSE, &info, key.fd, SYS_CLOSE, bpf_ktime_get_ns());
	e->enter_ns = e->exit_ns;
	submit(e);
	return 0;
}

/*
 * The end of every TCP connection, even one whose fd was never closed by close() (exit,
 * close_range, dup2). Runs in softirq: pid and comm are not the owner's, so key on the socket.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->newstate != TCP_CLOSE || ctx->protocol != IPPROTO_TCP)
		return 0;
	__u64 sock = (__u64)ctx->skaddr;
	/*
	 * The event's own copy of the endpoints, not the socket's: by TCP_CLOSE the kernel has let go
	 * of the local port (skc_num is 0). The v6 fields hold IPv4 v4-mapped, as the cache does.
	 */
	struct connection_key agent = {};
	/* (A copy out of the context through a computed pointer is refused by the verifier.) */
	bpf_probe_read_kernel(agent.local_addr, 16, ctx->saddr_v6);
	bpf_probe_read_kernel(agent.remote_addr, 16, ctx->daddr_v6);
	agent.local_port = ctx->sport;
	agent.remote_port = ctx->dport;
	bpf_map_delete_elem(&agent_connections, &agent);

	/*
	 * A socket can reach TCP_CLOSE while its process still holds it (a reset from the peer, or a
	 * half-close ending in TIME_WAIT): the process may still read or write, and close() reports
	 * the end. Only an orphaned socket (SOCK_DEAD: its file is gone) has ended here.
	 */
	if (!(BPF_CORE_READ((struct sock *)sock, __sk_common.skc_flags) & (1UL << SOCK_DEAD)))
		return 0;
	struct fd_key *owner = bpf_map_lookup_elem(&sock_fds, &sock);
	if (!owner)
		return 0; /* a socket we never traced */
	struct fd_key key = *owner;
	struct sock_info *cached = bpf_map_lookup_elem(&fd_socks, &key);
	if (!cached) {
		bpf_map_delete_elem(&sock_fds, &sock);
		return 0;
	}
	struct sock_info info = *cached;
	forget(&key, sock);
	if (!info.port_traced)
		return 0;
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	struct socket_event *e = &s->event;
	fill_header(e, EVENT_CONN_CLOSE, &info, -1, SYS_STATE, bpf_ktime_get_ns());
	/* Not the owner's identity (softirq); the Java side keys this event on the socket alone. */
	e->tgid = key.tgid;
	e->tid = 0;
	e->enter_ns = e->exit_ns;
	submit(e);
	return 0;
}

/* ---- traceparent injection: the socket side ---- */

/*
 * Every connection a process on this node opens joins inject_socks once established, so that
 * sk_msg runs in its sendmsg; which writes get a line is decided per write, at its entry (the
 * process filter included). Active opens only: a server's replies are never touched.
 */
SEC("sockops")
int inject_track(struct bpf_sock_ops *ops)
{
	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	if (!port_traced(ops->local_port, bpf_ntohl(ops->remote_port)))
		return 1;
	__u64 cookie = bpf_get_socket_cookie(ops);
	if (bpf_sock_hash_update(ops, &inject_socks, &cookie, BPF_ANY))
		count(COUNTER_INJECT_FAILED);
	return 1;
}

/* Inserts the line its thread's write armed, right after the request line. */
SEC("sk_msg")
int inject_traceparent(struct sk_msg_md *msg)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct injection *inj = bpf_map_lookup_elem(&injections, &id);
	if (!inj || inj->state != INJECT_ARMED)
		return SK_PASS;
	if (msg->local_port != inj->local_port || bpf_ntohl(msg->remote_port) != inj->remote_port)
		return SK_PASS;
	__u32 at = inj->offset;
	if (at == 0 || at >= msg->size || at > INJECT_SCAN)
		return SK_PASS; /* the head is not in this piece of the write: leave it whole */
	if (bpf_msg_push_data(msg, at, TRACEPARENT_LINE, 0))
		return SK_PASS;
	/* The pushed bytes are not yet written: make them writable, or take them out again. */
	if (bpf_msg_pull_data(msg, at, at + TRACEPARENT_LINE, 0)) {
		bpf_msg_pop_data(msg, at, TRACEPARENT_LINE, 0);
		return SK_PASS;
	}
	__u8 *data = msg->data;
	if ((void *)(data + TRACEPARENT_LINE) > msg->data_end) {
		bpf_msg_pop_data(msg, at, TRACEPARENT_LINE, 0);
		return SK_PASS;
	}
	__builtin_memcpy(data, inj->line, TRACEPARENT_LINE);
	inj->state = INJECT_DONE;
	return SK_PASS;
}
