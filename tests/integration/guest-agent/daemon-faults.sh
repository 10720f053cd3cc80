#!/usr/bin/env bash
# The guest plugin's part of an analysis through nestboxd (fake machinery,
# agent guest plugin) against fake_agent.py misbehaving on purpose, in a
# guest network namespace of this script's: a sample that runs and exits 4
# (the report has it), then an agent that stops answering mid-run (silent
# on /process), one that answers 100 MiB, and one that answers garbage: each
# task fails with a reason that says so, and the daemon takes the next.
# Usage: daemon-faults.sh NESTBOXD NESTBOX FAKE_PLUGIN_DIR AGENT_PLUGIN_DIR FAKE_AGENT
set -euo pipefail
nestboxd=$1 nestbox=$2 fake_dir=$3 agent_dir=$4 fake_agent=$5
if [[ $(id -u) != 0 ]]; then
	echo "SKIP: needs root for network namespaces"
	exit 77
fi
work=$(mktemp -d)
suffix=$$-$RANDOM
host_ns=nbx-gf-host-$suffix guest_ns=nbx-gf-guest-$suffix
daemon_pid=
fail() { echo "FAIL: $*" >&2; [[ -f $work/log ]] && tail -n 30 "$work/log" >&2; exit 1; }
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	[[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
	for pid in $(ip netns pids "$guest_ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
	ip netns delete "$guest_ns" 2>/dev/null || true
	ip netns delete "$host_ns" 2>/dev/null || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

ip netns add "$host_ns"
ip netns add "$guest_ns"
ip -n "$host_ns" link set lo up
ip -n "$guest_ns" link set lo up
ip -n "$host_ns" link add nbxgf-h type veth peer name nbxgf-g netns "$guest_ns"
ip -n "$host_ns" addr add 10.232.0.1/24 dev nbxgf-h
ip -n "$guest_ns" addr add 10.232.0.2/24 dev nbxgf-g
ip -n "$host_ns" link set nbxgf-h up
ip -n "$guest_ns" link set nbxgf-g up

conf=$work/conf
mkdir -p "$conf/machinery" "$conf/guest" "$work/agent-root"
printf '%s\n' 'machineries = [ "fake" ];' "plugin_dirs = [ \"$fake_dir\", \"$agent_dir\" ];" \
	'builtin_plugin_dir = false;' "state_dir = \"$work/state\";" "run_dir = \"$work/run\";" \
	"analyses_dir = \"$work/analyses\";" "api = { socket = \"$work/api.sock\"; };" \
	'# Each guest op ends by then: a silent agent is given up on, however busy the host.' \
	'timeouts = { agent = 30; guest = 20; };' 'guest = { linux = "agent"; };' >"$conf/nestbox.conf"
printf '%s\n' 'machines = ( { name = "g"; label = "g"; ip = "10.232.0.2"; platform = "linux";' \
	'  agent_port = 8000; } );' >"$conf/machinery/fake.conf"
printf '%s\n' 'request_timeout = 20;' >"$conf/guest/agent.conf"
export NESTBOX_SOCKET=$work/api.sock
ip netns exec "$host_ns" "$nestboxd" --config "$conf" >"$work/log" 2>&1 &
daemon_pid=$!
daemon_answers() { kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died"; "$nestbox" health >/dev/null 2>&1; }
wait_for "nestboxd answering" daemon_answers

agent_pid=
start_agent() { # FAULT ROUTE (both empty: none)
	local state=$work/agent-state-${1:-none}
	if [[ -n $agent_pid ]]; then kill -KILL "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; fi
	mkdir -p "$state"
	ip netns exec "$guest_ns" python3 "$fake_agent" --bind 10.232.0.2 --flavor nestbox \
		--root "$work/agent-root" --state "$state" ${1:+--fault "$1"} ${2:+--fault-route "$2"} &
	agent_pid=$!
	wait_for "the fake agent listening" test -e "$state/ready"
}
task_field() {
	local out
	out=$("$nestbox" --json status "$1") &&
		python3 -c "import json,sys; print(json.load(sys.stdin).get('$2') or '')" <<<"$out"
}
task_ended() { [[ $(task_field "$1" state) =~ ^(cancelled|reported|failed)$ ]]; }
run_task() { # SAMPLE -> the task's id, once it ended
	local id out
	out=$("$nestbox" --json submit "$1" --machine g --duration 120 --until-exit)
	id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")
	wait_for "task $id ended" task_ended "$id"
	echo "$id"
}
expect_failure() { # ID TEXT
	local state reason
	state=$(task_field "$1" state) reason=$(task_field "$1" reason)
	[[ $state == failed ]] || fail "task $1 did not fail: $state"
	[[ $reason == *"$2"* ]] || fail "task $1's reason lacks \"$2\": $reason"
	echo "ok: task $1: $reason"
}

sample=$work/sample.sh
printf '#!/bin/sh\necho from the sample\nexit 4\n' >"$sample"

start_agent "" ""
id=$(run_task "$sample")
[[ $(task_field "$id" state) == reported ]] || fail "task $id: $(task_field "$id" reason)"
code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guest"]["process"]["exit_code"])' \
	"$(task_field "$id" analysis_dir)/report.json")
[[ $code == 4 ]] || fail "task $id: exit code $code, not 4"
echo "ok: the sample ran, exit code 4"

start_agent silent /process
expect_failure "$(run_task "$sample")" "the guest stopped answering during the run"
start_agent huge /process
expect_failure "$(run_task "$sample")" "the guest stopped answering during the run"
start_agent garbage /
expect_failure "$(run_task "$sample")" "agent: machine g: connect:"

"$nestbox" health >/dev/null || fail "nestboxd does not answer after the faults"
# SIGTERM, and its exit status: a sanitizer's finding (a leak) fails the test.
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
echo "all passed"
