/* Prints the C layout of the shared structs; SocketEventLayoutTest compares the Java mirror with it. */
#include <stddef.h>
#include <stdio.h>
#include "periscope.h"

#define FIELD(s, f) printf(#s "." #f "=%zu\n", offsetof(struct s, f))

int main(void)
{
	printf("socket_event.size=%zu\n", sizeof(struct socket_event));
	FIELD(socket_event, type);
	FIELD(socket_event, direction);
	FIELD(socket_event, origin);
	FIELD(socket_event, syscall);
	FIELD(socket_event, tgid);
	FIELD(socket_event, tid);
	FIELD(socket_event, fd);
	FIELD(socket_event, sock);
	FIELD(socket_event, enter_ns);
	FIELD(socket_event, exit_ns);
	FIELD(socket_event, seq);
	FIELD(socket_event, total_len);
	FIELD(socket_event, captured_len);
	FIELD(socket_event, local_port);
	FIELD(socket_event, remote_port);
	FIELD(socket_event, local_addr);
	FIELD(socket_event, remote_addr);
	FIELD(socket_event, comm);
	FIELD(socket_event, tail_len);
	FIELD(socket_event, mode);
	FIELD(socket_event, flags);
	FIELD(socket_event, frames_len);
	FIELD(socket_event, frame_start);
	FIELD(socket_event, frame_start_wire);
	printf("h2_last_known_type=%d\n", H2_LAST_KNOWN_TYPE);
	printf("counter_max=%d\n", COUNTER_MAX);
	printf("tail_bytes=%d\n", TAIL_BYTES);
	printf("periscope_config.size=%zu\n", sizeof(struct periscope_config));
	FIELD(periscope_config, agent_tgid);
	FIELD(periscope_config, capture_bytes);
	FIELD(periscope_config, filter_pids);
	FIELD(periscope_config, filter_comms);
	FIELD(periscope_config, filter_ports);
	FIELD(periscope_config, inject_traceparent);
	FIELD(periscope_config, sample_all);
	FIELD(periscope_config, sample_bound);
	printf("traceparent_line=%d\n", TRACEPARENT_LINE);
	printf("max_capture=%d\n", MAX_CAPTURE);
	return 0;
}
