#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 14 item 1: a connection the client closes leaves nothing open in
# nestboxd. Counts /proc/PID/fd of a real nestboxd before and after 10 000
# requests, each on a keep-alive connection the client closes after its
# answer (9 000 on the UNIX socket, 1 000 over TCP with the token), and 200
# `nestbox` CLI calls (a CLI call under ASan takes about 0.25 s here: 10 000
# of them would take 40 minutes; the HTTP client makes the same connections).
# Usage: fd-leak.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR API_CLIENT_PY
set -euo pipefail
nestboxd=$1 cli=$2 good=$3 client=$4
tmp=$(mktemp -d)
source "$(dirname "$0")/daemon.sh"
trap 'stop_daemon; rm -rf "$tmp"' EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
head -c 24 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
write_conf "tcp = \"127.0.0.1:$port\"; token_file = \"$tmp/token\";"
start_daemon
export NESTBOX_SOCKET=$socket

# Whatever opens once (the store, the plugins' files) is open after a first round.
python3 "$client" keepalive "$socket" 100 "127.0.0.1:$port" "$tmp/token" 10 >/dev/null
"$cli" health >/dev/null
before=$(fd_count)
python3 "$client" keepalive "$socket" 10000 "127.0.0.1:$port" "$tmp/token" 10 ||
	fail "not every request was answered"
for i in $(seq 200); do
	"$cli" health >/dev/null || fail "nestbox health exited $? (call $i)"
done
after=$(fd_count)
echo "nestboxd's open files: $before before, $after after 10 000 requests and 200 CLI calls"
((after <= before)) || { ls -l "/proc/$daemon_pid/fd" >&2; fail "$((after - before)) files leaked"; }
echo PASS
