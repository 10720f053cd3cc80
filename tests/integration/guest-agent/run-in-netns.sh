#!/usr/bin/env bash
# Runs the guest plugin's test program with a guest network of its own: two
# network namespaces made for this run, a "host" one where the program runs
# and a "guest" one where the agents it starts listen, joined by a veth pair
# (10.231.0.1 on the host's side, 10.231.0.2 on the guest's). A real agent
# refuses commands from 127.0.0.1 and from its own address, so the client
# must come from another address, as it does from a real host.
#
# On exit, whatever happens: every process still in the guest namespace
# (agents the program started, and what they ran) is killed by pid, then
# both namespaces are deleted.
# Usage: run-in-netns.sh PROGRAM [ARGS...]   (a TAP program)
set -euo pipefail
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root and iproute2 to make network namespaces"
	exit 0
fi
suffix=$$-$RANDOM
host_ns=nbx-ga-host-$suffix guest_ns=nbx-ga-guest-$suffix
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	for pid in $(ip netns pids "$guest_ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ip netns delete "$guest_ns" 2>/dev/null || true
	ip netns delete "$host_ns" 2>/dev/null || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ip netns add "$host_ns"
ip netns add "$guest_ns"
ip -n "$host_ns" link set lo up
ip -n "$guest_ns" link set lo up
ip -n "$host_ns" link add nbxga-h type veth peer name nbxga-g netns "$guest_ns"
ip -n "$host_ns" addr add 10.231.0.1/24 dev nbxga-h
ip -n "$guest_ns" addr add 10.231.0.2/24 dev nbxga-g
ip -n "$host_ns" link set nbxga-h up
ip -n "$guest_ns" link set nbxga-g up

# Not exec: the trap must run when the program ends.
NBX_GA_GUEST_NS=$guest_ns NBX_GA_GUEST_IP=10.231.0.2 NBX_GA_HOST_IP=10.231.0.1 \
	ip netns exec "$host_ns" "$@"
