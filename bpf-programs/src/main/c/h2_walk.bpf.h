/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * HTTP/2 frame-aware capture: the frames of a syscall's bytes are walked, so that a record carries
 * every frame header and the payloads of the frames the agent reads (HEADERS, SETTINGS, ...), and
 * never the payloads of DATA frames. Included by periscope.bpf.c after the record helpers.
 */
#ifndef H2_WALK_BPF_H
#define H2_WALK_BPF_H

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
/* The same without bpf_loop (compat variant): a syscall of more pieces loses the boundaries, counted. */
#define H2_COMPAT_STEPS 1024
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
static __always_inline long h2_step_body(void)
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
	/*
	 * clang knows n <= 9 and drops this check; the verifier before 6.x's register-to-register
	 * bounds does not know it when n came from avail ("R2 min value is negative" on 6.1). The
	 * barrier keeps the check in the code.
	 */
	barrier_var(n);
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

#ifndef PERISCOPE_COMPAT
/* bpf_loop's callback: verified once, whatever the number of steps. */
static long h2_step(__u64 index, void *unused)
{
	return h2_step_body();
}
#else
/*
 * Without bpf_loop, a global function: the verifier checks it once, on its own, and each call
 * in the bounded loop below costs a call, not another pass over the step (5.6+). Its state is in
 * the per-CPU walk, so it needs no arguments.
 */
__noinline int h2_compat_step(void)
{
	return h2_step_body();
}

/* The walk's loop, a global function too: verified once, not at each of the walk's call sites. */
__noinline int h2_compat_walk(void)
{
	for (__u32 i = 0; i < H2_COMPAT_STEPS; i++) {
		if (h2_compat_step())
			break;
	}
	return 0;
}
#endif

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
#ifndef PERISCOPE_COMPAT
	bpf_loop(H2_MAX_STEPS, h2_step, NULL, 0);
#else
	/* No bpf_loop: a bounded loop, which the verifier walks step by step, so fewer steps. */
	h2_compat_walk();
#endif
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

#endif /* H2_WALK_BPF_H */
