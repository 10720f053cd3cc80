#!/usr/bin/env bash
# The nestbox CLI against a real nestboxd (fake machinery): submit --wait,
# list, status, cancel, machines, machine disable/enable, watch, plugins, health,
# --json output that parses, TCP with a token, and the exit codes 0/1/2/3.
# Usage: cli.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR
set -euo pipefail
nestboxd=$1 cli=$2 good=$3
tmp=$(mktemp -d)
daemon_pid= watch_pid= watch_json_pid=
cleanup() {
	for pid in $watch_pid $watch_json_pid; do kill "$pid" 2>/dev/null || true; done
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY
fail() { echo "FAIL: $*" >&2; [[ -f $tmp/daemon.log ]] && tail -20 "$tmp/daemon.log" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

# expect CODE CMD...: runs CMD, output in $tmp/out and $tmp/err, checks its exit code.
expect() {
	local want=$1 got=0; shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }
lacks() { ! grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 has: $2"; }; }
is_json() { python3 -m json.tool "$tmp/out" >/dev/null || { cat "$tmp/out" >&2; fail "not JSON: $*"; }; }
# json EXPR: evaluates a Python expression on the JSON in $tmp/out (as `j`).
json() { python3 -c "import json,sys; j=json.load(open('$tmp/out')); print($1)"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(head -c 24 /dev/urandom | base64)
printf '%s\n' "$token" >"$tmp/token"
chmod 600 "$tmp/token" # a token others can read is refused, like a loose ssh key
printf 'not-the-token-at-all\n' >"$tmp/wrong-token"

conf=$tmp/conf
mkdir -p "$conf/machinery"
cat >"$conf/nestbox.conf" <<CONF
machineries = [ "fake" ];
plugin_dirs = [ "$good" ];
builtin_plugin_dir = false;
state_dir = "state";
run_dir = "run";
analyses_dir = "analyses";
api = { tcp = "127.0.0.1:$port"; token_file = "$tmp/token"; max_upload_mb = 1; };
CONF
cat >"$conf/machinery/fake.conf" <<CONF
machines = (
  { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows";
    os_version = "win10"; tags = [ "office" ]; },
  { name = "deb"; label = "deb12"; ip = "192.0.2.11"; platform = "linux"; }
);
CONF
printf 'aux-alpha = { };\n' >"$conf/auxiliary.conf"
export NESTBOX_SOCKET=$conf/run/api.sock

# Before the daemon runs: 3, cannot reach it.
expect 3 "$cli" health
contains err "nestbox: cannot reach nestboxd at $NESTBOX_SOCKET"

answers() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd exited at start"
	"$cli" health >/dev/null 2>&1
}
"$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
wait_for "nestboxd answering" answers

# health, and the socket's mode.
expect 0 "$cli" health
contains out "status            ok"
contains out "machines          2 (2 free, 0 disabled)"
[[ $(stat -c %a "$NESTBOX_SOCKET") == 660 ]] || fail "socket mode is $(stat -c %a "$NESTBOX_SOCKET")"
expect 0 "$cli" --json health
is_json health
[[ $(json 'j["machines"]["total"]') == 2 ]] || fail "health: machines.total"

# submit --wait: every step, then the outcome; 0 when reported.
printf 'MZ\x90\x00not really a program\n' >"$tmp/sample.exe"
expect 0 "$cli" submit "$tmp/sample.exe" --platform linux --duration 1 --wait
contains out "task 1 submitted"
contains out "step: "
contains out "state: reported"
contains out "analysis_dir: $conf/analyses/"
# Every step, even those shorter than the poll interval, in order.
[[ $(grep -xE 'step: (restore_start|run|stop)' "$tmp/out" | tr '\n' ' ') == \
	"step: restore_start step: run step: stop " ]] || fail "submit --wait: steps missing or out of order"

expect 0 "$cli" status 1
contains out "state             reported"
contains out "target_name       sample.exe"
contains out "events:"
contains out "task.submitted"
expect 0 "$cli" --json status 1
is_json status
[[ $(json 'j["state"]') == reported ]] || fail "status --json: state"
cmp -s "$(json 'j["target"]')" "$tmp/sample.exe" || fail "the stored sample differs from the file"

# Every option of submit, in the API's JSON; the task may then run or wait.
expect 0 "$cli" submit --json --platform Windows --os-version win10 --tag office --priority 3 \
	--duration 2 --memory-dump --debug --option aux-alpha.note=hi --machine win10
is_json submit
[[ $(json 'j["platform"], j["tags"], j["priority"], j["memory_dump"], j["debug"], j["options"], j["machine"]') == \
	"windows ['office'] 3 True True {'aux-alpha': {'note': 'hi'}} win10" ]] || fail "submit --json fields: $(cat "$tmp/out")"

# A task no machine could serve: stored, failed at once, exit 1.
expect 1 "$cli" submit --platform macos
contains out "failed at once: no configured machine matches platform=macos"
expect 1 "$cli" submit --platform macos --wait
contains out "state: failed"
contains out "reason: no configured machine matches platform=macos"

# Refusals: exit 1 with the API's message, nothing stored.
expect 1 "$cli" submit --duration 0
contains err "nestbox: duration: must be at least 1 second"
expect 1 "$cli" submit --option no-such-aux.key=value
contains err 'nestbox: options.no-such-aux: no auxiliary or guest plugin named "no-such-aux" is enabled'
expect 1 "$cli" submit --machine ../../etc
contains err "nestbox: machine: must be a plain name"
head -c $((2 * 1024 * 1024)) /dev/zero >"$tmp/big.bin"
expect 1 "$cli" submit "$tmp/big.bin"
contains err "nestbox: body: larger than the 1048576 bytes allowed (api.max_upload_mb)"
expect 0 "$cli" --json list
is_json list
[[ $(json 'len(j["tasks"])') == 4 ]] || fail "refused submissions were stored: $(json 'len(j["tasks"])') tasks"

# list, with filters.
expect 0 "$cli" list
contains out "ID"
contains out "reported"
contains out "sample.exe"
expect 0 "$cli" list --state failed --limit 1
contains out "failed"
lacks out "reported"
expect 1 "$cli" list --state bogus
contains err 'nestbox: state: unknown state "bogus"'
expect 1 "$cli" status 999
contains err "nestbox: id: no task 999"

# cancel: a long task on a machine, then again (409: already ended).
expect 0 "$cli" --json submit --platform windows --duration 60
id=$(json 'j["id"]')
expect 0 "$cli" cancel "$id"
contains out "task $id"
cancelled() { "$cli" --json status "$id" >"$tmp/out" 2>/dev/null && [[ $(json 'j["state"]') == cancelled ]]; }
wait_for "task $id cancelled" cancelled
expect 1 "$cli" cancel "$id"
contains err "nestbox: task $id has already ended (cancelled)"

# machines, disable / enable.
expect 0 "$cli" machines
contains out "NAME"
contains out "win10"
contains out "deb"
expect 0 "$cli" machine disable deb --reason "reimaging the disk"
contains out "machine deb disabled: reimaging the disk"
expect 0 "$cli" --json machines
is_json machines
[[ $(json '[m["disabled_reason"] for m in j["machines"] if m["name"] == "deb"][0]') == "reimaging the disk" ]] ||
	fail "machines --json: deb's disabled_reason"
expect 0 "$cli" machine enable deb
contains out "machine deb enabled"
expect 0 "$cli" machine disable deb
contains out "machine deb disabled: disabled by the operator"
expect 0 "$cli" machine enable deb
expect 1 "$cli" machine disable nope
contains err 'nestbox: no machine named "nope"'

# watch: every change as it happens, from GET /events. Subscribed once a
# machine change shows; then a task's whole life comes, in order.
"$cli" watch >"$tmp/watch" 2>"$tmp/watch.err" &
watch_pid=$!
"$cli" --json watch >"$tmp/watch.json" 2>&1 &
watch_json_pid=$!
watching() {
	"$cli" machine disable deb --reason "watch $1" >/dev/null
	"$cli" machine enable deb >/dev/null
	grep -q "disabled=\"watch $1\"" "$tmp/watch" && grep -q "watch $1" "$tmp/watch.json"
}
round=0
subscribed() { round=$((round + 1)); watching "$round"; }
wait_for "nestbox watch subscribed" subscribed
expect 0 "$cli" --json submit --platform linux --duration 1 --wait
id=$(json 'j["id"]')
seen_reported() { grep -q "^task $id reported" "$tmp/watch"; }
wait_for "watch shows task $id reported" seen_reported
kill "$watch_pid" "$watch_json_pid"
wait "$watch_pid" "$watch_json_pid" 2>/dev/null || true
watch_pid= watch_json_pid=
grep -E "^task $id " "$tmp/watch" | awk '{print $3, $4}' | uniq >"$tmp/story"
[[ $(head -1 "$tmp/story") == "queued " ]] || { cat "$tmp/watch" >&2; fail "watch: task $id did not start queued"; }
grep -qx "running step=restore_start" "$tmp/story" || { cat "$tmp/watch" >&2; fail "watch: no restore_start step"; }
[[ $(tail -1 "$tmp/story") == "reported machine=deb" ]] || { cat "$tmp/watch" >&2; fail "watch: not reported last"; }
grep -q "^machine deb running task=$id" "$tmp/watch" || { cat "$tmp/watch" >&2; fail "watch: deb never ran task $id"; }
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    assert event["event"] in ("task", "machine"), event
' "$tmp/watch.json" || fail "watch --json: not one JSON event a line"
# watch ID of a task that has ended: its outcome at once.
expect 0 "$cli" watch "$id"
contains out "state: reported"
expect 2 "$cli" watch abc

# plugins.
expect 0 "$cli" plugins
contains out "fake"
contains out "machinery"
contains out "aux-alpha"
expect 0 "$cli" --json plugins
is_json plugins
[[ $(json '[p["order"] for p in j["plugins"] if p["name"] == "aux-alpha"][0]') == 2 ]] || fail "plugins: aux-alpha's order"

# TCP: the token from --token-file, refused without the right one.
expect 0 "$cli" --url "http://127.0.0.1:$port" --token-file "$tmp/token" health
contains out "status            ok"
expect 1 "$cli" --url "http://127.0.0.1:$port" --token-file "$tmp/wrong-token" health
contains err 'nestbox: over TCP every request needs "Authorization: Bearer TOKEN"'
expect 1 "$cli" --url "http://127.0.0.1:$port" health

# Usage errors: 2.
expect 2 "$cli"
contains err "nestbox: no command given"
expect 2 "$cli" bogus
contains err 'nestbox: unknown command "bogus"'
expect 2 "$cli" status abc
contains err 'expected a task id (a positive integer), found "abc"'
expect 2 "$cli" status
expect 2 "$cli" submit --option nodot
contains err "--option: expected AUX.KEY=VALUE"
expect 2 "$cli" submit --no-such-flag
expect 2 "$cli" submit "$tmp/missing.exe"
contains err "nestbox: cannot read $tmp/missing.exe"
expect 2 "$cli" list extra
expect 2 "$cli" machine reboot deb
expect 2 "$cli" --url "ftp://x" health
expect 0 "$cli" --help
contains out "Exit status:"
contains out "3  cannot reach the daemon"

# Unreachable: 3.
expect 3 "$cli" --socket "$tmp/nothing.sock" health
contains err "nestbox: cannot reach nestboxd at $tmp/nothing.sock"

# A graceful stop removes the socket.
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? on SIGTERM"
daemon_pid=
[[ ! -e $NESTBOX_SOCKET ]] || fail "the socket outlived the daemon"
expect 3 "$cli" health
echo "PASS"
