#!/usr/bin/env bash
# Runs the guest plugin's test program with a guest network of its own,
# three network namespaces made for this run:
#  - "guest": where the agents the program starts listen (10.231.0.2);
#  - "host": the machine's network as the daemon reaches it (10.231.0.1),
#    joined to "guest" by a veth pair. A real agent refuses commands from
#    127.0.0.1 and from its own address, so the client must come from
#    another address, as it does from a real host;
#  - "outer": where the program itself runs, with no route to the guest. Its
#    op threads enter "host" (NBX_GA_HOST_NS), as the core's do for a machine
#    with a network namespace: a plugin that connected from any other thread
#    would not reach the agent.
#
# On exit, whatever happens: every process still in the guest namespace
# (agents the program started, and what they ran) is killed by pid, then
# the namespaces are deleted.
# Usage: run-in-netns.sh PROGRAM [ARGS...]   (a TAP program)
set -euo pipefail
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root and iproute2 to make network namespaces"
	exit 0
fi
suffix=$$-$RANDOM
host_ns=nbx-ga-host-$suffix guest_ns=nbx-ga-guest-$suffix outer_ns=nbx-ga-outer-$suffix
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	for pid in $(ip netns pids "$guest_ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ip netns delete "$guest_ns" 2>/dev/null || true
	ip netns delete "$host_ns" 2>/dev/null || true
	ip netns delete "$outer_ns" 2>/dev/null || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ip netns add "$host_ns"
ip netns add "$guest_ns"
ip netns add "$outer_ns"
ip -n "$outer_ns" link set lo up
ip -n "$host_ns" link set lo up
ip -n "$guest_ns" link set lo up
ip -n "$host_ns" link add nbxga-h type veth peer name nbxga-g netns "$guest_ns"
ip -n "$host_ns" addr add 10.231.0.1/24 dev nbxga-h
ip -n "$guest_ns" addr add 10.231.0.2/24 dev nbxga-g
ip -n "$host_ns" link set nbxga-h up
ip -n "$guest_ns" link set nbxga-g up

# Not exec: the trap must run when the program ends.
NBX_GA_GUEST_NS=$guest_ns NBX_GA_HOST_NS=$host_ns NBX_GA_GUEST_IP=10.231.0.2 \
	ip netns exec "$outer_ns" "$@"
