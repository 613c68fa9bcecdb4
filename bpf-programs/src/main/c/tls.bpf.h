/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * TLS plaintext, taken where the TLS library hands it over: uprobes on OpenSSL's (and BoringSSL's)
 * SSL_write, SSL_write_ex, SSL_read and SSL_read_ex, at entry and return. The plaintext becomes a
 * data record like a syscall's (FLAG_TLS, seq counting plaintext bytes), so the same parsers read
 * it; the connection's ciphertext is dropped by the syscall programs.
 *
 * Which connection: the socket syscall the thread makes inside the call (seen by the syscall
 * programs, tls_learn), remembered per (process, SSL*) for calls served from the library's own
 * buffer without a syscall, and from SSL_set_fd. Memory-BIO stacks (python's asyncio, gRPC's
 * core, node) do their socket I/O outside the library's calls: bytes handed to BIO_write that
 * begin as a read of ciphertext did name that read's socket, and ciphertext the library wrote to
 * a BIO names the socket a write then carries it to; the BIO names the SSL* (SSL_set_bio, and
 * BIO_new_bio_pair for the other half of a pair). A call whose connection is unknown is counted,
 * never guessed: event-loop servers serve many connections on one thread.
 *
 * Included by periscope.bpf.c after emit_data.
 */
#ifndef TLS_BPF_H
#define TLS_BPF_H

/* An SSL_read/SSL_write call a thread is in, between its entry and its return. */
struct tls_call {
	__u64 ssl;      /* the SSL* */
	__u64 buf;      /* the plaintext */
	__u64 ex_count; /* the _ex forms: where the library writes the byte count; 0 for the others */
	__u64 enter_ns;
	__u64 io_ns;    /* when the last syscall inside the call on its socket returned, or 0 */
	__s32 fd;       /* the socket a syscall inside the call used, or -1 */
	__u8 direction;
	__u8 pad[3];
};

/* By thread; a call lives from entry to return, so this holds the calls in progress. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* A pointer in a process (an SSL*, a BIO*): the key of the TLS maps. */
struct tls_key {
	__u64 ptr;
	__u32 tgid;
	__u32 pad;
};

/* (process, SSL*) -> socket fd: learned from syscalls inside calls, and from SSL_set_fd. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, __s32);
} tls_fds SEC(".maps");

/*
 * (process, first bytes) -> the socket a read of ciphertext outside a TLS library call came from.
 * Keyed by the bytes, not the buffer or the thread: gRPC copies what it read during the handshake
 * into a buffer of its own, and may hand it to OpenSSL on another thread. Sixteen bytes of a TLS
 * stream (a record header and ciphertext, or a handshake's random) name one read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_cipher_key);
	__type(value, __s32);
} tls_cipher_reads SEC(".maps");

/*
 * (process, first bytes) -> the SSL* whose library call put that ciphertext in a memory BIO
 * (BIO_write on its write BIO), until the program writes it to a socket: node's TLS, which reads
 * the socket into its own BIO's memory and so never hands OpenSSL a read with BIO_write, is found
 * by what it writes. Only for SSL*s whose socket is not known yet.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_cipher_key);
	__type(value, __u64);
} tls_cipher_writes SEC(".maps");

/*
 * By thread: the socket of its last read of ciphertext outside an OpenSSL call. Only to tell a
 * connection that plaintext went by unseen (go_tls.bpf.h), never to say whose plaintext is whose.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __s32);
} tls_thread_reads SEC(".maps");

/* (process, BIO*) -> the SSL* that reads from it or writes to it (SSL_set_bio). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, __u64);
} tls_bios SEC(".maps");

/* (process, BIO*) -> the other half of its pair (BIO_new_bio_pair: gRPC writes one, its SSL* reads the other). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, __u64);
} tls_bio_pairs SEC(".maps");

/* BIO_new_bio_pair's arguments, from entry to return, by thread: where it writes the two BIO*s. */
struct tls_bio_pair_call {
	__u64 first;
	__u64 second;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct tls_bio_pair_call);
} tls_bio_pair_calls SEC(".maps");

/* The first TLS_CIPHER_KEY_BYTES bytes a syscall moved (the first iovec's), into key; false if fewer. */
static __always_inline bool tls_cipher_head(struct scratch *s, struct tls_cipher_key *key, __u32 tgid, __u64 buf,
					    __u32 iov_total, long len)
{
	if (iov_total) {
		if (bpf_probe_read_user(&s->iovs.v[0], sizeof(s->iovs.v[0]), (void *)buf))
			return false;
		buf = (__u64)s->iovs.v[0].iov_base;
		if (s->iovs.v[0].iov_len < len)
			len = s->iovs.v[0].iov_len;
	}
	if (len < TLS_CIPHER_KEY_BYTES || bpf_probe_read_user(key->head, sizeof(key->head), (void *)buf))
		return false;
	key->tgid = tgid;
	key->pad = 0;
	return true;
}

/*
 * Ciphertext on fd that no TLS library call of this thread moved: a memory-BIO stack's own socket
 * I/O. A read is remembered by its first bytes, for the BIO_write that hands them to OpenSSL; a
 * write's first bytes may be what an SSL*'s call put in its write BIO, which makes fd its socket.
 */
static __always_inline void tls_ciphertext(struct scratch *s, __u32 tgid, __s32 fd, __u8 direction, __u64 buf,
					   __u32 iov_total, long len)
{
	struct tls_cipher_key *key = &s->cipher_head;
	if (direction == DIR_INGRESS) {
		__u64 thread = bpf_get_current_pid_tgid();
		bpf_map_update_elem(&tls_thread_reads, &thread, &fd, BPF_ANY);
		if (tls_cipher_head(s, key, tgid, buf, iov_total, len))
			bpf_map_update_elem(&tls_cipher_reads, key, &fd, BPF_ANY);
		return;
	}
	if (!tls_cipher_head(s, key, tgid, buf, iov_total, len))
		return;
	__u64 *ssl = bpf_map_lookup_elem(&tls_cipher_writes, key);
	if (!ssl)
		return;
	struct tls_key known = {.ptr = *ssl, .tgid = tgid};
	bpf_map_delete_elem(&tls_cipher_writes, key);
	bpf_map_update_elem(&tls_fds, &known, &fd, BPF_ANY);
}

/*
 * A syscall on fd inside a TLS call of this thread: that call's connection, and its SSL*'s, and
 * the time its bytes really moved.
 */
static __always_inline void tls_learn(__u32 tgid, __s32 fd, struct sock_info *info, __u64 exit_ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *call = bpf_map_lookup_elem(&tls_calls, &id);
	if (!call)
		return;
	call->fd = fd;
	call->io_ns = exit_ns;
	struct tls_key key = {.ptr = call->ssl, .tgid = tgid};
	bpf_map_update_elem(&tls_fds, &key, &fd, BPF_ANY);
	info->tls = TLS_LIBRARY;
}

/*
 * The len bytes of plaintext at buf that a TLS library's call on fd moved, as a data record on
 * that connection, its seq counting the plaintext of its direction. Timed by exit_ns or, when the
 * caller does not know it (0), by the connection's last syscall in that direction if it came
 * during the call (the library returns later, and later still when the thread was preempted in
 * between), else now: a read served from the library's buffer.
 */
static __always_inline void tls_emit(__u32 tgid, __s32 fd, __u8 direction, __u64 buf, __u64 len, __u64 enter_ns,
				     __u64 exit_ns)
{
	if (!len || fd < 0 || len > 0x7fffffff)
		return;
	struct scratch *s = scratch_record();
	if (!s)
		return;
	struct sock_info *info = lookup_sock(s, tgid, fd);
	if (!info || !info->port_traced || info->agent_peer)
		return;
	info->tls = TLS_LIBRARY;
	if (!exit_ns) {
		__u64 io_ns = info->tls_io_ns[direction & 1];
		exit_ns = io_ns >= enter_ns ? io_ns : bpf_ktime_get_ns();
	}
	if (direction == DIR_INGRESS)
		enter_ns = exit_ns; /* a read's entry says nothing: it may have waited for data */
	__u32 seq = info->tls_seq[direction & 1];
	info->tls_seq[direction & 1] = seq + len;
	emit_data(s, info, fd, direction == DIR_EGRESS ? SYS_SSL_WRITE : SYS_SSL_READ, direction, buf, 0, 0, len,
		  enter_ns, exit_ns, seq, FLAG_TLS, false);
}

static __always_inline int tls_enter(struct pt_regs *ctx, __u8 direction, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight *thread = inflight_of_current(INFLIGHT_CREATE);
	if (!process_traced_cached(id >> 32, thread))
		return 0;
	if (!thread) {
		count(COUNTER_INFLIGHT_DROPS);
		return 0;
	}
	struct tls_call call = {
		.ssl = PT_REGS_PARM1(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.ex_count = ex ? PT_REGS_PARM4(ctx) : 0,
		.enter_ns = bpf_ktime_get_ns(),
		.fd = -1,
		.direction = direction,
	};
	bpf_map_update_elem(&tls_calls, &id, &call, BPF_ANY);
	thread->in_tls = 1;
	return 0;
}

/*
 * At return, with the real count: SSL_read/SSL_write return it (<= 0: an error, or WANT_READ/
 * WANT_WRITE, and nothing moved, so a retried write is never doubled); the _ex forms return 1 and
 * write it through their fourth argument.
 */
static __always_inline int tls_exit(struct pt_regs *ctx, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *call = bpf_map_lookup_elem(&tls_calls, &id);
	if (!call)
		return 0;
	struct inflight *thread = inflight_of_current(0);
	if (thread)
		thread->in_tls = 0;
	long ret = PT_REGS_RC(ctx);
	__u64 len = 0;
	if (ex) {
		if (ret == 1 && bpf_probe_read_user(&len, sizeof(len), (void *)call->ex_count))
			len = 0;
	} else if (ret > 0) {
		len = ret;
	}
	__u32 tgid = id >> 32;
	__s32 fd = call->fd;
	if (len && fd < 0) {
		struct tls_key key = {.ptr = call->ssl, .tgid = tgid};
		__s32 *known = bpf_map_lookup_elem(&tls_fds, &key);
		if (known)
			fd = *known;
		else
			count(COUNTER_TLS_NO_SOCKET);
	}
	__u64 buf = call->buf;
	__u64 enter_ns = call->enter_ns;
	__u64 io_ns = call->io_ns;
	__u8 direction = call->direction;
	bpf_map_delete_elem(&tls_calls, &id);
	/*
	 * The bytes moved when the call's last syscall did: the library's own return comes later,
	 * and later still when the thread was preempted in between (measured: milliseconds on a busy
	 * machine, which made a server's span outlast its client's). A read served from the library's
	 * buffer had no syscall: then its return.
	 */
	tls_emit(tgid, fd, direction, buf, len, enter_ns, io_ns ? io_ns : bpf_ktime_get_ns());
	return 0;
}

/* Attached by the loader to each TLS library it finds (the function names are the SEC's). */
SEC("uprobe")
int ssl_write_enter(struct pt_regs *ctx) { return tls_enter(ctx, DIR_EGRESS, false); }

SEC("uretprobe")
int ssl_write_return(struct pt_regs *ctx) { return tls_exit(ctx, false); }

SEC("uprobe")
int ssl_write_ex_enter(struct pt_regs *ctx) { return tls_enter(ctx, DIR_EGRESS, true); }

SEC("uretprobe")
int ssl_write_ex_return(struct pt_regs *ctx) { return tls_exit(ctx, true); }

SEC("uprobe")
int ssl_read_enter(struct pt_regs *ctx) { return tls_enter(ctx, DIR_INGRESS, false); }

SEC("uretprobe")
int ssl_read_return(struct pt_regs *ctx) { return tls_exit(ctx, false); }

SEC("uprobe")
int ssl_read_ex_enter(struct pt_regs *ctx) { return tls_enter(ctx, DIR_INGRESS, true); }

SEC("uretprobe")
int ssl_read_ex_return(struct pt_regs *ctx) { return tls_exit(ctx, true); }

/* SSL_set_bio(ssl, rbio, wbio): the BIOs an SSL* reads its ciphertext from and writes it to. */
SEC("uprobe")
int ssl_set_bio(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!process_traced(tgid))
		return 0;
	__u64 ssl = PT_REGS_PARM1(ctx);
	struct tls_key key = {.ptr = PT_REGS_PARM2(ctx), .tgid = tgid};
	if (key.ptr)
		bpf_map_update_elem(&tls_bios, &key, &ssl, BPF_ANY);
	key.ptr = PT_REGS_PARM3(ctx);
	if (key.ptr)
		bpf_map_update_elem(&tls_bios, &key, &ssl, BPF_ANY);
	return 0;
}

/* BIO_new_bio_pair(&bio1, size1, &bio2, size2): each half names the other. */
SEC("uprobe")
int bio_new_bio_pair_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!process_traced(id >> 32))
		return 0;
	struct tls_bio_pair_call call = {.first = PT_REGS_PARM1(ctx), .second = PT_REGS_PARM3(ctx)};
	bpf_map_update_elem(&tls_bio_pair_calls, &id, &call, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int bio_new_bio_pair_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_bio_pair_call *call = bpf_map_lookup_elem(&tls_bio_pair_calls, &id);
	if (!call)
		return 0;
	__u64 first = 0, second = 0;
	bool read = !bpf_probe_read_user(&first, sizeof(first), (void *)call->first) &&
		    !bpf_probe_read_user(&second, sizeof(second), (void *)call->second);
	bpf_map_delete_elem(&tls_bio_pair_calls, &id);
	if (PT_REGS_RC(ctx) != 1 || !read || !first || !second)
		return 0;
	struct tls_key key = {.ptr = first, .tgid = id >> 32};
	bpf_map_update_elem(&tls_bio_pairs, &key, &second, BPF_ANY);
	key.ptr = second;
	bpf_map_update_elem(&tls_bio_pairs, &key, &first, BPF_ANY);
	return 0;
}

/*
 * BIO_write(bio, data, len) on a BIO of an SSL* (or its pair's other half): either a memory-BIO
 * stack handing the library ciphertext it read (data begins as a read of ciphertext did: that
 * read's socket is the SSL*'s), or the library writing ciphertext to the SSL*'s write BIO, which
 * the program will write to a socket itself (node): remembered by its first bytes until that
 * write names the socket. OpenSSL's writes to a socket BIO (nginx, curl) cost a copy of 16 bytes
 * and three lookups: their SSL*'s socket is known from the syscall inside the call.
 */
SEC("uprobe")
int bio_write(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if ((long)PT_REGS_PARM3(ctx) < TLS_CIPHER_KEY_BYTES)
		return 0;
	struct scratch *s = scratch_record();
	if (!s)
		return 0;
	struct tls_cipher_key *cipher = &s->cipher_head;
	if (bpf_probe_read_user(cipher->head, sizeof(cipher->head), (void *)PT_REGS_PARM2(ctx)))
		return 0;
	cipher->tgid = tgid;
	cipher->pad = 0;
	struct tls_key key = {.ptr = PT_REGS_PARM1(ctx), .tgid = tgid}; /* the BIO */
	__u64 *ssl = bpf_map_lookup_elem(&tls_bios, &key);
	if (!ssl) {
		__u64 *other = bpf_map_lookup_elem(&tls_bio_pairs, &key);
		if (!other)
			return 0;
		key.ptr = *other;
		ssl = bpf_map_lookup_elem(&tls_bios, &key);
		if (!ssl)
			return 0;
	}
	key.ptr = *ssl;
	__s32 *read = bpf_map_lookup_elem(&tls_cipher_reads, cipher);
	if (read) {
		/* The program hands OpenSSL what it read from a socket: that socket is the SSL*'s. */
		__s32 fd = *read;
		bpf_map_delete_elem(&tls_cipher_reads, cipher);
		bpf_map_update_elem(&tls_fds, &key, &fd, BPF_ANY);
	} else if (!bpf_map_lookup_elem(&tls_fds, &key)) {
		/* OpenSSL writing ciphertext to a BIO whose socket is not known yet: watch the socket writes for it. */
		bpf_map_update_elem(&tls_cipher_writes, cipher, &key.ptr, BPF_ANY);
	}
	return 0;
}

/* SSL_set_fd(ssl, fd): the connection of an SSL* before any byte moves. */
SEC("uprobe")
int ssl_set_fd(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!process_traced(id >> 32))
		return 0;
	struct tls_key key = {.ptr = PT_REGS_PARM1(ctx), .tgid = id >> 32};
	__s32 fd = PT_REGS_PARM2(ctx);
	bpf_map_update_elem(&tls_fds, &key, &fd, BPF_ANY);
	return 0;
}

/*
 * Traced processes that exec'd since the loader last looked, so that a short-lived program's TLS
 * library or Go code is probed milliseconds after it starts, not at the next scan of /proc. Full:
 * the oldest is overwritten, and the scan finds it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4096);
	__type(value, __u32);
} tls_execs SEC(".maps");

SEC("tp/sched/sched_process_exec")
int process_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (process_traced(tgid))
		bpf_map_push_elem(&tls_execs, &tgid, BPF_EXIST);
	return 0;
}

#include "go_tls.bpf.h"

#endif /* TLS_BPF_H */
