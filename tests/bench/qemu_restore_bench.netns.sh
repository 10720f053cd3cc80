#!/bin/bash
# qemu_restore_bench.netns.sh - run qemu_restore_bench inside a network
# namespace of its own (TESTBED.md: guest traffic never leaves it).
# Usage: qemu_restore_bench.netns.sh BUILD_DEMO_GUEST PLUGIN_DIR BENCH_BINARY SHELL_SCRIPT
#
# A bridge carrying the host address of the demo guest's subnet with one
# tap in it, as in tests/integration/demo-guest/restore-agent.sh, with the
# MAC the guest's memory knows the host side by (machineinfo's host_mac):
# a bridge with a random MAC made the guest answer the old one until its
# ARP entry expired, a 5.2 s stall that the benchmarks measured instead of
# the restore. NBX_BENCH_RANDOM_HOST_MAC=1 keeps the random MAC, to measure
# the plugin's gratuitous ARP instead.
# The namespace is deleted on every exit path; QEMU processes are ended by
# the plugin (stop) and by the shell script (its own pid).
set -euo pipefail
builder=$1 plugin_dir=$2 bench=$3 shell_script=$4
say() { printf 'qemu-restore-bench: %s\n' "$*" >&2; }
if [[ $EUID -ne 0 ]]; then
	say "SKIP: needs root (network namespace, tap device)"
	exit 77
fi
build_out=$("$builder") || { say "build-demo-guest failed"; exit 1; }
guest_dir=${build_out##*$'\n'}
info=$guest_dir/machineinfo.json
[[ -f $info ]] || { say "no $info"; exit 1; }
get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$info" "$1"; }

netns=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[[ -n $netns ]] && { ip netns delete "$netns" 2>/dev/null || say "warning: could not delete netns $netns"; }
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
for _ in {1..20}; do
	candidate=nbxbench-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then
		netns=$candidate
		break
	fi
done
[[ -n $netns ]] || { say "could not create a network namespace"; exit 1; }
tap=nbxbtap0
ip -n "$netns" link set lo up
ip -n "$netns" link add br0 type bridge forward_delay 0 stp_state 0
host_mac=$(get host_mac)
if [[ -n $host_mac && ${NBX_BENCH_RANDOM_HOST_MAC:-0} != 1 ]]; then
	ip -n "$netns" link set br0 address "$host_mac"
fi
ip -n "$netns" tuntap add dev "$tap" mode tap
ip -n "$netns" link set "$tap" master br0
ip -n "$netns" addr add "$(get host_ip)/$(get netmask_prefix)" dev br0
ip -n "$netns" link set "$tap" up
ip -n "$netns" link set br0 up

# Not exec: the trap must run when the benchmark ends.
ip netns exec "$netns" env NBX_BENCH_GUEST_DIR="$guest_dir" NBX_BENCH_PLUGIN_DIR="$plugin_dir" \
	NBX_BENCH_TAP="$tap" NBX_BENCH_SHELL="$shell_script" "$bench"
