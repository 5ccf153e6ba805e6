#!/bin/sh
# Builds the kernel selftests' ring buffer benchmark
# (tools/testing/selftests/bpf/bench, its rb-* and pb-* benchmarks only)
# from Debian's linux-source-6.12, for `cargo xtask bench kernel`.
#
# Usage: build.sh OUT_DIR   (the binary is OUT_DIR/bench)
#
# Nothing of the kernel's source is kept in this repository: it comes from
# /usr/src/linux-source-6.12.tar.xz (Debian package linux-source-6.12).
# Two changes to it, both here:
# - its programs attach to tp/syscalls/sys_enter_getpgid instead of
#   fentry/__x64_sys_getpgid (fentry is refused on these machines; the
#   trigger is the same getpgid syscall, a tracepoint costs slightly more);
# - a copy of bench.c keeps only the ring and perf buffer entries of its
#   benchs[] and bench_parsers[] tables, so the other benchmarks need not build.
set -eu
OUT=$(realpath "$1")
TARBALL=/usr/src/linux-source-6.12.tar.xz
SRC=$OUT/linux-source-6.12
SB=$SRC/tools/testing/selftests/bpf
B=$OUT/build
mkdir -p "$OUT" "$B/libbpf"

[ -f "$TARBALL" ] || { echo "build.sh: $TARBALL missing: apt-get install linux-source-6.12" >&2; exit 2; }
[ -d "$SB" ] || tar -xJf "$TARBALL" -C "$OUT" linux-source-6.12/tools linux-source-6.12/scripts \
	linux-source-6.12/include/uapi linux-source-6.12/Makefile

# The in-tree libbpf (v1.5; Debian's is older), static, as the selftests link it.
make -s -C "$SRC/tools/lib/bpf" OUTPUT="$B/libbpf/" "$B/libbpf/libbpf.a"
make -s -C "$SRC/tools/lib/bpf" OUTPUT="$B/libbpf/" DESTDIR="$B/root" prefix= install_headers

bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$B/vmlinux.h"
MULTIARCH=$(cc -dumpmachine)
for prog in ringbuf_bench perfbuf_bench; do
	sed 's|SEC("fentry/" SYS_PREFIX "sys_getpgid")|SEC("tp/syscalls/sys_enter_getpgid")|' \
		"$SB/progs/$prog.c" > "$B/$prog.bpf.c"
	grep -q 'tp/syscalls/sys_enter_getpgid' "$B/$prog.bpf.c" || { echo "build.sh: $prog.c: no fentry to retarget" >&2; exit 1; }
	clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I"$B/root/include" -I"$SB/progs" -I"$SB" \
		-I"$SRC/tools/include/uapi" -I"/usr/include/$MULTIARCH" -c "$B/$prog.bpf.c" -o "$B/$prog.bpf.o"
	bpftool gen skeleton "$B/$prog.bpf.o" name "$prog" > "$B/$prog.skel.h"
done

# bench.c with only the rb-*/pb-* benchmarks and the ring buffer options.
awk '
	/^static const struct argp_child bench_parsers\[\] = \{/ { print; table = "parsers"; next }
	/^static const struct bench \*benchs\[\] = \{/ { print; table = "benchs"; next }
	table != "" && /^\};/ { table = "" }
	table == "parsers" && !/bench_ringbufs_argp|^\t\{\},/ { next }
	table == "benchs" && !/&bench_(rb|pb)_/ { next }
	{ print }
' "$SB/bench.c" > "$B/bench.c"

# testing_helpers.c includes the kernel's disasm.h (kernel/bpf, not
# extracted) for nothing the ring buffer benchmarks call.
: > "$B/disasm.h"
cc -O2 -g -o "$OUT/bench" -I"$B" -I"$SB" -I"$B/root/include" -I"$SRC/tools/include" \
	-I"$SRC/tools/include/uapi" "$B/bench.c" "$SB/benchs/bench_ringbufs.c" "$SB/testing_helpers.c" \
	"$B/libbpf/libbpf.a" -lelf -lz -lm -lpthread
echo "$OUT/bench"
