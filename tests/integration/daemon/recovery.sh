#!/usr/bin/env bash
# kill -9 nestboxd during a restore, during the run and during a stop; start
# it again and check what it promises: the task that was running is queued
# again with the reason and then reported, the machine the dead daemon left
# "running" is stopped, the task that was only queued is not lost. Then
# SIGTERM with a running analysis, and SIGHUP with a good and a bad config.
# Runs the real nestboxd and the nestbox CLI against the fake machinery,
# whose running machines are files (run/plugins/fake/NAME.running).
set -euo pipefail
nestboxd=$1 nestbox=$2 plugin_dir=$3

work=$(mktemp -d)
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/log ]] && tail -n 30 "$work/log" >&2; exit 1; }

conf=$work/conf
mkdir -p "$conf/machinery"
cat >"$conf/nestbox.conf" <<EOF
machineries = [ "fake" ];
plugin_dirs = [ "$plugin_dir" ];
builtin_plugin_dir = false;
state_dir = "$work/state";
run_dir = "$work/run";
analyses_dir = "$work/analyses";
api = { socket = "$work/api.sock"; };
scheduler = { max_attempts = 5; shutdown_timeout = 30; };
EOF
# restore_start and stop each take 1 s: windows wide enough to kill the daemon in.
cat >"$conf/machinery/fake.conf" <<EOF
machines = ( { name = "m1"; label = "m1"; ip = "127.0.0.1"; platform = "linux"; delay_ms = 1000; } );
EOF
cat >"$conf/auxiliary.conf" <<EOF
aux-alpha = { enabled = true; };
aux-beta = { enabled = false; };
aux-gamma = { enabled = false; };
aux-strict = { enabled = false; };
EOF
export NESTBOX_SOCKET=$work/api.sock
marker=$work/run/plugins/fake/m1.running

start_daemon() {
	"$nestboxd" --config "$conf" >>"$work/log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 300); do
		"$nestbox" health >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died at start"
		sleep 0.1
	done
	fail "nestboxd did not answer"
}

field() { # field ID NAME
	"$nestbox" --json status "$1" | python3 -c "import json,sys; v=json.load(sys.stdin).get('$2'); print('' if v is None else v)"
}

wait_step() { # wait_step ID STEP
	for _ in $(seq 600); do
		[[ $(field "$1" step) == "$2" ]] && return 0
		sleep 0.05
	done
	fail "task $1 never reached step $2 (at $(field "$1" step))"
}

wait_state() { # wait_state ID STATE
	for _ in $(seq 1200); do
		[[ $(field "$1" state) == "$2" ]] && return 0
		sleep 0.1
	done
	fail "task $1 never became $2 (is $(field "$1" state): $(field "$1" reason))"
}

kill9_during() { # kill9_during STEP: one crash, one restart, the invariants
	local step=$1 id queued
	id=$("$nestbox" --json submit --duration 3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	queued=$("$nestbox" --json submit --duration 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	wait_step "$id" "$step"
	[[ $step == analysis_dir || -e $marker || $step == restore_start ]] || fail "no running marker during $step"
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
	start_daemon
	# The dead daemon's machine is stopped before anything else runs on it.
	wait_state "$id" reported
	[[ $(field "$id" attempts) == 2 ]] || fail "task $id: $(field "$id" attempts) attempts after a crash during $step"
	"$nestbox" --json status "$id" | grep -q "nestboxd ended during step $step" ||
		fail "task $id does not say the daemon ended during $step"
	wait_state "$queued" reported
	[[ ! -e $marker ]] || fail "machine m1 left running after the crash during $step"
	echo "ok: kill -9 during $step"
}

start_daemon
kill9_during restore_start
kill9_during run
kill9_during stop

# SIGTERM while an analysis runs: it stops the machine, the task goes back to the queue.
id=$("$nestbox" --json submit --duration 600 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wait_step "$id" run
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
[[ $status == 0 ]] || fail "nestboxd exited $status on SIGTERM"
[[ ! -e $marker ]] || fail "SIGTERM left machine m1 running"
[[ ! -e $work/api.sock ]] || fail "SIGTERM left the API socket behind"
start_daemon
[[ $("$nestbox" --json status "$id" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["state"] if t["state"] != "running" else "queued")') == queued ]] ||
	fail "task $id is not back in the queue after SIGTERM"
"$nestbox" --json status "$id" | grep -q "interrupted by a shutdown of nestboxd" || fail "task $id has no reason"
"$nestbox" cancel "$id" >/dev/null
wait_state "$id" cancelled
echo "ok: SIGTERM"

# SIGHUP: a broken config is refused and the old machines stay; a good one is applied.
cp "$conf/machinery/fake.conf" "$work/fake.conf.good"
echo 'machines = ( { name = "m1"; label = "m1"; ip = "not-an-ip"; platform = "linux"; } );' >"$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
for _ in $(seq 100); do grep -q "reload refused" "$work/log" && break; sleep 0.1; done
grep -q "reload refused" "$work/log" || fail "bad reload not refused"
kill -0 "$daemon_pid" || fail "nestboxd died on a bad reload"
"$nestbox" machines | grep -q '^m1 ' || fail "machine m1 gone after a refused reload"
cat >"$conf/machinery/fake.conf" <<EOF
machines = ( { name = "m2"; label = "m2"; ip = "127.0.0.2"; platform = "linux"; } );
EOF
kill -HUP "$daemon_pid"
for _ in $(seq 100); do "$nestbox" machines | grep -q '^m2 ' && break; sleep 0.1; done
"$nestbox" machines | grep -q '^m2 ' || fail "good reload not applied"
"$nestbox" machines | grep -q '^m1 ' && fail "machine m1 still there after the reload"
id=$("$nestbox" --json submit --duration 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wait_state "$id" reported
[[ $(field "$id" assigned_machine) == m2 ]] || fail "task ran on $(field "$id" assigned_machine)"
echo "ok: SIGHUP"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
echo "recovery.sh: all passed"
