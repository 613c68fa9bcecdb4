/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Go's crypto/tls: (*Conn).Write and (*Conn).Read, probed at entry and at each of their RET
 * instructions (a uretprobe rewrites the return address on the goroutine's stack, and Go moves
 * stacks: it would crash the program). Go 1.17+'s register ABI: the receiver in RAX, the slice's
 * pointer and length in RBX and RCX; the result n in RAX at return; the goroutine (g) in R14,
 * which keys a call, since a goroutine that blocks in the call may come back on another thread.
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
 * Calls in progress, by goroutine: entry to return. A Go server has one goroutine waiting in Read
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

static __always_inline int go_tls_enter(struct pt_regs *ctx)
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
 * A Read that was already waiting when the probes were attached (a keep-alive connection's reader
 * goroutine always is) returns with no entry seen: its plaintext is lost. Left unsaid, the next
 * response on a client's connection would be paired with the request whose response this was. The
 * read syscall inside it ran on this thread a moment ago: that connection's parsers are told to
 * restart (a close record flagged FLAG_RESTART: the request is counted unanswered, and ends no span),
 * and take what follows as a connection joined midway. (Should the thread have read another connection since, that one is restarted instead:
 * an exchange lost and counted, never a wrong one.)
 */
static __always_inline void go_tls_unseen_read(__u32 tgid)
{
	count(COUNTER_TLS_NO_SOCKET);
	__u64 thread = bpf_get_current_pid_tgid();
	__s32 *fd = bpf_map_lookup_elem(&tls_thread_reads, &thread);
	if (!fd)
		return;
	struct fd_key sock_key = {.tgid = tgid, .fd = *fd};
	struct sock_info *info = bpf_map_lookup_elem(&fd_socks, &sock_key);
	if (!info || info->tls != TLS_LIBRARY || !info->port_traced || info->agent_peer)
		return;
	info->h2_ingress.synced = 0; /* HTTP/2 frames are found again, not walked from a lost place */
	struct scratch *s = scratch_record();
	if (!s)
		return;
	fill_header(&s->event, EVENT_CONN_CLOSE, info, sock_key.fd, SYS_CLOSE, bpf_ktime_get_ns());
	s->event.enter_ns = s->event.exit_ns;
	s->event.flags = FLAG_RESTART;
	submit(&s->event);
}

static __always_inline int go_tls_return(struct pt_regs *ctx, __u8 direction)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_tls_key key = {.goroutine = ctx->r14, .tgid = tgid};
	struct go_tls_call *call = bpf_map_lookup_elem(&go_tls_calls, &key);
	if (!call) {
		long unseen = ctx->ax;
		if (direction == DIR_INGRESS && unseen > 0 && process_traced(tgid))
			go_tls_unseen_read(tgid);
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
	tls_emit(tgid, fd, direction, buf, n, enter_ns, 0);
	return 0;
}

/* Attached by the loader to each Go program that links crypto/tls: entry, and each RET. */
SEC("uprobe")
int go_tls_write_enter(struct pt_regs *ctx) { return go_tls_enter(ctx); }

SEC("uprobe")
int go_tls_write_return(struct pt_regs *ctx) { return go_tls_return(ctx, DIR_EGRESS); }

SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx) { return go_tls_enter(ctx); }

SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx) { return go_tls_return(ctx, DIR_INGRESS); }

#endif /* __TARGET_ARCH_x86 */

#endif /* GO_TLS_BPF_H */
