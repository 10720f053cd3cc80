#!/usr/bin/env bash
# kill -9 nestboxd during a restore, during the run and during a stop; start
# it again and check what it promises: the task that was running is queued
# again with the reason and runs again, the machine the dead daemon left
# "running" is stopped, the task that was only queued is not lost. A task
# cancelled while its machine stops stays cancelled across a kill -9 and
# across a SIGTERM that reaches shutdown_timeout. Then SIGTERM with a
# running analysis, and SIGHUP with a good and a bad config.
#
# Runs the real nestboxd and the nestbox CLI against the fake machinery,
# whose running machines are files (run/plugins/fake/NAME.running). No kill
# is timed: the fake's restore_start and stop wait at a barrier file
# (fake_machinery.c) until this script has killed the daemon, and the run
# step lasts 600 s. Every wait is for an event, with a deadline that only a
# hang reaches.
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
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

conf=$work/conf
mkdir -p "$conf/machinery"
# write_conf SHUTDOWN_TIMEOUT
write_conf() {
	cat >"$conf/nestbox.conf" <<EOF
machineries = [ "fake" ];
plugin_dirs = [ "$plugin_dir" ];
builtin_plugin_dir = false;
state_dir = "$work/state";
run_dir = "$work/run";
analyses_dir = "$work/analyses";
api = { socket = "$work/api.sock"; };
scheduler = { max_attempts = 5; shutdown_timeout = $1; };
EOF
}
write_conf 120
cat >"$conf/machinery/fake.conf" <<EOF
machines = ( { name = "m1"; label = "m1"; ip = "127.0.0.1"; platform = "linux"; } );
EOF
cat >"$conf/auxiliary.conf" <<EOF
aux-alpha = { enabled = true; };
aux-beta = { enabled = false; };
aux-gamma = { enabled = false; };
aux-strict = { enabled = false; };
EOF
export NESTBOX_SOCKET=$work/api.sock
fake_run=$work/run/plugins/fake
marker=$fake_run/m1.running

daemon_answers() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died at start"
	"$nestbox" health >/dev/null 2>&1
}

start_daemon() {
	"$nestboxd" --config "$conf" >>"$work/log" 2>&1 &
	daemon_pid=$!
	wait_for "nestboxd answers" daemon_answers
}

kill9() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
}

# status ID: the task with its events, in $work/status.json (never piped:
# a reader that stops early must not SIGPIPE the CLI under pipefail).
status() { "$nestbox" --json status "$1" >"$work/status.json"; }
field() { # field ID NAME
	status "$1"
	python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print('' if v is None else v)" \
		"$work/status.json" "$2"
}
says() { status "$1" && grep -qF -- "$2" "$work/status.json"; }
submit() { # submit ARGS...: prints the new task's id
	"$nestbox" --json submit "$@" >"$work/submit.json"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/submit.json"
}
has_step() { [[ $(field "$1" step) == "$2" ]]; }
has_state() { [[ $(field "$1" state) == "$2" ]]; }
wait_step() { wait_for "task $1 at step $2" has_step "$1" "$2"; }
wait_state() { wait_for "task $1 $2" has_state "$1" "$2"; }
# How often task ID was started (its task.running events).
runs() {
	status "$1"
	python3 -c 'import json,sys; print(sum(e["kind"] == "task.running" for e in json.load(open(sys.argv[1]))["events"]))' \
		"$work/status.json"
}

# The fake's barriers: OP of m1 waits while m1.OP.barrier exists.
arm() { rm -f "$fake_run/m1.$1.reached"; : >"$fake_run/m1.$1.barrier"; }
release() { rm -f "$fake_run/m1.$1.barrier"; }
reached() { [[ -e $fake_run/m1.$1.reached ]]; }

kill9_at_barrier() { # kill9_at_barrier OP: kill -9 while the task's OP hangs at its barrier
	local op=$1 id queued
	arm "$op"
	id=$(submit --duration 1)
	queued=$(submit --duration 1)
	wait_for "m1's $op at its barrier" reached "$op"
	has_step "$id" "$op" || fail "task $id is at step $(field "$id" step), not $op"
	kill9
	release "$op"
	start_daemon
	# The dead daemon's machine is stopped before anything else runs on it.
	wait_state "$id" reported
	[[ $(field "$id" attempts) == 2 ]] || fail "task $id: $(field "$id" attempts) attempts after a crash during $op"
	says "$id" "nestboxd ended during step $op" || fail "task $id does not say the daemon ended during $op"
	wait_state "$queued" reported
	[[ ! -e $marker ]] || fail "machine m1 left running after the crash during $op"
	echo "ok: kill -9 during $op"
}

start_daemon
kill9_at_barrier restore_start
kill9_at_barrier stop

# kill -9 during the run (600 s long: the window is the whole run).
id=$(submit --duration 600)
queued=$(submit --duration 1)
wait_step "$id" run
[[ -e $marker ]] || fail "no running marker during the run"
kill9
start_daemon
wait_for "task $id running again" says "$id" "attempt 2 on machine m1"
says "$id" "nestboxd ended during step run; it will run again" || fail "task $id does not say the daemon ended during run"
stopped=$(grep -n "machine m1: stopped what the previous daemon left running" "$work/log" | tail -n 1 | cut -d: -f1)
restarted=$(grep -n "task $id: starting on machine m1" "$work/log" | tail -n 1 | cut -d: -f1)
[[ -n $stopped && $stopped -lt $restarted ]] || fail "task $id ran again before m1 was stopped"
# Its second run would take 600 s too.
"$nestbox" cancel "$id" >/dev/null
wait_state "$id" cancelled
wait_state "$queued" reported
[[ ! -e $marker ]] || fail "machine m1 left running after the crash during run"
echo "ok: kill -9 during run"

# A cancel, once acknowledged, is final: the daemon dies (HOW: kill or
# term, a SIGTERM that reaches shutdown_timeout) while the cancelled
# task's machine is stopping; the next daemon ends the task cancelled.
cancel_then_die() { # cancel_then_die HOW
	local how=$1 id queued
	arm stop
	id=$(submit --duration 600)
	queued=$(submit --duration 1)
	wait_step "$id" run
	"$nestbox" cancel "$id" >/dev/null || fail "cancel of task $id refused"
	wait_for "m1's stop at its barrier" reached stop
	[[ -e $marker ]] || fail "machine m1 is not running at its stop barrier"
	if [[ $how == kill ]]; then
		kill9
	else
		kill -TERM "$daemon_pid"
		wait "$daemon_pid" 2>/dev/null || true
		daemon_pid=
		grep -q "analyses did not stop in time" "$work/log" || fail "the shutdown did not time out"
	fi
	release stop
	start_daemon
	# Recovery is over before the API answers: the task is settled already.
	[[ $(field "$id" state) == cancelled ]] || fail "task $id is $(field "$id" state) after the cancel and a $how"
	[[ $(field "$id" reason) == "cancelled by the operator (nestboxd ended during step stop)" ]] ||
		fail "task $id: reason $(field "$id" reason)"
	wait_state "$queued" reported
	[[ $(runs "$id") == 1 ]] || fail "task $id ran again after it was cancelled"
	[[ ! -e $marker ]] || fail "machine m1 left running after the $how"
	echo "ok: a cancel survives a $how during the stop"
}
cancel_then_die kill
write_conf 2
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
start_daemon
cancel_then_die term
write_conf 120
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
start_daemon

# SIGTERM while an analysis runs: it stops the machine, the task goes back to the queue.
id=$(submit --duration 600)
wait_step "$id" run
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
[[ $status == 0 ]] || fail "nestboxd exited $status on SIGTERM"
[[ ! -e $marker ]] || fail "SIGTERM left machine m1 running"
[[ ! -e $work/api.sock ]] || fail "SIGTERM left the API socket behind"
start_daemon
[[ $(field "$id" state) =~ ^(queued|running)$ ]] || fail "task $id is not back in the queue after SIGTERM"
says "$id" "interrupted by a shutdown of nestboxd" || fail "task $id has no reason"
"$nestbox" cancel "$id" >/dev/null
wait_state "$id" cancelled
echo "ok: SIGTERM"

# SIGHUP: a broken config is refused and the old machines stay; a good one is applied.
machines_list() { "$nestbox" machines >"$work/machines"; }
lists() { machines_list && grep -q "^$1 " "$work/machines"; }
logged() { grep -q "$1" "$work/log"; }
echo 'machines = ( { name = "m1"; label = "m1"; ip = "not-an-ip"; platform = "linux"; } );' >"$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
wait_for "bad reload refused" logged "reload refused"
kill -0 "$daemon_pid" || fail "nestboxd died on a bad reload"
lists m1 || fail "machine m1 gone after a refused reload"
cat >"$conf/machinery/fake.conf" <<EOF
machines = ( { name = "m2"; label = "m2"; ip = "127.0.0.2"; platform = "linux"; } );
EOF
kill -HUP "$daemon_pid"
wait_for "good reload applied" lists m2
! lists m1 || fail "machine m1 still there after the reload"
id=$(submit --duration 1)
wait_state "$id" reported
[[ $(field "$id" assigned_machine) == m2 ]] || fail "task ran on $(field "$id" assigned_machine)"
echo "ok: SIGHUP"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
echo "recovery.sh: all passed"
