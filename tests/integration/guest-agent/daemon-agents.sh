#!/usr/bin/env bash
# The agent guest plugin through nestboxd (fake machinery) against a real
# agent run on this host as the guest, in a guest network namespace of this
# script's:
#  - "cape": CAPE's agent/agent.py 0.22 (kevoreilly/CAPEv2 at a pinned
#    commit), fetched by tools/fetch-peer-agents.sh (never part of our
#    tree), run with python3; skipped (exit 77, with the reason) when it
#    cannot be downloaded;
#  - "nestbox-agent": our own agent, as built, with its extensions.
# Each task is one way of running a sample, and its report and files are
# checked:
#  1. the way the plugin prefers (CAPE: the launcher through /execpy, async,
#     then /retrieve of its files; nestbox-agent: /execute + /process): a
#     sample with a unicode name, its exit code 3, stdout and stderr, a file
#     fetched by path and two by glob (CAPE: the launcher's "list";
#     nestbox-agent: its /list), the agent's log (/logs);
#  2. a 50 MB sample streamed by /store, hashed inside the guest;
#  3. (CAPE) use_launcher off: plain /execute, synchronous, which is the
#     core's waited execute (an agent that cannot watch, --until-exit): the
#     sample's output comes back, no exit code, and the report says so;
#  4. (CAPE) use_launcher off, no --until-exit: plain /execute with async.
# The agent runs as root on this host: its clock is never set (CAPE: the
# launcher's clock action is asked for a dry run, and CAP_SYS_TIME is out of
# its bounding set; nestbox-agent: --dry-clock and the same), and its
# temporary directories are under this script's work directory (TMPDIR),
# which is removed on every exit path.
# Usage: daemon-agents.sh cape|nestbox-agent NESTBOXD NESTBOX FAKE_PLUGIN_DIR AGENT_PLUGIN_DIR
#            FETCH_SCRIPT|NESTBOX_AGENT
set -euo pipefail
kind=$1 nestboxd=$2 nestbox=$3 fake_dir=$4 agent_dir=$5 agent_file=$6
if [[ $(id -u) != 0 ]]; then
	echo "SKIP: needs root for network namespaces"
	exit 77
fi
case $kind in
cape)
	fetched=0
	agent_py=$(bash "$agent_file" cape) || fetched=$?
	if ((fetched == 2)); then
		echo "SKIP: CAPE's agent.py could not be downloaded (see the line above), so it was not run"
		exit 77
	elif ((fetched != 0)); then
		echo "FAIL: tools/fetch-peer-agents.sh failed ($fetched)" >&2
		exit 1
	fi
	echo "CAPE agent: $agent_py"
	;;
nestbox-agent) ;;
*) echo "FAIL: unknown agent kind $kind" >&2; exit 1 ;;
esac

work=$(mktemp -d)
suffix=$$-$RANDOM
host_ns=nbx-cp-host-$suffix guest_ns=nbx-cp-guest-$suffix
guest_ip=10.234.0.2
daemon_pid= agent_pid=
fail() {
	echo "FAIL: $*" >&2
	[[ -f $work/log ]] && tail -n 30 "$work/log" >&2
	exit 1
}
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	if [[ -n $daemon_pid ]]; then kill -KILL "$daemon_pid" 2>/dev/null || true; fi
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
ip -n "$host_ns" link add nbxcp-h type veth peer name nbxcp-g netns "$guest_ns"
ip -n "$host_ns" addr add 10.234.0.1/24 dev nbxcp-h
ip -n "$guest_ns" addr add "$guest_ip/24" dev nbxcp-g
ip -n "$host_ns" link set nbxcp-h up
ip -n "$guest_ns" link set nbxcp-g up

# The guest's temporary directory (agent.py's /mkdtemp, the launcher's files).
guest_tmp=$work/guest-tmp
mkdir -p "$guest_tmp"
in_guest() { ip netns exec "$guest_ns" env TMPDIR="$guest_tmp" setpriv --bounding-set -sys_time "$@"; }
if [[ $kind == cape ]]; then
	NESTBOX_HELPER_DRY_CLOCK=1 in_guest python3 "$agent_py" "$guest_ip" 8000 &
else
	in_guest "$agent_file" --bind "$guest_ip" --port 8000 --dry-clock \
		--output-dir "$guest_tmp/agent-output" 2>"$work/agent.log" &
fi
agent_pid=$!
agent_answers() {
	kill -0 "$agent_pid" 2>/dev/null || fail "agent.py exited"
	ip netns exec "$host_ns" curl -fsS --max-time 5 "http://$guest_ip:8000/" >/dev/null 2>&1
}
wait_for "the agent ($kind) answering" agent_answers

conf=$work/conf
mkdir -p "$conf/machinery" "$conf/guest"
printf '%s\n' 'machineries = [ "fake" ];' "plugin_dirs = [ \"$fake_dir\", \"$agent_dir\" ];" \
	'builtin_plugin_dir = false;' "state_dir = \"$work/state\";" "run_dir = \"$work/run\";" \
	"analyses_dir = \"$work/analyses\";" "api = { socket = \"$work/api.sock\"; };" \
	'# Generous: only a hang should hit them, however busy the host.' \
	'timeouts = { agent = 60; guest = 120; };' 'guest = { linux = "agent"; };' >"$conf/nestbox.conf"
printf '%s\n' "machines = ( { name = \"g\"; label = \"g\"; ip = \"$guest_ip\"; platform = \"linux\";" \
	'  agent_port = 8000; } );' >"$conf/machinery/fake.conf"
printf '%s\n' 'request_timeout = 60;' >"$conf/guest/agent.conf"
export NESTBOX_SOCKET=$work/api.sock
ip netns exec "$host_ns" "$nestboxd" --config "$conf" >"$work/log" 2>&1 &
daemon_pid=$!
daemon_answers() { kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died"; "$nestbox" health >/dev/null 2>&1; }
wait_for "nestboxd answering" daemon_answers

task_field() {
	local out
	out=$("$nestbox" --json status "$1") &&
		python3 -c "import json,sys; print(json.load(sys.stdin).get('$2') or '')" <<<"$out"
}
task_ended() { [[ $(task_field "$1" state) =~ ^(cancelled|reported|failed)$ ]]; }
run_task() { # SUBMIT ARGS... -> the analysis directory of the reported task
	local id out state
	out=$("$nestbox" --json submit --machine g "$@")
	id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")
	wait_for "task $id ended" task_ended "$id"
	state=$(task_field "$id" state)
	[[ $state == reported ]] || fail "task $id $state: $(task_field "$id" reason)"
	task_field "$id" analysis_dir
}
# check.py DIR EXPR...: each Python expression over `report` (report.json), `guest`
# (its guest part), `out` and `err` (the sample's output), `log` (the agent's
# log, from /logs: http.server's line per request) must be true.
check() {
	GUEST_TMP=$guest_tmp python3 - "$@" <<-'EOF'
	import json, os, sys
	directory = sys.argv[1]
	guest_tmp = os.environ["GUEST_TMP"]
	report = json.load(open(os.path.join(directory, "report.json")))
	guest = report["guest"]
	def read(name):
	    path = os.path.join(directory, "output", name)
	    return open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
	out, err = read("stdout"), read("stderr")
	log = guest.get("agent_log", {})
	log = open(os.path.join(directory, log["file"]), errors="replace").read() if "file" in log else ""
	# For the record, not checked: how long each guest step took here.
	print("  steps (s):", ", ".join("%s %.2f" % (s["name"], s["duration_s"]) for s in report["steps"]
	                                  if s["name"].startswith("guest.")), file=sys.stderr)
	for expression in sys.argv[2:]:
	    try:
	        ok = eval(expression)
	    except Exception as error:
	        ok = False
	        expression += " (%r)" % error
	    if not ok:
	        sys.exit("report check failed: %s\nguest: %s\nstdout: %r\nstderr: %r"
	                 % (expression, json.dumps(guest, indent=1, ensure_ascii=False), out, err))
	EOF
}

# 1. The preferred way: unicode name, exit code, output, fetch by path and glob.
sample=$work/"ünïcødé sample ✓.sh"
cat >"$sample" <<'EOF'
#!/bin/sh
echo "stdout: I am $(basename "$0")"
echo "stderr: a warning" >&2
mkdir produced
printf 'first\n' >produced/one.txt
printf 'second file\n' >produced/two.txt
printf 'by path\n' >"$1"
exit 3
EOF
by_path="$guest_tmp/fetched by path ü.txt"
dir=$(run_task "$sample" --until-exit --duration 120 --arg "$by_path" \
	--fetch "$by_path" --fetch "$guest_tmp/nestbox-*/produced/*.txt" --fetch "$guest_tmp/missing.txt")
if [[ $kind == cape ]]; then
	check "$dir" 'guest["agent"]["name"] == "CAPE Agent" and guest["agent"]["version"] == "0.22"' \
		'guest["result"]["run_method"] == "launcher through /execpy"' \
		'"POST /store" in log and "POST /execpy" in log and "POST /retrieve" in log' \
		'"/pinning" not in log and "/kill" not in log and "POST /status" not in log'
else
	check "$dir" 'guest["agent"]["name"] == "nestbox-agent"' \
		'guest["result"]["run_method"].startswith("/execute with nestbox-agent")' \
		'"POST /list" in log and "POST /process" in log and "/pinning" not in log'
fi
check "$dir" 'guest["sample"]["original_name"] == "ünïcødé sample ✓.sh"' \
	'guest["process"]["exit_code"] == 3' \
	'out == "stdout: I am ünïcødé sample ✓.sh\n"' 'err == "stderr: a warning\n"' \
	'[f["pattern"] for f in guest["files"] if "sha256" not in f] == [guest_tmp + "/missing.txt"]' \
	'sorted(f["size"] for f in guest["files"] if "sha256" in f) == [6, 8, 12]' \
	'[f["file"].startswith("files/") for f in guest["files"] if "sha256" in f] == [True] * 3'
echo "ok: $kind: unicode name, exit code 3, stdout, stderr, 3 files by path and glob, one missing"

# 2. 50 MB, streamed by /store and hashed in the guest.
big=$work/big.bin
head -c $((50 * 1024 * 1024)) /dev/urandom >"$big"
big_sha=$(sha256sum "$big" | cut -d' ' -f1)
dir=$(run_task "$big" --until-exit --duration 120 --command 'sha256sum %SAMPLE%')
check "$dir" 'guest["process"]["exit_code"] == 0' "out.startswith(\"$big_sha \")" \
	'guest["sample"]["size"] == 50 * 1024 * 1024'
echo "ok: $kind: a 50 MB sample arrived whole (SHA-256 in the guest $big_sha)"

if [[ $kind == cape ]]; then
	# 3. Plain /execute, synchronous: the output, but no exit code.
	dir=$(run_task "$sample" --until-exit --duration 120 --arg "$work/sync.txt" \
		--option agent.use_launcher=false)
	check "$dir" 'guest["result"]["run_method"].startswith("/execute")' \
		'guest["process"]["state"] == "exited" and guest["process"]["exit_code"] is None' \
		'"reports no exit code" in guest["process"]["exit_code_reason"]' \
		'out == "stdout: I am ünïcødé sample ✓.sh\n"' 'err == "stderr: a warning\n"'
	[[ -f $work/sync.txt ]] || fail "the synchronous sample did not run"
	echo "ok: /execute synchronous: stdout and stderr, no exit code (said in the report)"

	# 4. Plain /execute with async: started, nothing more known; it ran.
	dir=$(run_task "$sample" --duration 5 --arg "$work/async.txt" --option agent.use_launcher=false)
	check "$dir" 'guest["process"]["state"] == "started"' 'guest["process"]["exit_code"] is None'
	wait_for "the async sample's file" test -f "$work/async.txt"
	echo "ok: /execute async: started, ran"
fi

"$nestbox" health >/dev/null || fail "nestboxd does not answer"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
echo "all passed against $kind"
