#!/bin/busybox sh
# PID 1 of the test VM, written by `cargo xtask vm`: mount what capacity
# needs, run /vm/plan.sh and `capacity verify`, print the CAPACITY-VM-*
# markers the host reads from the serial console, power off.

# Links for the applets, except where a host program is (/bin/sh is dash).
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin

mount -t proc proc /proc
if grep -q capacity_vm_probe /proc/cmdline; then
    echo CAPACITY-VM-PROBE-OK
    poweroff -f
fi
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# /tmp stays on the root filesystem, already in memory: a tmpfs mounted
# there would hide workspace files of a checkout under /tmp.
chmod 1777 /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control ||
    echo "CAPACITY-VM-WARNING no memory controller for child cgroups"
# Kernel messages share the console with the markers and the JSON: only
# emergencies (a panic) may interrupt them. The log is shown at the end.
dmesg -n 1

# CI: privileged tests must not skip. CAPACITY_VM: the CPUs are emulated,
# so tests may relax what they assert about speed and wall-clock time.
export CI=true CAPACITY_VM=1 CAPACITY_BIN=/usr/bin/capacity HOME=/root TMPDIR=/tmp RUST_BACKTRACE=1
echo "CAPACITY-VM-BEGIN release=$(uname -r) cpus=$(nproc)"
failed=0

# run_test NAME ARGS...: the test binary, its tests one at a time (they share the kernel).
run_test() {
    name=$1
    shift
    echo "CAPACITY-VM-TEST-BEGIN test=$name"
    "/vm/tests/$name" --test-threads=1 "$@" </dev/null
    rc=$?
    echo "CAPACITY-VM-RESULT test=$name status=$rc"
    [ "$rc" = 0 ] || failed=1
}

. /vm/plan.sh

echo "CAPACITY-VM-VERIFY-BEGIN"
capacity verify --json --max-error 0 >/tmp/verify.json 2>/tmp/verify.err </dev/null
rc=$?
cat /tmp/verify.json
echo
echo "CAPACITY-VM-VERIFY-END status=$rc"
cat /tmp/verify.err
[ "$rc" = 0 ] || failed=1

if [ "$failed" != 0 ]; then
    echo "CAPACITY-VM-DMESG (last 60 lines)"
    dmesg | tail -n 60
fi
echo "CAPACITY-VM-END"
poweroff -f
