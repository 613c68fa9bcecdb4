/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Go's crypto/tls: (*Conn).Write at entry, and (*Conn).Read at entry and at each of its RET
 * instructions (a uretprobe rewrites the return address on the goroutine's stack, and Go moves
 * stacks: it would crash the program). Go 1.17+'s register ABI: the receiver in RAX, the slice's
 * pointer and length in RBX and RCX; the result n in RAX at return; the goroutine (g) in R14,
 * which keys a Read, since a goroutine that blocks in the call may come back on another thread.
 *
 * A Write's plaintext is taken at entry. Go writes all of it or fails the connection, so nothing
 * is taken twice; and a Go client writes and reads a connection from two goroutines, so the
 * writer may return from a request's Write after the reader has returned its response: taken at
 * return, the two would reach the pipeline in the wrong order.
 *
 * The connection is the tls.Conn's own: its first field is the net.Conn it wraps, whose data
 * pointer is a *net.TCPConn, whose first field is the *netFD, whose poll.FD keeps the descriptor
 * (Sysfd) after its 16-byte mutex. These layouts have not changed since Go 1.9. The handshake's
 * ciphertext is not written through these functions; the syscall programs see it first and mark
 * the connection as TLS, so none of its ciphertext is copied.
 *
 * Included by tls.bpf.h.
 */
#ifndef GO_TLS_BPF_H
#define GO_TLS_BPF_H

#if defined(__TARGET_ARCH_x86)

struct go_tls_key {
	__u64 goroutine;
	__u32 tgid;
	__u32 pad;
};

struct go_tls_call {
	__u64 buf;
	__u64 enter_ns;
	__s32 fd;
	__u32 pad;
};

/*
 * Reads in progress, by goroutine: entry to return. A Go server has one goroutine waiting in Read
 * per idle keep-alive connection, so room for many; LRU: one pushed out returns unseen (below).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct go_tls_key);
	__type(value, struct go_tls_call);
} go_tls_calls SEC(".maps");

/* The descriptor of the TCP connection a *tls.Conn wraps, or -1. */
static __always_inline __s32 go_conn_fd(__u64 conn)
{
	__u64 tcp_conn = 0, net_fd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(&tcp_conn, sizeof(tcp_conn), (void *)(conn + 8)) || !tcp_conn)
		return -1;
	if (bpf_probe_read_user(&net_fd, sizeof(net_fd), (void *)tcp_conn) || !net_fd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(net_fd + 16)))
		return -1;
	return fd >= 0 && fd < 0x7fffffff ? fd : -1;
}

static __always_inline int go_tls_read_begin(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!process_traced(tgid))
		return 0;
	struct go_tls_key key = {.goroutine = ctx->r14, .tgid = tgid};
	struct go_tls_call call = {
		.buf = ctx->bx,
		.enter_ns = bpf_ktime_get_ns(),
		.fd = go_conn_fd(ctx->ax),
	};
	bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY);
	return 0;
}

/*
 * The descriptor of the connection whose Read returned unseen. Go's register ABI reserves, above
 * the return address, a spill slot for each register argument, and (*Conn).Read spills its
 * receiver there on entry (it is live across the calls it makes): at RET the *tls.Conn is at
 * 8(SP). Only believed if it leads to a TLS socket of this process. Otherwise, the connection
 * the thread last read ciphertext from: the read syscall inside the call ran on this thread a
 * moment ago, unless the goroutine moved since.
 */
static __always_inline struct sock_info *go_unseen_read_sock(struct pt_regs *ctx, struct fd_key *sock_key)
{
	__u64 conn = 0;
	if (!bpf_probe_read_user(&conn, sizeof(conn), (void *)(ctx->sp + 8)) && conn) {
		sock_key->fd = go_conn_fd(conn);
		struct sock_info *info = sock_key->fd >= 0 ? bpf_map_lookup_elem(&fd_socks, sock_key) : NULL;
		if (info && info->tls)
			return info;
	}
	__u64 thread = bpf_get_current_pid_tgid();
	__s32 *fd = bpf_map_lookup_elem(&tls_thread_reads, &thread);
	if (!fd)
		return NULL;
	sock_key->fd = *fd;
	return bpf_map_lookup_elem(&fd_socks, sock_key);
}

/*
 * A Read that was already waiting when the probes were attached (a keep-alive connection's reader
 * goroutine always is) returns with no entry seen: its plaintext is lost. Left unsaid, the next
 * response on a client's connection would be paired with the request whose response this was.
 * That connection's parsers are told to restart (a close record flagged FLAG_RESTART: the request
 * is counted unanswered, and ends no span), and take what follows as a connection joined midway.
 * The call proves the connection is Go's TLS, even before any of its calls returned seen.
 */
static __always_inline void go_tls_unseen_read(struct pt_regs *ctx, __u32 tgid)
{
	count(COUNTER_TLS_NO_SOCKET);
	struct fd_key sock_key = {.tgid = tgid};
	struct sock_info *info = go_unseen_read_sock(ctx, &sock_key);
	if (!info || !info->tls || !info->port_traced || info->agent_peer)
		return;
	info->tls = TLS_LIBRARY;
	info->h2_ingress.synced = 0; /* HTTP/2 frames are found again, not walked from a lost place */
	struct scratch *s = scratch_record();
	if (!s)
		return;
	fill_header(&s->event, EVENT_CONN_CLOSE, info, sock_key.fd, SYS_CLOSE, bpf_ktime_get_ns());
	s->event.enter_ns = s->event.exit_ns;
	s->event.flags = FLAG_RESTART;
	submit(&s->event);
}

static __always_inline int go_tls_read_end(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_tls_key key = {.goroutine = ctx->r14, .tgid = tgid};
	struct go_tls_call *call = bpf_map_lookup_elem(&go_tls_calls, &key);
	if (!call) {
		long unseen = ctx->ax;
		if (unseen > 0 && process_traced(tgid))
			go_tls_unseen_read(ctx, tgid);
		return 0;
	}
	long n = ctx->ax;
	__s32 fd = call->fd;
	__u64 buf = call->buf;
	__u64 enter_ns = call->enter_ns;
	bpf_map_delete_elem(&go_tls_calls, &key);
	if (n <= 0)
		return 0;
	if (fd < 0) {
		count(COUNTER_TLS_NO_SOCKET);
		return 0;
	}
	tls_emit(tgid, fd, DIR_INGRESS, buf, n, enter_ns, 0);
	return 0;
}

/* Attached by the loader to each Go program that links crypto/tls: Write's entry; Read's entry, and each RET. */
SEC("uprobe")
int go_tls_write_enter(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	long n = ctx->cx;
	if (n <= 0 || !process_traced(tgid))
		return 0;
	__s32 fd = go_conn_fd(ctx->ax);
	if (fd < 0) {
		count(COUNTER_TLS_NO_SOCKET);
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	tls_emit(tgid, fd, DIR_EGRESS, ctx->bx, n, now, now);
	return 0;
}

SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx) { return go_tls_read_begin(ctx); }

SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx) { return go_tls_read_end(ctx); }

#endif /* __TARGET_ARCH_x86 */

#endif /* GO_TLS_BPF_H */
