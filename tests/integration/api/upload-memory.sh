#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 14 item 4: uploads stream to disk. A real nestboxd receives a 1 GiB
# sample three ways (multipart from curl, the file as the body from the
# nestbox CLI, and a chunked upload over api.max_upload_mb, refused 413),
# and its peak RSS (VmHWM) stays within 64 MiB of its RSS before. In an
# unsanitized build the peak itself must be under 64 MiB; under ASan the
# growth is what means something (its shadow memory and quarantine sit on
# top), so the growth is checked there and the peak printed.
# Usage: upload-memory.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR API_CLIENT_PY SANITIZE
set -euo pipefail
nestboxd=$1 cli=$2 good=$3 client=$4 sanitize=$5
tmp=$(mktemp -d)
source "$(dirname "$0")/daemon.sh"
trap 'stop_daemon; rm -rf "$tmp"' EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY
limit_kb=$((64 * 1024))

write_conf "max_upload_mb = 1100;"
start_daemon
export NESTBOX_SOCKET=$socket
# A sparse file reads as zeros at memory speed: the disk only sees the daemon's copy.
truncate -s 1G "$tmp/big.bin"
want_sha=$(sha256sum <"$tmp/big.bin" | cut -d' ' -f1)
"$cli" health >/dev/null
rss_before=$(status_kb VmRSS)

# check_peak WHAT: the peak so far, against the RSS before the uploads.
check_peak() {
	local peak growth
	peak=$(status_kb VmHWM)
	growth=$((peak - rss_before))
	echo "$1: peak RSS $((peak / 1024)) MiB, $((growth / 1024)) MiB above the $((rss_before / 1024)) MiB before"
	((growth < limit_kb)) || fail "$1: the peak RSS grew by $((growth / 1024)) MiB (limit 64)"
	if [[ $sanitize == none ]]; then
		((peak < limit_kb)) || fail "$1: peak RSS $((peak / 1024)) MiB (limit 64)"
	fi
}

status=$(curl -sS --unix-socket "$socket" -o "$tmp/out" -w '%{http_code}' \
	-F 'task={"platform": "linux", "duration": 1};type=application/json' \
	-F "file=@$tmp/big.bin;filename=big.bin" http://localhost/api/v1/tasks)
[[ $status == 201 ]] || { cat "$tmp/out" >&2; fail "multipart upload: $status"; }
target=$(python3 -c "import json; print(json.load(open('$tmp/out'))['target'])")
[[ $(sha256sum <"$target" | cut -d' ' -f1) == "$want_sha" ]] || fail "the stored sample differs"
check_peak "multipart, 1 GiB"

"$cli" submit "$tmp/big.bin" --platform linux --duration 1 >"$tmp/out" ||
	fail "nestbox submit of 1 GiB exited $?"
check_peak "the file as the body (nestbox submit), 1 GiB"

# Chunked (no length up front): refused once past 1100 MiB, the rest dropped.
status=$(head -c 1200M /dev/zero | curl -sS --unix-socket "$socket" -o "$tmp/out" \
	-w '%{http_code}' -T - -X POST -H 'Content-Type: application/octet-stream' \
	'http://localhost/api/v1/tasks?task=%7B%22file_name%22%3A%22over.bin%22%7D')
[[ $status == 413 ]] || { cat "$tmp/out" >&2; fail "chunked upload over the limit: $status"; }
grep -q 'api.max_upload_mb' "$tmp/out" || fail "the 413 does not name api.max_upload_mb"
check_peak "chunked, 1200 MiB over a limit of 1100"

python3 "$client" count-tasks "$store" >"$tmp/count"
[[ $(python3 -c "import json; c = json.load(open('$tmp/count')); print(c['tasks'], c['uploads_left'])") == "2 0" ]] ||
	fail "tasks and uploads left: $(cat "$tmp/count") (wanted 2 tasks, no upload left)"
[[ $(ls "$conf/state/samples" | wc -l) == 1 ]] || fail "samples: $(ls -a "$conf/state/samples")"
echo PASS
