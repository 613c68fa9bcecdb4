// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* A program the verifier must reject (it reads past its stack), to test that the load error carries the verifier log. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getpid")
int out_of_bounds(void *ctx)
{
	volatile char buf[8] = {};
	volatile int index = 64;
	return buf[index];
}
