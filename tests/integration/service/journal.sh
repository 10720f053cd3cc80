#!/usr/bin/env bash
# The daemon's log in a real journal: systemd-journald runs in a mount
# namespace of this test's own (its sockets and files on tmpfs), programs
# run with their output connected to it the way systemd connects a
# service's, and journalctl reads it back: `TASK_ID=12` selects exactly the
# lines of task 12, with MACHINE, PLUGIN and STEP; nestboxd's own lines are
# structured records with their code location; with JOURNAL_STREAM not
# naming stderr, the lines are plain text on stderr and none reaches the
# journal.
# Usage: journal.sh LOG_FIELDS NESTBOXD GOOD_PLUGIN_DIR NESTBOX
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log_fields=$1 nestboxd=$2 good=$3 cli=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
journald=
for candidate in /usr/lib/systemd/systemd-journald /lib/systemd/systemd-journald; do
	[[ -x $candidate ]] && journald=$candidate && break
done

if [[ ${5-} != --inside ]]; then
	[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (a mount namespace for journald)"; exit 77; }
	[[ -n $journald ]] && command -v journalctl >/dev/null ||
		{ echo "SKIP: no systemd-journald and journalctl (Debian package systemd)"; exit 77; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	NBX_TMP=$tmp unshare --mount --propagation private -- bash "$0" "$@" --inside
	exit 0
fi

tmp=$NBX_TMP
journald_pid= daemon_pid=
cleanup() {
	[[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
	[[ -n $journald_pid ]] && kill "$journald_pid" 2>/dev/null && wait "$journald_pid"
	true
}
trap cleanup EXIT

# wait_for_record MATCH... : until journalctl shows a record for the matches.
wait_for_record() {
	for _ in $(seq 1200); do
		[[ -n $(journalctl --no-pager -q -o cat "$@") ]] && return 0
		sleep 0.1
	done
	journalctl --no-pager -o verbose >&2
	fail "no journal record for $* after 120 s"
}

# records MATCH...: the JSON records for the matches, one a line.
records() { journalctl --no-pager -q -o json "$@"; }

# field FIELD: FIELD of each JSON record on stdin, one a line.
field() { python3 -c 'import json,sys
for line in sys.stdin: print(json.loads(line).get(sys.argv[1], "-"))' "$1"; }

# A journal of its own: volatile, nothing forwarded, the kernel's log not read.
mount -t tmpfs nestbox-test-run /run
mount -t tmpfs nestbox-test-log /var/log
mkdir -p /run/systemd/journal "$tmp/journald.conf.d"
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\n' \
	>"$tmp/journald.conf"
[[ -e /etc/systemd/journald.conf ]] && mount --bind "$tmp/journald.conf" /etc/systemd/journald.conf
[[ -d /etc/systemd/journald.conf.d ]] && mount --bind "$tmp/journald.conf.d" /etc/systemd/journald.conf.d
"$journald" >"$tmp/journald.log" 2>&1 &
journald_pid=$!
for _ in $(seq 1200); do
	[[ -S /run/systemd/journal/stdout && -S /run/systemd/journal/socket ]] && break
	sleep 0.1
done
[[ -S /run/systemd/journal/stdout ]] || { cat "$tmp/journald.log" >&2; fail "journald did not start"; }

# ---- one analysis's lines, selected by TASK_ID ----------------------------
python3 "$here/journal-stream.py" nestbox-log-fields "$log_fields"
wait_for_record MESSAGE="a line of GLib's own API"
records TASK_ID=12 >"$tmp/task12"
[[ $(field MESSAGE <"$tmp/task12" | tr '\n' '|') == "task 12: restored|task 12: the agent is late|" ]] ||
	{ cat "$tmp/task12" >&2; fail "TASK_ID=12 does not select exactly task 12's two lines"; }
[[ $(field MACHINE <"$tmp/task12" | tr '\n' ' ') == "win10 win10 " ]] || fail "MACHINE is not win10"
[[ $(field PLUGIN <"$tmp/task12" | tr '\n' ' ') == "qemu - " ]] || fail "PLUGIN is not qemu, then absent"
[[ $(field STEP <"$tmp/task12" | tr '\n' ' ') == "restore agent " ]] || fail "STEP is not restore, agent"
[[ $(field PRIORITY <"$tmp/task12" | tr '\n' ' ') == "5 4 " ]] || fail "PRIORITY is not 5 (message), 4 (warning)"
[[ $(field _TRANSPORT <"$tmp/task12" | sort -u) == journal ]] || fail "task 12's lines came as text, not records"
[[ $(records TASK_ID=13 | field MESSAGE) == "task 13: started" ]] || fail "TASK_ID=13 is not task 13's line"
[[ $(records SYSLOG_IDENTIFIER=nestbox-log-fields MESSAGE="a line of GLib's own API" | field TASK_ID) == - ]] ||
	fail "GLib's own line is not a record of nestbox-log-fields without TASK_ID"
[[ -z $(records MESSAGE="task 12: below log_level") ]] || fail "a line below log_level reached the journal"
echo "ok: journalctl TASK_ID=12 shows task 12's lines"

# ---- nestboxd's own lines --------------------------------------------------
# The API tests' configuration (write_conf), with one machine.
source "$here/../api/daemon.sh"
write_conf
cat >>"$conf/nestbox.conf" <<CONF
log_level = "debug";
retention = { days = 30; };
CONF
cat >"$conf/machinery/fake.conf" <<CONF
machines = ( { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows"; } );
CONF
python3 "$here/journal-stream.py" nestboxd "$nestboxd" --config "$conf" &
daemon_pid=$!
wait_for_record SYSLOG_IDENTIFIER=nestboxd CODE_FUNC=announce_ready
# retention.days set: the first sweep runs at start-up, on its thread.
wait_for_record SYSLOG_IDENTIFIER=nestboxd MESSAGE="retention: sweep done"
# One analysis: `journalctl TASK_ID=N` shows its steps and its end.
task=$("$cli" --socket "$socket" --json submit --duration 1 --wait |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') ||
	fail "the analysis was not reported"
wait_for_record SYSLOG_IDENTIFIER=nestboxd TASK_ID="$task" MESSAGE="task $task reported"
records TASK_ID="$task" >"$tmp/task"
[[ $(field MACHINE <"$tmp/task" | sort -u) == win10 ]] ||
	{ cat "$tmp/task" >&2; fail "a line of task $task has no MACHINE=win10"; }
# (grep -q stops reading early: under pipefail the writer's SIGPIPE would fail the pipe)
grep -qx analysis_dir <<<"$(field STEP <"$tmp/task")" ||
	{ cat "$tmp/task" >&2; fail "task $task's steps are not records with STEP="; }
[[ -z $(records SYSLOG_IDENTIFIER=nestboxd TASK_ID="$task" STEP=analysis_dir |
	field MESSAGE | grep -v "^task $task: analysis_dir done$") ]] || fail "the step line is not 'task N: analysis_dir done'"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
((status == 0)) || { journalctl --no-pager -o cat >&2; fail "nestboxd exited $status after SIGTERM"; }
wait_for_record SYSLOG_IDENTIFIER=nestboxd MESSAGE=stopping
ready=$(records SYSLOG_IDENTIFIER=nestboxd CODE_FUNC=announce_ready)
[[ $(field MESSAGE <<<"$ready") == "nestboxd "*" ready: 1 machines" ]] || fail "no single ready record: $ready"
[[ $(field _TRANSPORT <<<"$ready") == journal && $(field PRIORITY <<<"$ready") == 5 &&
	$(field GLIB_DOMAIN <<<"$ready") == nestbox ]] || fail "the ready line is not a structured record: $ready"
records SYSLOG_IDENTIFIER=nestboxd PLUGIN=fake | field MESSAGE >"$tmp/fake"
grep -q '^plugin fake ' "$tmp/fake" || { cat "$tmp/fake" >&2; fail "the debug line about plugin fake has no PLUGIN=fake"; }
# The plugin's own line, through the host's log service.
grep -qx 'fake: ready to fake machines' "$tmp/fake" ||
	{ cat "$tmp/fake" >&2; fail "the plugin's own line (host log) has no PLUGIN=fake"; }
echo "ok: nestboxd's lines are structured records"

# ---- not the journal: plain text on stderr ---------------------------------
JOURNAL_STREAM=0:0 "$log_fields" 2>"$tmp/plain" >/dev/null
# A record sent after, on the same socket: once it is in, anything sent before is.
python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"MESSAGE=marker\n", "/run/systemd/journal/socket")'
wait_for_record MESSAGE=marker
grep -q 'task 12: restored' "$tmp/plain" && grep -q "a line of GLib's own API" "$tmp/plain" ||
	{ cat "$tmp/plain" >&2; fail "the lines are not on stderr"; }
! grep -q 'below log_level\|TASK_ID' "$tmp/plain" || fail "stderr has a line below log_level or a field"
[[ $(records MESSAGE="task 12: restored" | wc -l) == 1 ]] ||
	fail "with JOURNAL_STREAM naming another file, lines still went to the journal"
echo "ok: plain text when stderr is not the journal"
