#!/usr/bin/env bash
# nestbox-agent (the dynamic build) in a guest whose random generator is not
# ready (crng_not_ready.so, LD_PRELOAD'ed: a blocking getrandom() blocks):
# POST /mkdtemp and POST /store, which make random temporary names, must
# still answer. In the demo guest, restored from a snapshot taken soon after
# boot, each waited seconds for the kernel (the plugin's upload step took
# 1-5 s under TCG). Two network namespaces of this script's; everything is
# stopped by pid and deleted on every exit path.
# Usage: crng-not-ready.sh AGENT_BINARY SHIM
set -euo pipefail
agent=$1 shim=$2
if [[ $(id -u) != 0 ]] || ! command -v curl >/dev/null; then
	echo "SKIP: needs root and curl"
	exit 77
fi
tag=$$-$RANDOM
ns_agent=nbxcr-a-$tag ns_client=nbxcr-c-$tag
tmp=$(mktemp -d)
agent_pid=
fail() { echo "FAIL: $*" >&2; tail -n 20 "$tmp/agent.log" >&2; exit 1; }
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $agent_pid ]]; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
	ip netns delete "$ns_agent" 2>/dev/null || true
	ip netns delete "$ns_client" 2>/dev/null || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

ip netns add "$ns_agent"
ip netns add "$ns_client"
ip -n "$ns_agent" link add nbxcr0 type veth peer name nbxcr1 netns "$ns_client"
ip -n "$ns_agent" addr add 10.252.0.1/24 dev nbxcr0
ip -n "$ns_client" addr add 10.252.0.2/24 dev nbxcr1
ip -n "$ns_agent" link set nbxcr0 up
ip -n "$ns_client" link set nbxcr1 up

# The shim comes before the sanitizer's runtime in the library list.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$shim \
	ip netns exec "$ns_agent" "$agent" --bind 10.252.0.1 --port 8000 --dry-clock \
	--output-dir "$tmp/output" >"$tmp/agent.log" 2>&1 &
agent_pid=$!
# A deadline that only a hang reaches, however busy the host.
post() { ip netns exec "$ns_client" curl -sS --max-time 120 "$@"; }
answers() { kill -0 "$agent_pid" || fail "the agent exited"; post -o /dev/null "http://10.252.0.1:8000/" 2>/dev/null; }
wait_for "the agent answering" answers

dir=$(post -f --data-urlencode "dirpath=$tmp" --data-urlencode prefix=crng- \
	http://10.252.0.1:8000/mkdtemp) || fail "POST /mkdtemp did not answer: $dir"
dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["dirpath"])' <<<"$dir")
[[ -d $dir && $(basename "$dir") == crng-???????? ]] || fail "POST /mkdtemp made no directory: $dir"
printf 'sample\n' >"$tmp/sample"
post -f -F "filepath=$dir/sample" -F "file=@$tmp/sample" http://10.252.0.1:8000/store >/dev/null ||
	fail "POST /store did not answer"
cmp -s "$tmp/sample" "$dir/sample" || fail "POST /store did not store the file"
echo "ok: /mkdtemp and /store answer while a blocking getrandom() would block"
