#!/bin/bash
# run-in-netns.sh - run the qemu machinery's integration test inside a
# network namespace of its own.
# Usage: run-in-netns.sh BUILD_DEMO_GUEST PLUGIN_DIR TEST_BINARY [ARGS...]
#
# Builds the demo guest (cached after the first run), creates a namespace
# with two tap devices (up, no address: the test puts the host address on
# the tap of the guest it talks to) and an empty bridge (for machines whose
# start_args attach them to a bridge: the plugin adds a tap of its own to
# it), runs TEST_BINARY in it so that QEMU,
# the taps and the agent checks all live there, and deletes the namespace
# on every exit path. QEMU children die with the test (PR_SET_PDEATHSIG).
set -euo pipefail
builder=$1 plugin_dir=$2 test_binary=$3
shift 3

say() { printf 'run-in-netns: %s\n' "$*" >&2; }
if [[ $EUID -ne 0 ]]; then
	echo "1..0 # SKIP needs root (network namespace, tap devices)"
	exit 0
fi
for tool in ip qemu-system-x86_64 qemu-img; do
	command -v "$tool" >/dev/null || { say "missing $tool"; exit 1; }
done

build_out=$("$builder") || { say "build-demo-guest failed"; exit 1; }
guest_dir=${build_out##*$'\n'}
[[ -f $guest_dir/machineinfo.json ]] || { say "no machineinfo.json in $guest_dir"; exit 1; }

netns=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $netns ]]; then
		ip netns delete "$netns" 2>/dev/null || say "warning: could not delete netns $netns"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

for _ in {1..20}; do
	candidate=nbxq-test-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then
		netns=$candidate
		break
	fi
done
[[ -n $netns ]] || { say "could not create a network namespace"; exit 1; }
ip -n "$netns" link set lo up
for tap in nbxqtap0 nbxqtap1; do
	ip -n "$netns" tuntap add dev "$tap" mode tap
	ip -n "$netns" link set "$tap" up
done
ip -n "$netns" link add nbxqbr0 type bridge forward_delay 0 stp_state 0
ip -n "$netns" link set nbxqbr0 up

# Not exec: the trap must run when the test ends.
ip netns exec "$netns" env \
	NBX_QEMU_TEST_GUEST_DIR="$guest_dir" \
	NBX_QEMU_TEST_PLUGIN_DIR="$plugin_dir" \
	NBX_QEMU_TEST_TAP0=nbxqtap0 NBX_QEMU_TEST_TAP1=nbxqtap1 NBX_QEMU_TEST_BRIDGE=nbxqbr0 \
	"$test_binary" "$@"
