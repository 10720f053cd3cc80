#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# 10 000 requests of mixed kinds against one nestboxd (fake machinery), 8
# clients at once: valid ones (health, lists, submissions as JSON,
# multipart and raw bodies, some with an Idempotency-Key), invalid ones
# (bad or deep JSON, unknown routes and methods, a 20 KB header), and 20 %
# cut short at a random byte (half a head, half a body, half an upload).
# Afterwards the daemon's open files are what they were, no upload is left
# behind, its machine is not disabled, and the store holds exactly the
# tasks that were answered 201: none for a request not received whole. RSS
# is compared in an unsanitized build only (ASan's quarantine and shadow
# memory grow it whatever the code does); under ASan it is printed.
# Usage: soak.sh NESTBOXD GOOD_PLUGIN_DIR API_CLIENT_PY SANITIZE
set -euo pipefail
nestboxd=$1 good=$2 client=$3 sanitize=$4
tmp=$(mktemp -d)
source "$(dirname "$0")/daemon.sh"
trap 'stop_daemon; rm -rf "$tmp"' EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY
# RSS may settle a little higher after the warm-up: caches (SQLite's pages).
rss_slack_kb=$((4 * 1024))

json_field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['$2'])" "$1"; }

write_conf
start_daemon
# A first round opens what stays open and fills what is cached.
python3 "$client" soak "$socket" 1000 8 1 >"$tmp/warm.json" ||
	{ cat "$tmp/warm.json" >&2; fail "unexpected answers in the warm-up"; }
fd_before=$(fd_count)
rss_before=$(status_kb VmRSS)
python3 "$client" soak "$socket" 10000 8 2 >"$tmp/soak.json" ||
	{ cat "$tmp/soak.json" >&2; fail "unexpected answers"; }
cat "$tmp/soak.json"

# The clients are gone; the daemon closes their connections as it sees them go.
for _ in $(seq 600); do (($(fd_count) <= fd_before)) && break; sleep 0.1; done
fd_after=$(fd_count)
rss_after=$(status_kb VmRSS)
echo "open files: $fd_before before, $fd_after after"
echo "RSS: $((rss_before / 1024)) MiB before, $((rss_after / 1024)) MiB after (peak $(($(status_kb VmHWM) / 1024)) MiB, sanitize=$sanitize)"
((fd_after <= fd_before)) || { ls -l "/proc/$daemon_pid/fd" >&2; fail "$((fd_after - fd_before)) files left open"; }
if [[ $sanitize == none ]]; then
	((rss_after <= rss_before + rss_slack_kb)) ||
		fail "RSS grew by $(((rss_after - rss_before) / 1024)) MiB"
fi

created=$(($(json_field "$tmp/warm.json" created) + $(json_field "$tmp/soak.json" created)))
python3 "$client" count-tasks "$store" >"$tmp/count"
[[ $(json_field "$tmp/count" tasks) == "$created" ]] ||
	fail "the store has $(json_field "$tmp/count" tasks) tasks; $created were answered 201"
[[ $(json_field "$tmp/count" uploads_left) == 0 ]] || fail "uploads left behind: $(cat "$tmp/count")"
NESTBOX_SOCKET=$socket python3 - <<'PY' || fail "machine f1 was disabled by a request cut short"
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["NESTBOX_SOCKET"])
s.sendall(b"GET /api/v1/machines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
machines = json.loads(data.partition(b"\r\n\r\n")[2])["machines"]
sys.exit(0 if not any(m["disabled"] for m in machines) else 1)
PY
echo PASS
