#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 14 item 14: a busy nestboxd is not a dead one. Its listen backlog is
# api.listen_backlog (default 1024, capped by net.core.somaxconn), not
# GLib's 10, so 16 clients at once get every submission answered; the CLI
# sends an Idempotency-Key with each submission; and when the daemon cannot
# take a connection (stopped with SIGSTOP, its backlog filled), the CLI says
# it is busy and tries again, succeeding once the daemon runs again or
# exiting 4, not 3: 3 is only for a daemon that is not running.
# Usage: busy.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR API_CLIENT_PY
set -euo pipefail
nestboxd=$1 cli=$2 good=$3 client=$4
tmp=$(mktemp -d)
source "$(dirname "$0")/daemon.sh"
fill_pid=
release_fill() {
	exec 3>&- || true
	[[ -z $fill_pid ]] || wait "$fill_pid" || true
	fill_pid=
}
trap 'release_fill; stop_daemon; rm -rf "$tmp"' EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY

# expect CODE CMD...: runs CMD, output in $tmp/out and $tmp/err, checks its exit code.
expect() {
	local want=$1 got=0; shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }
backlog() { ss -xlnH | awk -v path="$socket" '$5 == path { print $4 }'; }

# hold_backlog: stops the daemon and fills its listen backlog until release_fill.
hold_backlog() {
	kill -STOP "$daemon_pid"
	rm -f "$tmp/hold" "$tmp/filled"
	mkfifo "$tmp/hold"
	python3 "$client" fill "$socket" "$tmp/filled" <"$tmp/hold" &
	fill_pid=$!
	exec 3>"$tmp/hold"
	for _ in $(seq 600); do [[ -s $tmp/filled ]] && return 0; sleep 0.1; done
	fail "could not fill the listen backlog"
}

write_conf
start_daemon
export NESTBOX_SOCKET=$socket
somaxconn=$(cat /proc/sys/net/core/somaxconn)
want=$((somaxconn < 1024 ? somaxconn : 1024))
[[ $(backlog) == "$want" ]] || fail "listen backlog $(backlog), wanted $want"

python3 "$client" parallel "$socket" 16 125 || fail "16 clients at once were not all answered"

expect 1 "$cli" --json submit --platform no-such-platform
id=$(python3 -c "import json; print(json.load(open('$tmp/out'))['id'])")
keys=$(python3 -c "import sqlite3; print(sqlite3.connect('$store').execute(
	'SELECT count(*) FROM idempotency_keys WHERE task_id = ?', ($id,)).fetchone()[0])")
[[ $keys == 1 ]] || fail "task $id has no Idempotency-Key stored"

stop_daemon
write_conf "listen_backlog = 4;"
start_daemon
[[ $(backlog) == 4 ]] || fail "api.listen_backlog = 4: the backlog is $(backlog)"

# Busy, then running again: the CLI waits and gets its answer.
hold_backlog
"$cli" health >"$tmp/out" 2>"$tmp/err" &
cli_pid=$!
for _ in $(seq 600); do grep -q "is busy; trying again" "$tmp/err" && break; sleep 0.1; done
contains err "nestbox: nestboxd at $socket is busy; trying again"
kill -CONT "$daemon_pid"
release_fill
wait "$cli_pid" || fail "nestbox health exited $? after the daemon ran again"
contains out "status            ok"

# Busy for longer than the CLI waits: 4, saying so.
hold_backlog
expect 4 "$cli" health
contains err "is busy: its queue of waiting connections stayed full"
kill -CONT "$daemon_pid"
release_fill

# Not running: a socket nobody listens on, or none at all: 3.
kill -KILL "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=
[[ -S $socket ]] || fail "kill -9 should leave the socket file"
expect 3 "$cli" health
contains err "cannot reach nestboxd at $socket"
contains err "is it running?"
rm -f "$socket"
expect 3 "$cli" health
contains err "cannot reach nestboxd at $socket"
echo PASS
