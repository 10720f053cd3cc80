#!/usr/bin/env bash
# GET /metrics against a real nestboxd (fake machinery): the counts follow
# what happened (tasks by state, the queue by platform and tag, machines by
# state, step histograms, an op that failed), `promtool check metrics`
# accepts the page, a real Prometheus scrapes it over TCP with the token
# and answers a query with what the daemon counted, and retention's
# counters move when a sweep removes an analysis.
# Usage: metrics.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR
set -euo pipefail
nestboxd=$1 cli=$2 good=$3
tmp=$(mktemp -d)
daemon_pid= prometheus_pid=
cleanup() {
	for pid in $prometheus_pid $daemon_pid; do
		if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/daemon.sh" # write_conf
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY https_proxy HTTPS_PROXY
fail() {
	echo "FAIL: $*" >&2
	[[ -f $tmp/metrics ]] && cat "$tmp/metrics" >&2
	[[ -f $tmp/daemon.log ]] && tail -20 "$tmp/daemon.log" >&2
	exit 1
}
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"
command -v promtool >/dev/null || fail "promtool is missing: tools/install-deps.sh installs prometheus"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
head -c 24 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
write_conf "tcp = \"127.0.0.1:$port\"; token_file = \"$tmp/token\";" \
	'{ name = "lin"; label = "lin"; ip = "192.0.2.10"; platform = "linux"; tags = [ "office" ]; },
  { name = "broken"; label = "broken"; ip = "192.0.2.11"; platform = "windows";
    fault = "restore_fails"; }'
export NESTBOX_SOCKET=$conf/run/api.sock

scrape() { curl -sf --unix-socket "$NESTBOX_SOCKET" http://nestbox/metrics >"$tmp/metrics"; }
# has SAMPLE: the page has the line SAMPLE exactly (name, labels and value).
has() { grep -qxF -- "$1" "$tmp/metrics"; }
expect_sample() { scrape || fail "GET /metrics failed"; has "$1" || fail "no line: $1"; }
task_state() { "$cli" --json status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
is_state() { [[ $(task_state "$1") == "$2" ]]; }

"$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
answers() { kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd exited"; "$cli" health >/dev/null 2>&1; }
wait_for "nestboxd answering" answers

# The page's type, and an empty daemon's counts.
curl -sf -D "$tmp/headers" -o /dev/null --unix-socket "$NESTBOX_SOCKET" http://nestbox/metrics ||
	fail "GET /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/headers" || fail "content type: $(cat "$tmp/headers")"
expect_sample 'nestbox_tasks{state="queued"} 0'
has 'nestbox_machines{state="idle"} 2' || fail "two idle machines"
has 'nestbox_restores_in_flight 0' || fail "restores in flight"
promtool check metrics <"$tmp/metrics" || fail "promtool check metrics refused the page"

# The queue, by platform and tag: lin is out of service, so both wait.
"$cli" machine disable lin --reason "metrics test" >/dev/null
"$cli" submit --platform linux --tag office --duration 1 >/dev/null
"$cli" submit --platform linux --duration 1 >/dev/null
expect_sample 'nestbox_tasks{state="queued"} 2'
has 'nestbox_queue_depth_by_platform{platform="linux"} 2' || fail "queue by platform"
has 'nestbox_queue_depth_by_tag{tag="office"} 1' || fail "queue by tag"
has 'nestbox_machines{state="disabled"} 1' || fail "a disabled machine"

# Let them run: reported, one histogram sample per step and task.
"$cli" machine enable lin >/dev/null
wait_for "task 1 reported" is_state 1 reported
wait_for "task 2 reported" is_state 2 reported
expect_sample 'nestbox_tasks{state="reported"} 2'
has 'nestbox_tasks{state="queued"} 0' || fail "the queue emptied"
has 'nestbox_queue_depth_by_platform{platform="linux"} 0' || fail "queue by platform after"
for step in restore_start run stop; do
	has "nestbox_step_duration_seconds_count{step=\"$step\"} 2" || fail "histogram of $step"
	has "nestbox_step_duration_seconds_bucket{step=\"$step\",le=\"+Inf\"} 2" || fail "+Inf bucket of $step"
done

# An op that fails is counted by plugin and op.
"$cli" submit --platform windows --duration 1 >/dev/null
failed_restore() { scrape && grep -qE '^nestbox_op_failures_total\{plugin="fake",op="restore_start"\} [1-9]' "$tmp/metrics"; }
wait_for "the failed restore counted" failed_restore
promtool check metrics <"$tmp/metrics" || fail "promtool check metrics refused the page"

# Over TCP the token is needed, as for the rest of the API.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
[[ $code == 401 ]] || fail "GET /metrics over TCP without the token: $code"

# A real Prometheus scrapes it with the token and answers a query.
prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<YML
global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: nestbox
    authorization: { credentials_file: $tmp/token }
    static_configs: [ { targets: [ "127.0.0.1:$port" ] } ]
YML
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
prometheus_pid=$!
query() {
	curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
scraped() {
	kill -0 "$prometheus_pid" 2>/dev/null || { cat "$tmp/prometheus.log" >&2; fail "prometheus exited"; }
	[[ $(query 'nestbox_tasks{state="reported"}' 2>/dev/null) == 2 ]]
}
wait_for "Prometheus has scraped nestbox_tasks" scraped
[[ $(query 'up{job="nestbox"}') == 1 ]] || fail "the target is not up"
[[ $(query 'sum(nestbox_step_duration_seconds_count{step="run"})') == 2 ]] || fail "query of a histogram"

# Retention's counters move when it removes something: task 1 is made to
# have ended two days ago (in the stopped daemon's store), and the daemon is
# started again with retention.days = 1; its first sweep runs at start-up.
expect_sample 'nestbox_retention_analyses_removed_total 0'
has 'nestbox_retention_removed_bytes_total 0' || fail "bytes removed before any sweep"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited $? after SIGTERM"
daemon_pid=
[[ -d $conf/analyses/1 ]] || fail "task 1 has no analysis directory to remove"
python3 - "$conf/state/nestbox.sqlite" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE tasks SET ended_us = ? WHERE id = 1", (int((time.time() - 2 * 86400) * 1e6),))
db.commit()
PY
echo 'retention = { days = 1; };' >>"$conf/nestbox.conf"
"$nestboxd" --config "$conf" >>"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
wait_for "nestboxd answering again" answers
swept() { scrape && has 'nestbox_retention_sweeps_total 1'; }
wait_for "the first retention sweep" swept
has 'nestbox_retention_analyses_removed_total 1' || fail "task 1's analysis was not counted as removed"
grep -qE '^nestbox_retention_removed_bytes_total [1-9][0-9]*$' "$tmp/metrics" || fail "no bytes counted"
has 'nestbox_retention_failures_total 0' || fail "retention failures"
[[ ! -e $conf/analyses/1 && -d $conf/analyses/2 ]] || fail "retention removed the wrong analyses"
promtool check metrics <"$tmp/metrics" || fail "promtool check metrics refused the page"
echo "ok: metrics"
