/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between the kernel programs and the Java side: every record in the ring
 * buffer is one struct socket_event followed by captured_len payload bytes (the first bytes the
 * syscall moved) and tail_len tail bytes (the last bytes it moved, when the payload was cut). The Java layout
 * (io.periscope.bpf.SocketEvent) mirrors this struct; a test compares both against the sizes
 * and offsets the C compiler reports (layout.c). Keep explicit padding; never reorder fields.
 */
#ifndef PERISCOPE_H
#define PERISCOPE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Hard upper bound of payload bytes copied per syscall; the runtime limit is config.capture_bytes. */
#define MAX_CAPTURE 8192
/* iovecs looked at per readv/writev/sendmsg/recvmsg; bytes behind them are counted, not copied. */
#define MAX_IOV 8
/*
 * When a syscall moves more than the capture limit, its last TAIL_BYTES are copied too: a parser
 * skipping a body it did not see can still find where the body's framing ends (the CRLF after a
 * chunk, the "0\r\n\r\n" that ends a chunked body).
 */
#define TAIL_BYTES 32
/*
 * An HTTP head longer than the capture is copied whole, in records of MAX_CAPTURE after the first,
 * up to HEAD_PIECES more: with the default capture of 8 KiB, heads of up to 64 KiB, the Java
 * parser's limit. Only for a syscall that begins with a request or status line and whose first
 * capture holds no end of head: bodies are never copied this way.
 */
#define HEAD_PIECES 7
/* "traceparent: 00-" + 32 hex trace id + "-" + 16 hex span id + "-01\r\n": what injection inserts. */
#define TRACEPARENT_LINE 70

enum event_type {
	EVENT_DATA = 1,       /* bytes moved on a TCP socket (or EOF: total_len 0 on a read) */
	EVENT_CONN_OPEN = 2,  /* accept() or connect() returned a TCP socket */
	EVENT_CONN_CLOSE = 3, /* close() of a traced fd, or the socket reached TCP_CLOSE (fd = -1) */
	/*
	 * The kernel inserted a traceparent line into a request the process wrote (opt-in). Comes just
	 * before that write's data record: seq is the request's first byte, total_len = captured_len the
	 * bytes inserted (the line, as payload), frame_start where in the written bytes they went.
	 */
	EVENT_TRACE_INJECTED = 4,
	/*
	 * Injection on: a traced server began to read a request with no valid traceparent, and the
	 * kernel made the trace id its thread's calls will carry. Comes just before that read's data
	 * record: seq is the request's first byte, the payload the trace id (32 hex digits).
	 */
	EVENT_TRACE_ROOT = 5,
};

enum direction {
	DIR_INGRESS = 0, /* the process read these bytes */
	DIR_EGRESS = 1,  /* the process wrote these bytes */
};

/*
 * What a data record's payload is. Raw bytes are the first captured_len bytes the syscall moved.
 * On an HTTP/2 connection whose frame boundaries the kernel knows, the payload is the *frame
 * stream* instead: every byte the syscall moved except the payloads of DATA frames and of frame
 * types RFC 9113 does not define, which are skipped (their headers, with lengths and flags, stay).
 * HEADERS behind a 1 MiB DATA frame in one write are then still captured, and bodies never are.
 * A syscall that moved only bytes of a skipped payload, without finishing it, is not recorded at
 * all: the next record's seq shows the bytes it moved.
 */
enum capture_mode {
	CAPTURE_BYTES = 0,
	CAPTURE_H2_FRAMES = 1,
	/* The frame stream up to frames_len, after which the kernel lost the frame boundaries. */
	CAPTURE_H2_FRAMES_LOST = 2,
};

/* HTTP/2 frame types up to this one are defined by RFC 9113; payloads of DATA and unknown types are skipped. */
#define H2_LAST_KNOWN_TYPE 9

enum origin {
	ORIGIN_UNKNOWN = 0, /* the socket existed before we saw how it was made */
	ORIGIN_ACCEPT = 1,
	ORIGIN_CONNECT = 2,
};

enum syscall_id {
	SYS_NONE = 0, SYS_READ, SYS_WRITE, SYS_READV, SYS_WRITEV, SYS_RECVFROM, SYS_SENDTO,
	SYS_RECVMSG, SYS_SENDMSG, SYS_SENDFILE, SYS_ACCEPT, SYS_CONNECT, SYS_CLOSE, SYS_STATE,
	SYS_SSL_READ, SYS_SSL_WRITE, /* plaintext from the TLS library (uprobes), not a syscall */
};

enum event_flags {
	/* The payload is the plaintext of a TLS connection, taken at the TLS library; seq counts plaintext bytes. */
	FLAG_TLS = 1,
	/*
	 * A later piece of one syscall that moved a long HTTP head: seq, captured_len and total_len are
	 * this piece's, which follows the previous record's bytes directly (see HEAD_PIECES).
	 */
	FLAG_HEAD_PIECE = 2,
	/*
	 * On a close record: not a close. The agent lost its place on the connection (a TLS read whose
	 * call it did not see): what the connection was in the middle of is lost, and it is followed
	 * again from what comes next, as one joined midway.
	 */
	FLAG_RESTART = 4,
	/*
	 * Records of this connection were lost before this one (overload: the ring buffer was full, or
	 * so full that the connection was shed): what it was in the middle of is lost, and it is
	 * followed again from this record, the start of a request, as one joined midway. On a close
	 * record: the connection ended while shed, so what it was in the middle of never ended.
	 */
	FLAG_LOST_BEFORE = 8,
};

enum counter_id {
	COUNTER_EVENTS = 0,          /* records submitted to the ring buffer */
	COUNTER_RINGBUF_DROPS = 1,   /* records lost because the ring buffer was full */
	COUNTER_TRUNCATED = 2,       /* data records whose payload was cut at capture_bytes */
	COUNTER_INFLIGHT_DROPS = 3,  /* syscalls not traced because the in-flight table was full */
	COUNTER_H2_SYNC_LOST = 4,    /* HTTP/2 frame walks that lost the frame boundaries (too many pieces) */
	COUNTER_INJECTED = 5,        /* requests given a traceparent line by the kernel */
	COUNTER_INJECT_FAILED = 6,   /* requests armed for one that left without it (socket not tracked, head split) */
	COUNTER_TLS_CIPHERTEXT = 7,  /* syscalls on TLS connections, not copied: their plaintext comes from the library */
	COUNTER_TLS_NO_SOCKET = 8,   /* TLS library calls whose connection was not known: their plaintext is lost */
	COUNTER_HEAD_PIECES = 9,     /* records that carried a later piece of a long HTTP head */
	COUNTER_SHED_RECORDS = 10,   /* data records not made: their connection was shed (overload) */
	COUNTER_SHED_CONNECTIONS = 11, /* connections not followed from their start: the ring buffer was over half full */
	COUNTER_MAX = 12,
};

struct socket_event {
	__u8 type;          /* enum event_type */
	__u8 direction;     /* enum direction */
	__u8 origin;        /* enum origin */
	__u8 syscall;       /* enum syscall_id */
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u64 sock;         /* kernel address of struct sock: the connection's identity, never exported */
	__u64 enter_ns;     /* CLOCK_MONOTONIC at syscall entry */
	__u64 exit_ns;      /* CLOCK_MONOTONIC at syscall exit */
	__u32 seq;          /* TCP sequence number of the first byte moved, sampled at entry */
	__u32 total_len;    /* bytes the syscall moved */
	__u32 captured_len; /* payload bytes that follow this header (<= total_len) */
	__u16 local_port;
	__u16 remote_port;
	__u8 local_addr[16];  /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	__u8 remote_addr[16];
	__u8 comm[16];
	__u32 tail_len;     /* the last tail_len of the total_len bytes, after the payload (0 unless cut) */
	__u8 mode;          /* enum capture_mode */
	__u8 flags;         /* enum event_flags */
	__u8 pad[2];
	__u32 frames_len;   /* HTTP/2 modes: bytes of frame stream the syscall carried (captured_len <= frames_len) */
	__u32 frame_start;  /* HTTP/2 modes: offset in the frame stream of the first frame header that begins in
	                       this syscall, frames_len when none does */
	__u32 frame_start_wire; /* the same header's offset in the bytes the syscall moved */
	__u32 reserved;
};

/* Read-only configuration, written by the loader before the object is loaded. */
struct periscope_config {
	__u32 agent_tgid;      /* never traced */
	__u32 capture_bytes;   /* <= MAX_CAPTURE */
	__u8 filter_pids;      /* trace only tgids in the filter_pids map ... */
	__u8 filter_comms;     /* ... or whose comm is in the filter_comms map */
	__u8 filter_ports;     /* trace only sockets whose local or remote port is in filter_ports */
	__u8 inject_traceparent; /* insert a traceparent into plaintext HTTP/1 requests that have none */
	/*
	 * Traces the kernel starts (injection) are sampled as the agent's ratio sampler samples them
	 * (OpenTelemetry's TraceIdRatioBased): all, or when |lower 64 bits of the trace id| < sample_bound.
	 */
	__u8 sample_all;
	__u8 pad[2];
	__s64 sample_bound;
};

#endif /* PERISCOPE_H */
