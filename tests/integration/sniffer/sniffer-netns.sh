#!/usr/bin/env bash
# Runs a sniffer test program inside a network namespace made for this run
# alone, with a veth pair whose two ends both live in it: nbxm0 (the side
# the sniffer captures on, as a host's side of a machine) and nbxp0 (the
# fake machine's side), plus nbxdown0, a veth left down. The namespace is
# deleted on exit, whatever happens; interface names are private to it, so
# parallel runs never collide.
# Usage: sniffer-netns.sh PROGRAM [ARGS...]   (a TAP program)
set -euo pipefail
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root and iproute2 to make a network namespace"
	exit 0
fi
ns=nbx-sniff-$$-$RANDOM
cleanup() { ip netns delete "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
# No IPv6 autoconfiguration chatter on the veth: only the test's frames.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ns" link set lo up
ip -n "$ns" link add nbxm0 address 02:00:00:00:00:01 type veth peer name nbxp0 address 02:00:00:00:00:02
ip -n "$ns" link set nbxm0 up
ip -n "$ns" link set nbxp0 up
# A veth pair left down, for the error a down interface gives.
ip -n "$ns" link add nbxdown0 type veth peer name nbxdown1
SNIFFER_IF_MACHINE_SIDE=nbxm0 SNIFFER_IF_PEER=nbxp0 SNIFFER_IF_DOWN=nbxdown0 \
	ip netns exec "$ns" "$@"
