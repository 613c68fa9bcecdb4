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
	__u8 direction;
	__u8 pad[3];
};

/* Calls in progress, by goroutine: entry to return. LRU: a goroutine that never returns ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
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

static __always_inline int go_tls_enter(struct pt_regs *ctx, __u8 direction)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!process_traced(tgid))
		return 0;
	struct go_tls_key key = {.goroutine = ctx->r14, .tgid = tgid};
	struct go_tls_call call = {
		.buf = ctx->bx,
		.enter_ns = bpf_ktime_get_ns(),
		.fd = go_conn_fd(ctx->ax),
		.direction = direction,
	};
	bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY);
	return 0;
}

static __always_inline int go_tls_return(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_tls_key key = {.goroutine = ctx->r14, .tgid = tgid};
	struct go_tls_call *call = bpf_map_lookup_elem(&go_tls_calls, &key);
	if (!call)
		return 0;
	long n = ctx->ax;
	__s32 fd = call->fd;
	__u64 buf = call->buf;
	__u64 enter_ns = call->enter_ns;
	__u8 direction = call->direction;
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
int go_tls_write_enter(struct pt_regs *ctx) { return go_tls_enter(ctx, DIR_EGRESS); }

SEC("uprobe")
int go_tls_write_return(struct pt_regs *ctx) { return go_tls_return(ctx); }

SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx) { return go_tls_enter(ctx, DIR_INGRESS); }

SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx) { return go_tls_return(ctx); }

#endif /* __TARGET_ARCH_x86 */

#endif /* GO_TLS_BPF_H */
