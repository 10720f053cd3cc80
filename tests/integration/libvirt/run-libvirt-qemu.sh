#!/bin/bash
# run-libvirt-qemu.sh - run a libvirt machinery test (or benchmark) on real
# QEMU, inside a network namespace and a libvirt root of its own.
# Usage: run-libvirt-qemu.sh BUILD_DEMO_GUEST TEST_BINARY [ARGS...]
#
# Builds the demo guest (cached), creates a namespace with one tap device
# carrying the host address the demo guest talks to, and a scratch
# directory for libvirt: `embed/` is the root of a qemu:///embed driver
# (its qemu.conf runs QEMU as root, so it reads the cached guest files as
# they are), `daemon/` is for a libvirtd the test starts itself
# (run-libvirtd.sh). On every exit path it kills the QEMUs that libvirt
# started for the test (by the pid files in that directory, checked
# against their command line), deletes the directory and the namespace.
set -euo pipefail
builder=$1 test_binary=$2
shift 2

say() { printf 'run-libvirt-qemu: %s\n' "$*" >&2; }
skip() {
	if [[ $* == *--tap* ]]; then echo "1..0 # SKIP $reason"; exit 0; fi
	say "SKIP: $reason"; exit 77
}
if [[ $EUID -ne 0 ]]; then
	reason="needs root (network namespace, tap device, QEMU as root)"; skip "$@"
fi
for tool in ip qemu-system-x86_64 qemu-img unshare libvirtd; do
	command -v "$tool" >/dev/null || { reason="missing $tool"; skip "$@"; }
done
if ! getent passwd libvirt-qemu >/dev/null; then
	reason="no user libvirt-qemu: install libvirt-daemon-system (libvirt's QEMU driver refuses to start without it)"
	skip "$@"
fi

build_out=$("$builder") || { say "build-demo-guest failed"; exit 1; }
guest_dir=${build_out##*$'\n'}
[[ -f $guest_dir/machineinfo.json ]] || { say "no machineinfo.json in $guest_dir"; exit 1; }

netns= scratch=
# Whether process $1's command line names our scratch directory. Read
# whole, not piped into grep -q: under pipefail a grep that stops early
# would SIGPIPE tr and make a QEMU of ours look like someone else's.
names_scratch() {
	local cmdline
	[[ $1 =~ ^[0-9]+$ ]] && cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) &&
		[[ $cmdline == *"$scratch"* ]]
}
kill_our_qemus() {
	local pidfile pid
	for pidfile in "$scratch"/embed/run/qemu/*.pid "$scratch"/daemon/run/qemu/*.pid; do
		[[ -f $pidfile ]] || continue
		pid=$(<"$pidfile")
		# Only a QEMU whose command line names our scratch directory is ours.
		if names_scratch "$pid"; then
			say "killing QEMU $pid left by the test"
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	if [[ -f $scratch/daemon/libvirtd.pid ]]; then
		pid=$(<"$scratch/daemon/libvirtd.pid")
		if names_scratch "$pid"; then
			say "killing libvirtd $pid left by the test"
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $scratch ]]; then
		kill_our_qemus
		# The capability probe takes seconds: keep its result for the next run.
		mkdir -p "$caps_cache"
		cp -f "$scratch"/{embed,daemon}/cache/qemu/capabilities/*.xml "$caps_cache"/ 2>/dev/null || true
		rm -rf "$scratch"
	fi
	if [[ -n $netns ]]; then
		ip netns delete "$netns" 2>/dev/null || say "warning: could not delete netns $netns"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

caps_cache=${XDG_CACHE_HOME:-$HOME/.cache}/nestbox/libvirt-qemu-capabilities
scratch=$(mktemp -d /tmp/nbx-libvirt-XXXXXX)
mkdir -p "$scratch/embed/etc" "$scratch/embed/cache/qemu/capabilities" \
	"$scratch/daemon/cache/qemu/capabilities"
# QEMU runs as root and libvirt leaves file owners and labels alone: the
# guest's kernel, initrd and base disk are the shared cached ones.
cat >"$scratch/embed/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
CONF
cp -f "$caps_cache"/*.xml "$scratch/embed/cache/qemu/capabilities/" 2>/dev/null || true
cp -f "$caps_cache"/*.xml "$scratch/daemon/cache/qemu/capabilities/" 2>/dev/null || true

# The guest the test boots is a copy, taken under the builder's lock: the
# cache is shared, and a build from another checkout (another agent) may
# replace it while this test runs.
mkdir -p "$scratch/guest"
flock "$guest_dir/.lock" cp "$guest_dir"/{vmlinuz,initrd.img,disk.qcow2,machineinfo.json} "$scratch/guest/"
guest_dir=$scratch/guest

for _ in {1..20}; do
	candidate=nbxl-test-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then
		netns=$candidate
		break
	fi
done
[[ -n $netns ]] || { say "could not create a network namespace"; exit 1; }
host_ip=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); print("%s/%d" % (i["host_ip"], i["netmask_prefix"]))' "$guest_dir/machineinfo.json")
ip -n "$netns" link set lo up
ip -n "$netns" tuntap add dev nbxltap0 mode tap
ip -n "$netns" link set nbxltap0 up
ip -n "$netns" addr add "$host_ip" dev nbxltap0

# Not exec: the trap must run when the test ends.
ip netns exec "$netns" env \
	NBX_LIBVIRT_TEST_GUEST_DIR="$guest_dir" \
	NBX_LIBVIRT_TEST_SCRATCH="$scratch" \
	NBX_LIBVIRT_TEST_TAP=nbxltap0 \
	"$test_binary" "$@"
