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

enum tls_state {
	TLS_NO = 0,
	TLS_CIPHERTEXT = 1, /* its first bytes were a TLS record: a library we do not probe, or a handshake */
	TLS_LIBRARY = 2,    /* a probed TLS library read or wrote it: its plaintext comes from there */
};

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
	__u8 tls;          /* enum tls_state: its bytes on the wire are TLS records, never copied */
	__u8 first_seen;   /* a record of it was looked at for TLS */
	__u8 head_open[2]; /* per direction: the last syscall's bytes were an HTTP head not seen to end (head_pieces) */
	__u8 shedding;     /* overload: its records are not made until a request begins with room in the ring (ring_has_room) */
	__u32 tls_seq[2];  /* TLS: plaintext bytes so far, per direction (the records' seq) */
	__u64 tls_io_ns[2]; /* TLS: when a syscall on it last moved ciphertext, per direction */
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

#include "thread_state.bpf.h"

/* The iovec array of a readv/writev/recvmsg/sendmsg, fetched with one copy rather than one per iovec. */
struct iovecs {
	struct iovec v[MAX_IOV];
};

#define TLS_CIPHER_KEY_BYTES 16

/*
 * The first bytes of ciphertext moved, in a process: how a memory-BIO stack's socket I/O and its
 * TLS library's BIO_write are found to be the same bytes (tls.bpf.h).
 */
struct tls_cipher_key {
	__u8 head[TLS_CIPHER_KEY_BYTES];
	__u32 tgid;
	__u32 pad;
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
	struct syscall_args args; /* the syscall's arguments */
	struct iovecs iovs;       /* the syscall's first MAX_IOV iovecs */
	__u64 iov_left;           /* copy_iovec's running totals */
	__u32 iov_copied;
	struct user_msghdr msg;   /* a recvmsg/sendmsg's header */
	struct sock_info sock;    /* a socket cache entry being made */
	struct connection_key peer; /* a lookup in agent_connections */
	struct h2_cursor cursor;  /* where a frame walk that is tried starts */
	struct tls_cipher_key cipher_head; /* ciphertext's first bytes, looked up or remembered (tls.bpf.h) */
	/* A syscall whose long HTTP head is copied in pieces (head_pieces): where its bytes are, and how many. */
	__u64 piece_src;    /* the buffer, or (piece_iovcnt) the iovec array already in iovs */
	__u64 piece_len;    /* bytes the syscall moved */
	__u64 piece_done;   /* bytes copied into records so far */
	__u64 piece_skip;   /* copy_iovec_from's running totals */
	__u32 piece_iovcnt;
	__u32 piece_copied;
	__u32 piece_seq;    /* the syscall's first sequence number */
	__u32 piece_pad;
	__u64 piece_step;   /* bytes copy_iovec_from takes from one iovec */
	__u32 piece_open;   /* out: the syscall's bytes ended inside the head */
	__u32 dropped;      /* out: a record of the syscall did not fit in the ring buffer (submit) */
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
	__u64 exec_id = current_exec_id();
	if (cache && cache->verdict && cache->exec_id == exec_id)
		return cache->verdict == VERDICT_TRACED;
	bool traced = false;
	if (settings.filter_pids && bpf_map_lookup_elem(&filter_pids, &tgid))
		traced = true;
	if (!traced && settings.filter_comms) {
		char comm[16] = {};
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
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
	return process_traced_cached(tgid, filtered ? inflight_of_current(INFLIGHT_CREATE) : NULL);
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
 * Overload: the agent reads the ring buffer slower than records come. Records are then shed by
 * whole connections, never at random from the middle of exchanges: a connection that starts
 * while the ring is over half full is not followed (the room left is for the exchanges already
 * under way), and one that lost a record stops making records. Either is followed again from
 * the next syscall that begins an HTTP/1 request while the ring is under half full; that record
 * says so (FLAG_LOST_BEFORE), and the agent takes the connection as one joined midway there.
 */
static __always_inline bool ring_has_room(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2;
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
	/*
	 * Both ends of a connection seen from its start count TLS plaintext from 0, so a request's
	 * offset is the same on both (the node-local link). Joined midway, the counts could only
	 * agree by chance: a random start keeps them from it.
	 */
	if (!info->fresh) {
		info->tls_seq[0] = bpf_get_prandom_u32();
		info->tls_seq[1] = bpf_get_prandom_u32();
	}
	read_endpoints((struct sock *)sock, info);
	info->port_traced = port_traced(info->local_port, info->remote_port);
	if (info->port_traced && !ring_has_room()) {
		info->shedding = 1;
		count(COUNTER_SHED_CONNECTIONS);
	}
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
static __always_inline bool is_agent_peer(struct scratch *s, struct sock_info *info)
{
	/* The agent's side of this connection: our remote endpoint is its local one, and back. */
	struct connection_key *agent = &s->peer;
	__builtin_memcpy(agent->local_addr, info->remote_addr, 16);
	__builtin_memcpy(agent->remote_addr, info->local_addr, 16);
	agent->local_port = info->remote_port;
	agent->remote_port = info->local_port;
	__builtin_memset(agent->pad, 0, sizeof(agent->pad));
	return bpf_map_lookup_elem(&agent_connections, agent) != NULL;
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
	e->flags = 0;
	e->pad[0] = e->pad[1] = 0;
	e->frames_len = 0;
	e->frame_start = 0;
	e->frame_start_wire = 0;
	e->reserved = 0;
	e->local_port = info->local_port;
	e->remote_port = info->remote_port;
	__builtin_memcpy(e->local_addr, info->local_addr, 16);
	__builtin_memcpy(e->remote_addr, info->remote_addr, 16);
	current_comm(e->comm);
}

/*
 * Returns false when the record did not fit in the ring buffer. Every record is made in the
 * per-CPU scratch's event: a drop is also noted there, for the caller of head_pieces.
 */
static __always_inline bool submit(struct socket_event *e)
{
	__u64 size = sizeof(*e) + (e->captured_len & (2 * MAX_CAPTURE - 1)) + (e->tail_len & (2 * TAIL_BYTES - 1));
	if (size > sizeof(struct scratch))
		return true;
	if (bpf_ringbuf_output(&events, e, size, BPF_RB_NO_WAKEUP)) {
		count(COUNTER_RINGBUF_DROPS);
		((struct scratch *)e)->dropped = 1;
		return false;
	}
	count(COUNTER_EVENTS);
	return true;
}

/* A data record of info's connection: one that does not fit sheds the connection (ring_has_room). */
static __always_inline void submit_data(struct socket_event *e, struct sock_info *info)
{
	if (!submit(e))
		info->shedding = 1;
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
	barrier_var(n);
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
	/*
	 * The running totals live in the record, read again after a compiler barrier at each step:
	 * loaded from a map value, they are numbers the verifier knows nothing of, so the states it
	 * reaches at one step are alike whatever the steps before did, and it prunes them. Kept in
	 * registers, their exact ranges multiplied the states of 8 steps (300k instructions processed).
	 */
	s->iov_copied = 0;
	s->iov_left = len;
#pragma unroll
	for (int i = 0; i < MAX_IOV; i++) {
		barrier();
		__u32 copied = s->iov_copied;
		__u64 left = s->iov_left;
		if (i >= iovcnt || left == 0)
			break;
		__u64 n = iovs->v[i].iov_len < left ? iovs->v[i].iov_len : left;
		__u32 got = copy_user(s, copied, (__u64)iovs->v[i].iov_base, n);
		s->iov_copied = copied + got;
		s->iov_left = left - n;
		if (got < n)
			break; /* capture limit reached */
	}
	barrier();
	return s->iov_copied;
}

/* Copies the last n (<= TAIL_BYTES) of the len bytes at src to payload[offset]; returns n or 0. */
static __always_inline __u32 copy_tail(struct scratch *s, __u32 offset, __u64 src, __u64 len, __u64 n)
{
	/*
	 * 64 bits, and checked in the register the helper gets: as a __u32, clang checked the low half
	 * and passed the whole register, which the verifier of 6.1 refused as unbounded.
	 */
	barrier_var(n);
	barrier_var(offset);
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
			__u64 n = left < want ? left : want;
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

/* The bytes "\r\n\r\n" read as a little-endian __u32: the blank line that ends an HTTP head. */
#define HEAD_END 0x0a0d0a0dU

/* The record's bytes begin with an HTTP/1 request line (a method we know) or status line. */
static __always_inline bool http_head_begins(struct scratch *s)
{
	if (s->event.captured_len < 16)
		return false;
	__u32 word = *(__u32 *)s->payload;
	switch (word) {
	case 0x20544547: /* "GET " */
	case 0x54534f50: /* "POST" */
	case 0x20545550: /* "PUT " */
	case 0x44414548: /* "HEAD" */
	case 0x454c4544: /* "DELE" */
	case 0x43544150: /* "PATC" */
	case 0x4954504f: /* "OPTI" */
	case 0x4e4e4f43: /* "CONN" */
	case 0x43415254: /* "TRAC" */
	case 0x50545448: /* "HTTP" */
		return true;
	}
	return false;
}

/* The record's bytes begin with an HTTP/1 request line: where a shed connection is followed again. */
static __always_inline bool http_request_begins(struct scratch *s)
{
	return http_head_begins(s) && *(__u32 *)s->payload != 0x50545448; /* not "HTTP": a status line */
}

/*
 * Copies len user bytes at src to payload[offset], len and offset each within MAX_CAPTURE (the
 * head pieces' bound, whatever the configured capture); returns the bytes copied.
 */
static __always_inline __u32 copy_piece(struct scratch *s, __u32 offset, __u64 src, __u64 len)
{
	if (offset >= MAX_CAPTURE)
		return 0;
	__u64 room = MAX_CAPTURE - offset;
	__u64 n = len < room ? len : room;
	barrier_var(n);
	if (n > MAX_CAPTURE || n == 0)
		return 0;
	offset &= MAX_CAPTURE - 1;
	if (bpf_probe_read_user(&s->payload[offset], n, (void *)src))
		return 0;
	return n;
}

/*
 * Up to MAX_CAPTURE of the bytes an iovec array moved, from byte `from` on, into the payload. The
 * running totals are read from the scratch record where they are used, so that only the record
 * and the index live across the copy's helper call (more were spilled to the stack).
 */
static __always_inline __u32 copy_iovec_from(struct scratch *s, __u64 from, __u64 len)
{
	s->piece_skip = from;
	s->piece_copied = 0;
	s->iov_left = len - from;
	for (int i = 0; i < MAX_IOV; i++) {
		barrier();
		if (i >= s->piece_iovcnt || s->iov_left == 0)
			break;
		__u64 iov_len = s->iovs.v[i].iov_len;
		if (s->piece_skip >= iov_len) {
			s->piece_skip -= iov_len;
			continue;
		}
		__u64 n = iov_len - s->piece_skip;
		s->piece_step = n < s->iov_left ? n : s->iov_left;
		__u32 got = copy_piece(s, s->piece_copied, (__u64)s->iovs.v[i].iov_base + s->piece_skip, s->piece_step);
		barrier();
		s->piece_skip = 0;
		s->piece_copied += got;
		s->iov_left -= s->piece_step;
		if (got < s->piece_step)
			break; /* the piece is full */
	}
	barrier();
	return s->piece_copied;
}

/*
 * Whether the record's payload holds the blank line that ends an HTTP head. Four positions per
 * step, without a branch: each branch on the bytes would leave the verifier a state to come back
 * to, thousands of them. (a - 1) >> 63 of a 32-bit a is 1 exactly when a is 0; positions past what
 * was captured are masked off. (A blank line in the last 3 bytes is missed: the next piece is
 * copied for nothing.) A global function: verified once per program, not at each call.
 */
__noinline int head_end_captured(void)
{
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	__u64 captured = s->event.captured_len;
	__u64 ends = 0;
	for (__u32 at = 0; at < MAX_CAPTURE - 8; at += 4) {
		if (at >= captured)
			break; /* (one branch a step, on the bound only: a short record is scanned in short time) */
		__u64 w = *(__u32 *)&s->payload[at] | (__u64) * (__u32 *)&s->payload[at + 4] << 32;
		__u64 hit = ((__u64)((__u32)w ^ HEAD_END) - 1) | ((__u64)((__u32)(w >> 8) ^ HEAD_END) - 1) |
			    ((__u64)((__u32)(w >> 16) ^ HEAD_END) - 1) | ((__u64)((__u32)(w >> 24) ^ HEAD_END) - 1);
		__u64 inside = ((__s64)(at + 8) - (__s64)captured - 1) >> 63 & 1; /* at + 8 <= captured */
		ends |= (hit >> 63) & inside;
	}
	return ends != 0;
}

/*
 * The next piece of a long head into a record of its own, submitted. The piece that ends the head,
 * or the last one allowed, stands for the rest of the syscall (the body, never copied) and carries
 * its tail. Returns false when nothing more is to be copied. Its state is in the per-CPU scratch,
 * looked up again (an array lookup the verifier inlines): kept in registers across helper calls,
 * it was spilled to the stack, which the verifier's budget counts.
 */
static __always_inline bool head_piece(bool last)
{
	struct scratch *s = scratch_record();
	if (!s || s->piece_done >= s->piece_len)
		return false;
	__u32 n;
	if (s->piece_iovcnt)
		n = copy_iovec_from(s, s->piece_done, s->piece_len);
	else
		n = copy_piece(s, 0, s->piece_src + s->piece_done, s->piece_len - s->piece_done);
	if (n == 0)
		return false; /* unreadable: what is left shows as a gap in the sequence numbers */
	struct socket_event *e = &s->event;
	e->seq = s->piece_seq + (__u32)s->piece_done;
	/* A piece follows the record before it: only that first record says what was lost before. */
	e->flags = (e->flags & ~FLAG_LOST_BEFORE) | FLAG_HEAD_PIECE;
	e->captured_len = n;
	e->total_len = n;
	e->tail_len = 0;
	s->piece_done += n;
	bool ended = head_end_captured();
	s->piece_open = !ended;
	if ((ended || last) && s->piece_done < s->piece_len) {
		__u64 cut = s->piece_len - s->piece_done;
		__u32 want = cut < TAIL_BYTES ? cut : TAIL_BYTES;
		e->total_len = n + cut;
		if (s->piece_iovcnt)
			e->tail_len = copy_iovec_tail(s, n, &s->iovs, s->piece_iovcnt, s->piece_len, want);
		else
			e->tail_len = copy_tail(s, n, s->piece_src, s->piece_len, want);
		s->piece_done = s->piece_len;
	}
	count(COUNTER_HEAD_PIECES);
	submit(e);
	return !ended;
}

/*
 * A record whose payload was cut, which begins an HTTP head (or goes on with one the last syscall
 * did not end), and which holds no end of head: the bytes after it follow in records of up to
 * MAX_CAPTURE (HEAD_PIECES at most, flagged FLAG_HEAD_PIECE, each with its own seq) until the head
 * ends. Returns 1 when it submitted the record, 0 when the caller should (the head ends in it).
 * s->piece_open says afterwards whether the syscall ended inside the head. A global function,
 * verified once per program; its inputs are in the per-CPU scratch (piece_src, piece_len,
 * piece_iovcnt).
 */
__noinline int head_pieces(void)
{
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	s->piece_open = 0;
	if (head_end_captured())
		return 0;
	s = scratch_record(); /* (looked up again: see head_piece) */
	if (!s)
		return 0;
	s->piece_open = 1;
	s->piece_seq = s->event.seq;
	s->piece_done = s->event.captured_len;
	s->event.total_len = s->event.captured_len;
	s->event.tail_len = 0;
	submit(&s->event);
	for (int k = 0; k < HEAD_PIECES; k++) {
		if (!head_piece(k == HEAD_PIECES - 1))
			break;
	}
	return 1;
}

#include "h2_walk.bpf.h"

#ifndef PERISCOPE_COMPAT
#include "injection.bpf.h"
#else
/* The compat variant has no traceparent injection: the loader refuses it before loading. */
static __always_inline void inject_arm(__u8 syscall) {}
static __always_inline __u32 inject_report(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall,
					   long ret, __u64 exit_ns)
{
	return 0;
}
static __always_inline void serving_begin(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall) {}
static __always_inline void serving_answered(struct sock_info *info) {}
#endif

/*
 * An egress syscall keeps only its entry time: a client span starts when its request begins to
 * leave. Everything else is worked out at exit, where the byte count is known. (The compat
 * variant also keeps the arguments, of reads too.)
 */
static __always_inline int call_enter(struct trace_event_raw_sys_enter *ctx, __u8 syscall)
{
	/* One storage lookup for the filter's verdict and the call's entry. */
	struct inflight *call = inflight_of_current(INFLIGHT_CREATE);
	if (!process_traced_cached(bpf_get_current_pid_tgid() >> 32, call))
		return 0;
	if (!call) {
		count(COUNTER_INFLIGHT_DROPS);
		return 0;
	}
	call->enter_ns = bpf_ktime_get_ns();
	call->syscall = syscall;
	call->active = 1;
	save_syscall_args(call, ctx, syscall);
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
		struct h2_cursor *preface = &s->cursor;
		__builtin_memset(preface, 0, sizeof(*preface));
		preface->remaining = H2_PREFACE_LEN;
		struct h2_walk *w = h2_walk_syscall(s, preface, buf, iov_array, iov_total, ret);
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
	struct h2_cursor *fresh = &s->cursor;
	__builtin_memset(fresh, 0, sizeof(*fresh));
	struct h2_walk *w = h2_walk_syscall(s, fresh, buf, iov_array, iov_total, ret);
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

/* A TLS record's header: content type (change_cipher_spec 20 to application_data 23), version 3.x. */
static __always_inline bool tls_record_header(struct scratch *s)
{
	return s->event.captured_len >= 5 && s->payload[0] >= 20 && s->payload[0] <= 23 && s->payload[1] == 3 &&
	       s->payload[2] <= 4;
}

/*
 * The data record of len bytes the process moved at buf (an iovec array when iov_total), on info's
 * connection, whose first byte is at seq in its stream: the bytes themselves, or the HTTP/2 frame
 * stream. For the syscall exits and for the TLS library's returns (flags FLAG_TLS). Not made while
 * the connection is shed (ring_has_room).
 */
static __always_inline void emit_data(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall,
				      __u8 direction, __u64 buf, __u32 iov_total, __u32 iovcnt, long ret,
				      __u64 enter_ns, __u64 exit_ns, __u32 seq, __u8 flags, bool filled)
{
	struct socket_event *e = &s->event;
	if (info->shedding && (info->h2 == H2_YES || syscall == SYS_SENDFILE)) {
		count(COUNTER_SHED_RECORDS); /* no HTTP/1 request begins here */
		return;
	}
	fill_header(e, EVENT_DATA, info, fd, syscall, exit_ns);
	e->direction = direction;
	e->enter_ns = enter_ns;
	e->seq = seq;
	e->total_len = ret;
	e->flags = flags;
	if (syscall == SYS_SENDFILE) {
		submit_data(e, info); /* file contents: counted so parsers can skip them, never copied */
		return;
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
				return;
			submit_data(e, info);
			return;
		}
		cursor->synced = 0;
	}
	capture_bytes(s, &s->iovs, iovcnt, buf, ret);
	if (!flags && !info->first_seen) {
		/*
		 * The first record of a connection says whether it carries TLS: a handshake (or, joined
		 * midway, application data) record header, which no HTTP message begins with.
		 */
		info->first_seen = 1;
		if (tls_record_header(s)) {
			info->tls = TLS_CIPHERTEXT;
			cursor->seen = 0; /* the plaintext stream has not begun */
			count(COUNTER_TLS_CIPHERTEXT);
			return;
		}
	}
	if (info->shedding) {
		if (e->mode != CAPTURE_BYTES || !http_request_begins(s) || !ring_has_room()) {
			count(COUNTER_SHED_RECORDS);
			return;
		}
		/* Followed again from this request, as a connection joined midway. */
		info->shedding = 0;
		info->fresh = 0;
		info->head_open[0] = info->head_open[1] = 0;
		at_start = false;
		e->flags |= FLAG_LOST_BEFORE;
	}
	if (info->h2 != H2_YES || !cursor->synced)
		h2_detect(s, info, cursor, &s->iovs, iovcnt, buf, iov_array, iov_total, ret, at_start);
	if (settings.inject_traceparent && !flags && info->origin == ORIGIN_ACCEPT && e->mode == CAPTURE_BYTES) {
		if (direction == DIR_INGRESS)
			serving_begin(s, info, fd, syscall);
		else
			serving_answered(info);
	}
	/*
	 * A long head, cut by the capture, goes on in more records; so does one that the last syscall
	 * in this direction began and did not end (a sender's buffer took part of it). Not a request
	 * the kernel may have put a traceparent into: its bytes on the wire are not the ones the
	 * process wrote.
	 */
	__u8 *head_open = &info->head_open[direction & 1];
	if (e->mode == CAPTURE_BYTES && e->captured_len < e->total_len && (*head_open || http_head_begins(s)) &&
	    !(settings.inject_traceparent && direction == DIR_EGRESS)) {
		s->piece_src = buf;
		s->piece_len = ret;
		s->piece_iovcnt = iovcnt;
		s->dropped = 0;
		int submitted = head_pieces();
		*head_open = s->piece_open;
		if (s->dropped)
			info->shedding = 1;
		if (submitted)
			return;
	} else if (filled && e->mode == CAPTURE_BYTES && (*head_open || http_head_begins(s))) {
		/* Copied whole, but the reader's buffer was full: does the head go on in the next read? */
		*head_open = !head_end_captured();
	} else if (*head_open) {
		*head_open = 0; /* a syscall copied whole: the parser has all of it */
	}
	submit_data(e, info);
}

#include "tls.bpf.h"

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
	struct inflight *call = NULL;
	if (direction == DIR_EGRESS || ARGS_SAVED_AT_ENTRY) {
		/*
		 * A write needs its entry: call_enter records only traced processes, so this is also
		 * the process filter. (A write already blocked when the programs were attached, on a full
		 * socket buffer, is rare enough to lose; a read blocked on an idle connection is not,
		 * except on the compat variant, where reads need their entry for their arguments.)
		 */
		call = inflight_of_current(0);
		if (!call || !call->active || call->syscall != syscall)
			return 0;
		if (direction == DIR_EGRESS)
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

	struct syscall_args *args = &s->args;
	if (!syscall_args(call, args))
		return 0;
	__s32 fd = args->fd;
	__u64 buf = args->buf;
	__u64 arg3 = args->arg3;
	__u32 iovcnt = 0;   /* iovecs the raw capture looks at */
	__u32 iov_total = 0; /* iovecs the call had */
	if (syscall == SYS_RECVFROM && (args->arg4 & MSG_PEEK))
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
		info->agent_peer = is_agent_peer(s, info);
		info->peer_checked = 1;
	}
	if (info->agent_peer)
		return 0;
	struct inflight *thread = call ? call : inflight_of_current(0);
	if (info->tls || (thread && thread->in_tls)) {
		/* Ciphertext: the plaintext comes from the TLS library's probes, or not at all. */
		if (thread && thread->in_tls)
			tls_learn(tgid, fd, info, exit_ns);
		else
			tls_ciphertext(s, tgid, fd, direction, buf, iov_total, ret);
		info->tls_io_ns[direction & 1] = exit_ns;
		count(COUNTER_TLS_CIPHERTEXT);
		return 0;
	}
	if (iovcnt && !read_iovecs(&s->iovs, buf, iovcnt))
		return 0;
	__u32 injected = 0;
	if (settings.inject_traceparent && direction == DIR_EGRESS)
		injected = inject_report(s, info, fd, syscall, ret, exit_ns);
	/* The bytes the kernel inserted are in the socket's counter, not in what the process wrote. */
	__u32 seq = first_seq(info->sock, direction, ret) - injected;
	/* A read that filled its buffer (nginx reads a head 1 KiB first): more of what it read is waiting. */
	bool filled = (syscall == SYS_READ || syscall == SYS_RECVFROM) && (__u64)ret == arg3;
	emit_data(s, info, fd, syscall, direction, buf, iov_total, iovcnt, ret, enter_ns, exit_ns, seq, 0, filled);
	if (info->tls)
		tls_ciphertext(s, tgid, fd, direction, buf, iov_total, ret); /* its first bytes: a TLS handshake */
	return 0;
}

/* ---- data syscalls: exits for all, entries for egress (and, on the compat variant, for all) ---- */

#ifdef PERISCOPE_COMPAT
SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_READ); }

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_READV); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_RECVFROM); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_RECVMSG); }
#endif

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_READ, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_READV, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_RECVFROM, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_RECVMSG, DIR_INGRESS); }

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_WRITE); }

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_WRITE, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_WRITEV); }

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_WRITEV, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_SENDTO); }

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDTO, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_SENDMSG); }

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDMSG, DIR_EGRESS); }

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx) { return call_enter(ctx, SYS_SENDFILE); }

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret, SYS_SENDFILE, DIR_EGRESS); }

/* ---- connection lifecycle ---- */

static __always_inline int remember_call(__s32 fd, __u8 syscall)
{
	struct inflight *call = inflight_of_current(INFLIGHT_CREATE);
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
	if (!info || !info->port_traced || info->shedding)
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
	if (info.shedding)
		e->flags = FLAG_LOST_BEFORE;
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
	if (info.shedding)
		e->flags = FLAG_LOST_BEFORE;
	submit(e);
	return 0;
}
