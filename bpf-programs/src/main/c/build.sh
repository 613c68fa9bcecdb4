#!/usr/bin/env bash
# Compiles the eBPF programs (CO-RE) into the jar's resources, and writes the C layout of the
# event struct for the Java layout test.
#
# vmlinux.h is generated from the build machine's kernel BTF (/sys/kernel/btf/vmlinux): CO-RE
# relocates every field access at load time, so the object runs on any kernel with BTF, not just
# this one. A pre-generated header can be supplied with VMLINUX_H=path (for builds on machines
# without BTF, such as container image builds).
set -euo pipefail
work=$1
out=$2
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work" "$out"

need() { command -v "$1" >/dev/null || { echo "build.sh: '$1' not found: install it (apt-get install $2)" >&2; exit 1; }; }
need clang clang
need cc gcc
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build.sh: libbpf headers missing: apt-get install libbpf-dev" >&2; exit 1; }

if [ -n "${VMLINUX_H:-}" ]; then
  cp "$VMLINUX_H" "$work/vmlinux.h"
elif [ ! -s "$work/vmlinux.h" ]; then
  need bpftool bpftool
  [ -r /sys/kernel/btf/vmlinux ] || { echo "build.sh: /sys/kernel/btf/vmlinux missing: this kernel has no BTF; set VMLINUX_H to a generated vmlinux.h" >&2; exit 1; }
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$work/vmlinux.h.tmp"
  mv "$work/vmlinux.h.tmp" "$work/vmlinux.h"
fi

arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# Two variants of one source: the full one (5.15+ with bpf_loop: task storage, saved registers,
# bpf_loop, injection) and the compat one (5.10+), which the loader picks where the full one's
# features are missing.
compile() {
  clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_"$arch" "${@:3}" \
    -I"$work" -I"$src" -c "$src/periscope.bpf.c" -o "$work/$1"
  # Keep BTF (CO-RE needs it), drop DWARF: a third of the size.
  llvm-strip -g "$work/$1" 2>/dev/null || true
  cp "$work/$1" "$out/$2"
}
compile periscope.bpf.o periscope.bpf.o
compile periscope_compat.bpf.o periscope_compat.bpf.o -DPERISCOPE_COMPAT

# A program the verifier rejects, for the test that load errors carry the verifier's log.
clang -g -O2 -target bpf -D__TARGET_ARCH_"$arch" -I"$work" \
  -c "$src/../../test/c/rejected.bpf.c" -o "$work/rejected.bpf.o"

cc -O0 -I"$src" -o "$work/layout" "$src/layout.c"
"$work/layout" > "$work/layout.properties"
