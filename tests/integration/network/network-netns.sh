#!/usr/bin/env bash
# Runs a network test program inside a network namespace made for this run
# alone: the program's "daemon namespace", where segment uplinks and the
# router's daemon-side rules go, so nothing touches the host's own
# namespace. Namespaces the program makes are named with NBX_TEST_PREFIX;
# their mounts live in the program's own mount namespace (ip netns exec
# gives it one) and die with it, and whatever files of them are left under
# /run/netns are removed here on every exit.
# Usage: network-netns.sh PROGRAM [ARGS...]   (a TAP program)
set -euo pipefail
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root and iproute2 to make network namespaces"
	exit 0
fi
prefix=nt$$r$RANDOM
ns=nbxt-$prefix
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	ip netns delete "$ns" 2>/dev/null || true
	shopt -s nullglob
	for leftover in /run/netns/*"$prefix"*; do
		umount -l "$leftover" 2>/dev/null || true
		rm -f "$leftover"
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
ip netns add "$ns"
ip -n "$ns" link set lo up
# Not exec: the trap must run when the test ends.
ip netns exec "$ns" env NBX_TEST_PREFIX="$prefix" NBX_TEST_SELF="$1" "$@"
