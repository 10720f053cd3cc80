#!/bin/bash
# qemu_template_bench.netns.sh - run qemu_template_bench inside a network
# namespace of its own, with the demo guest built at each RAM size.
# Usage: qemu_template_bench.netns.sh BUILD_DEMO_GUEST PLUGIN_DIR BENCH_BINARY SHELL_SCRIPT
#
# NBX_BENCH_SIZES (default "256 1024 4096") are the RAM sizes in MiB; each
# guest is built once into its own cache directory
# (${XDG_CACHE_HOME:-~/.cache}/nestbox/demo-guest-NNNN, or under
# $NBX_BENCH_GUEST_ROOT). The namespace has a bridge with the host address
# and the MAC the guests were saved with (machineinfo's host_mac), one tap
# in it for the timed restores, and 8 taps in no bridge for the clones
# (they share an IP and a MAC). Deleted on every exit path; QEMU processes
# are ended by the plugin (stop) and by the shell script (its own pid).
set -euo pipefail
builder=$1 plugin_dir=$2 bench=$3 shell_script=$4
say() { printf 'qemu-template-bench: %s\n' "$*" >&2; }
if [[ $EUID -ne 0 ]]; then
	say "SKIP: needs root (network namespace, tap devices)"
	exit 77
fi
root=${NBX_BENCH_GUEST_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/nestbox}
guests=
first_info=
for mib in ${NBX_BENCH_SIZES:-256 1024 4096}; do
	out=$("$builder" --memory "$mib" --output "$root/demo-guest-$mib") || { say "build-demo-guest --memory $mib failed"; exit 1; }
	dir=${out##*$'\n'}
	guests+=${guests:+,}$mib=$dir
	first_info=${first_info:-$dir/machineinfo.json}
done
get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$first_info" "$1"; }

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
	candidate=nbxtbench-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then netns=$candidate; break; fi
done
[[ -n $netns ]] || { say "could not create a network namespace"; exit 1; }
tap=nbxbtap0
ip -n "$netns" link set lo up
ip -n "$netns" link add br0 type bridge forward_delay 0 stp_state 0
host_mac=$(get host_mac)
[[ -z $host_mac ]] || ip -n "$netns" link set br0 address "$host_mac"
ip -n "$netns" tuntap add dev "$tap" mode tap
ip -n "$netns" link set "$tap" master br0
ip -n "$netns" addr add "$(get host_ip)/$(get netmask_prefix)" dev br0
ip -n "$netns" link set "$tap" up
ip -n "$netns" link set br0 up
for i in 0 1 2 3 4 5 6 7; do
	ip -n "$netns" tuntap add dev "nbxc$i" mode tap
	ip -n "$netns" link set "nbxc$i" up
done

# Not exec: the trap must run when the benchmark ends.
ip netns exec "$netns" env NBX_BENCH_GUESTS="$guests" NBX_BENCH_PLUGIN_DIR="$plugin_dir" \
	NBX_BENCH_TAP="$tap" NBX_BENCH_SHELL="$shell_script" "$bench"
