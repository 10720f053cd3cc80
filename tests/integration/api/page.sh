#!/usr/bin/env bash
# The status page against a real nestboxd (fake machinery) on TCP with a
# token: without JavaScript (curl) the sign-in, the session cookie's flags,
# the server-rendered tables and the CSRF checks; then in headless Chromium
# a task shown queued, then, live from /events on the same page, running
# with its steps so far (held at its machine's stop by the fake's barrier),
# then reported with all its steps, with a screenshot; and the same page
# with JavaScript off.
# Usage: page.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR PAGE_BROWSER_PY SCREENSHOT
set -euo pipefail
nestboxd=$1 cli=$2 good=$3 browser_py=$4 screenshot=$5
tmp=$(mktemp -d)
daemon_pid= browser_pid=
cleanup() {
	for pid in $browser_pid $daemon_pid; do
		if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/daemon.sh" # write_conf
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY https_proxy HTTPS_PROXY
fail() { echo "FAIL: $*" >&2; [[ -f $tmp/daemon.log ]] && tail -20 "$tmp/daemon.log" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"
chromium=$(command -v chromium) || fail "chromium is missing: tools/install-deps.sh installs it"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
head -c 24 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
write_conf "tcp = \"127.0.0.1:$port\"; token_file = \"$tmp/token\";" \
	'{ name = "lin"; label = "lin"; ip = "192.0.2.10"; platform = "linux"; }'
export NESTBOX_SOCKET=$conf/run/api.sock
url=http://127.0.0.1:$port

"$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
answers() { kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd exited"; "$cli" health >/dev/null 2>&1; }
wait_for "nestboxd answering" answers

# The task waits: its machine is out of service until the browser watches.
"$cli" machine disable lin --reason "until the browser watches" >/dev/null
"$cli" submit --platform linux --duration 1 --json >"$tmp/task.json"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$tmp/task.json")

# get PATH [CURL ARGS...]: the status code; the body in $tmp/body, headers in $tmp/headers.
get() { local path=$1; shift; curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" "$url$path"; }
[[ $(get /) == 200 ]] || fail "GET / without a session"
grep -q 'form id="login"' "$tmp/body" || fail "GET / without a session: no sign-in form"
grep -qi '^content-security-policy: default-src' "$tmp/headers" || fail "no Content-Security-Policy"
[[ $(get /api/v1/health) == 401 ]] || fail "the API without the token"
[[ $(get /login --data-urlencode "token=wrong-token-wrong-token") == 401 ]] || fail "a wrong token signed in"
[[ $(get /login --data-urlencode "token=$(cat "$tmp/token")") == 303 ]] || fail "the token did not sign in"
cookie=$(grep -i '^set-cookie: nbx_session=' "$tmp/headers" | tr -d '\r') || fail "no session cookie"
[[ $cookie == *HttpOnly* && $cookie == *SameSite=Strict* ]] || fail "cookie flags: $cookie"
session=$(sed -E 's/^[^:]*: nbx_session=([^;]*).*/\1/' <<<"$cookie")
jar=(-H "Cookie: nbx_session=$session")

# Without JavaScript: the tables are in the HTML.
[[ $(get / "${jar[@]}") == 200 ]] || fail "GET / with the session"
grep -q "<tr id=\"task-$id\">" "$tmp/body" || fail "the tasks table lacks task $id"
grep -q 'class="state state-queued">queued<' "$tmp/body" || fail "task $id not shown queued"
grep -q '<tr id="machine-lin">' "$tmp/body" || fail "the machines table lacks lin"
grep -q "<tr id=\"queued-$id\">" "$tmp/body" || fail "the queue table lacks task $id"
grep -q '<table id="snapshots">' "$tmp/body" || fail "no snapshot generations table"
csrf=$(grep -o 'name="csrf" value="[0-9a-f]*"' "$tmp/body" | head -1 | sed -E 's/.*value="([^"]*)"/\1/')
[[ ${#csrf} == 64 ]] || fail "no CSRF token in the page's forms"
# A session reads; it does not act outside the page's forms, nor without their token.
[[ $(get /api/v1/health "${jar[@]}") == 200 ]] || fail "a session cannot read the API"
[[ $(get "/api/v1/tasks/$id/cancel" "${jar[@]}" -X POST) == 401 ]] || fail "a session used the API to act"
[[ $(get "/ui/tasks/$id/cancel" "${jar[@]}" -d "") == 403 ]] || fail "a form without its CSRF token"
[[ $(get "/ui/tasks/$id/cancel" "${jar[@]}" -d "csrf=${csrf%?}0") == 403 ]] || fail "a wrong CSRF token"
[[ $(get "/ui/tasks/$id/cancel" "${jar[@]}" -H "Origin: http://evil.example" -d "csrf=$csrf") == 403 ]] ||
	fail "a form from another origin"
[[ $("$cli" --json status "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])') == queued ]] ||
	fail "a refused form changed the task"
[[ $(get /static/page.js) == 200 ]] && grep -q 'new EventSource("/events")' "$tmp/body" || fail "page.js"

# In a browser: queued, then, live, running up to its stop (held there), then reported.
stop_barrier=$conf/run/plugins/fake/lin.stop.barrier
mkdir -p "${stop_barrier%/*}"
: >"$stop_barrier"
python3 "$browser_py" "$chromium" "$url/" "$tmp/token" "$id" "$tmp/ready" "$tmp/go" "$tmp/running" \
	"$screenshot" >"$tmp/browser.log" 2>&1 &
browser_pid=$!
ready() { kill -0 "$browser_pid" 2>/dev/null || { cat "$tmp/browser.log" >&2; fail "the browser test ended early"; }; [[ -e $tmp/ready ]]; }
wait_for "the browser shows task $id queued" ready
"$cli" machine enable lin >/dev/null
touch "$tmp/go"
running_seen() { kill -0 "$browser_pid" 2>/dev/null || { cat "$tmp/browser.log" >&2; fail "the browser test ended early"; }; [[ -e $tmp/running ]]; }
wait_for "the browser shows task $id running with its steps" running_seen
[[ -e ${stop_barrier%.barrier}.reached ]] || fail "the task is not held at its stop"
rm -f "$stop_barrier"
wait "$browser_pid" || { cat "$tmp/browser.log" >&2; fail "the browser test failed"; }
browser_pid=
cat "$tmp/browser.log"
[[ $(head -c 8 "$screenshot" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "the screenshot is not a PNG"
(($(stat -c %s "$screenshot") > 10000)) || fail "the screenshot is nearly empty"

# Without JavaScript the steps are in the HTML too.
[[ $(get / "${jar[@]}") == 200 ]] || fail "GET / with the session, after the run"
grep -qE "<td data-field=\"steps\">[^<]*\brun\b[^<]*\bstop\b" "$tmp/body" || fail "the HTML lacks task $id's steps"

# Signing out ends the session.
[[ $(get /logout "${jar[@]}" -d "csrf=$csrf") == 303 ]] || fail "sign out"
[[ $(get /api/v1/health "${jar[@]}") == 401 ]] || fail "the session outlived its sign-out"
echo "ok: status page"
