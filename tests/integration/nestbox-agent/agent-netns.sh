#!/usr/bin/env bash
# nestbox-agent on its own, as a normal process, over a real network:
# two network namespaces made for this run, joined by a veth pair, the
# agent in one (10.251.0.1, port 8000), the test client in the other
# (10.251.0.2, and 10.251.0.3 as a second client for pinning). The client
# is test_agent.py (TAP); it also runs a few requests from the agent's own
# namespace (loopback and the agent's address), which the agent must treat
# as the guest itself. A second agent runs as nobody on port 8001, for what
# an agent without root gets (POST /clock's refusal: the first agent runs
# with --dry-clock, since CLOCK_REALTIME is the host's). At the end the
# client asks GET /kill of both, and each must exit 0 (under ASan: no leak,
# no error).
#
# Usage: agent-netns.sh AGENT_BINARY TEST_SCRIPT
# Everything it starts is stopped by pid and both namespaces are deleted on
# every exit path.
set -euo pipefail
agent=${1:?usage: agent-netns.sh AGENT_BINARY TEST_SCRIPT}
script=${2:?usage: agent-netns.sh AGENT_BINARY TEST_SCRIPT}
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null || ! command -v curl >/dev/null; then
	echo "1..0 # SKIP needs root, iproute2 and curl"
	exit 0
fi
tag=$$-$RANDOM
ns_agent=nbxag-a-$tag ns_client=nbxag-c-$tag
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nbx-agent-test.XXXXXX")
agent_pid= user_agent_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	for pid in $agent_pid $user_agent_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	ip netns delete "$ns_agent" 2>/dev/null || true
	ip netns delete "$ns_client" 2>/dev/null || true
	if ((rc != 0)) && [[ -s $tmp/agent.log ]]; then
		echo "# last lines of the agent's log:"
		tail -n 40 "$tmp/agent.log" | sed 's/^/#   /'
	fi
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ip netns add "$ns_agent"
ip netns add "$ns_client"
for ns in "$ns_agent" "$ns_client"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$ns_agent" link add nbxag0 type veth peer name nbxag1 netns "$ns_client"
ip -n "$ns_agent" addr add 10.251.0.1/24 dev nbxag0
ip -n "$ns_client" addr add 10.251.0.2/24 dev nbxag1
ip -n "$ns_client" addr add 10.251.0.3/24 dev nbxag1
ip -n "$ns_agent" link set nbxag0 up
ip -n "$ns_client" link set nbxag1 up

mkdir -p "$tmp/work" "$tmp/tmpdir"
# stored files get 0666 & ~umask: the test checks 0644
umask 022
# A short --timeout so the idle and slow-client cases end soon; the test
# waits for them with deadlines far longer. --max-connections low enough
# for the test to fill it; --max-upload above the 50 MB round trip.
TMPDIR=$tmp/tmpdir ip netns exec "$ns_agent" "$agent" --port 8000 --dry-clock \
	--timeout 10 --max-connections 12 --max-upload 64 --max-output 1 \
	--output-dir "$tmp/output" >"$tmp/agent.log" 2>&1 &
agent_pid=$!
# nobody must reach its output directory (and the binary) through $tmp
chmod 711 "$tmp"
install -d -m 700 -o 65534 -g 65534 "$tmp/output-nobody"
ip netns exec "$ns_agent" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all --bounding-set=-all "$agent" --port 8001 --timeout 10 \
	--output-dir "$tmp/output-nobody" >"$tmp/user-agent.log" 2>&1 &
user_agent_pid=$!

status=0
NBA_TEST_WORK=$tmp/work NBA_TEST_TMPDIR=$tmp/tmpdir NBA_TEST_OUTPUT=$tmp/output \
NBA_TEST_USER_URL=http://10.251.0.1:8001 \
NBA_TEST_AGENT_NS=$ns_agent NBA_TEST_AGENT_PID=$agent_pid NBA_TEST_AGENT_LOG=$tmp/agent.log \
	ip netns exec "$ns_client" python3 "$script" http://10.251.0.1:8000 || status=$?

# The test ended with GET /kill of both: each must be gone, with status 0.
ended() {
	local pid=$1 log=$2 rc=0
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# the agent of $log did not exit after GET /kill"
		return 1
	fi
	wait "$pid" || rc=$?
	if ((rc != 0)); then
		echo "# the agent of $log exited with status $rc (sanitizer report in it?)"
		sed 's/^/#   /' "$log" | tail -n 40
		return 1
	fi
}
ended "$agent_pid" "$tmp/agent.log" || status=1
agent_pid=
ended "$user_agent_pid" "$tmp/user-agent.log" || status=1
user_agent_pid=
exit "$status"
