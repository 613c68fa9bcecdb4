/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Traceparent injection (opt-in): the write-side scan that arms a traceparent line, the sk_msg
 * program that inserts it, and the per-thread context of the request a thread serves. Full
 * variant only: it needs bpf_loop, task storage and bpf_task_pt_regs. Included by periscope.bpf.c.
 */
#ifndef INJECTION_BPF_H
#define INJECTION_BPF_H

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
	SERVING_PENDING = 4,  /* a request's head is coming in pieces, none yet with a traceparent or the end */
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
 * A later piece of a request head whose earlier pieces had neither a traceparent nor the end: a
 * request the kernel inserted a line into can arrive in pieces, the line a segment of its own.
 * A traceparent in it continues its trace; the head's end without one leaves the request without
 * a trace of the kernel's (its calls start their own, and the agent links what it sees); neither
 * waits for the next piece. A piece begins a line, which the scan does not look at for a name:
 * checked apart. Returns whether the read was such a piece.
 */
static __always_inline bool serving_piece(struct scratch *s, struct sock_info *info)
{
	struct serving *serving = bpf_task_storage_get(&serving_threads, bpf_get_current_task_btf(), 0, 0);
	if (!serving || serving->state != SERVING_PENDING || serving->sock != info->sock)
		return false;
	struct inject_scan *sc = inject_scan_state();
	__u32 n = s->event.captured_len < INJECT_SCAN ? s->event.captured_len : INJECT_SCAN;
	barrier_var(n);
	if (!sc || n == 0 || n > INJECT_SCAN || bpf_probe_read_kernel(sc->buf, n, s->payload)) {
		serving->state = SERVING_NONE;
		return true;
	}
	scan_head(sc, n);
	__u32 at = traceparent_name(sc, 0) ? 0 : sc->traceparent;
	if ((at == 0 && !traceparent_name(sc, 0)) || !parse_traceparent(sc, at, serving)) {
		if (sc->refused || sc->head_end || (n >= 2 && sc->buf[0] == '\r' && sc->buf[1] == '\n'))
			serving->state = SERVING_NONE;
		return true;
	}
	serving->state = SERVING_ONE;
	return true;
}

/*
 * A traced server read the start of a request (origin ACCEPT, injection on): its thread now
 * serves it. A request with no valid traceparent gets a trace id made here, reported ahead of the
 * read's record (EVENT_TRACE_ROOT, seq the request's first byte) so the agent gives its SERVER
 * span that trace.
 */
static __noinline void serving_begin(struct scratch *s, struct sock_info *info, __s32 fd, __u8 syscall)
{
	if (serving_piece(s, info))
		return;
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
	bool continued = sc->traceparent && parse_traceparent(sc, sc->traceparent, serving);
	if (!continued && !sc->head_end) {
		/* The head goes on in later reads: a traceparent there still counts (serving_piece). */
		serving->sock = info->sock;
		serving->state = SERVING_PENDING;
		return;
	}
	serving->sock = info->sock;
	serving->state = SERVING_ONE;
	if (continued)
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
	else if (serving->state == SERVING_PENDING && serving->sock == info->sock)
		serving->state = SERVING_NONE; /* answered before its head was seen to end */
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

#endif /* INJECTION_BPF_H */
