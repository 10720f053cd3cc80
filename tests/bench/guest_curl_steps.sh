#!/usr/bin/env bash
# The guest steps of one analysis done by hand with curl against the same
# agent the agent guest plugin talks to (nestbox-agent's protocol, as the
# plugin uses it): GET /, POST /clock, /mkdtemp, /store, /execute (async);
# then /process until it exited, /retrieve of its stdout and stderr, GET
# /logs. Prints "execute_ms N" (GET / sent -> /execute answered) and
# "all_ms N" (through /logs). For guest_bench (demo-analysis --guest-bench).
# Usage: guest_curl_steps.sh HOST:PORT SAMPLE
set -euo pipefail
agent=http://$1 sample=$2
name=$(basename "$sample")
ms() { echo $(($(date +%s%N) / 1000000)); }
# -f: a refused request fails the script; --data-urlencode: a form as the plugin sends it.
post() { local route=$1; shift; curl -sf --max-time 60 "$@" "$agent$route"; }
# A string or number member of a flat JSON answer; no interpreter started per request.
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\).*/\1/p"; }

start=$(ms)
curl -sf --max-time 60 "$agent/" >/dev/null
post /clock --data-urlencode "time=$(date +%s.%N)" >/dev/null
dir=$(post /mkdtemp --data-urlencode prefix=nestbox- | field dirpath)
post /store -F "filepath=$dir/$name" -F "file=@$sample" >/dev/null
answer=$(post /execute --data-urlencode "command=/bin/sh -c 'chmod +x \"\$0\" && exec \"\$0\" \"\$@\"' '$dir/$name'" \
	--data-urlencode "cwd=$dir" --data-urlencode async=1)
executed=$(ms)
pid=$(field process_id <<<"$answer")
until [[ $(post /process --data-urlencode "process_id=$pid" --data-urlencode wait=1 |
	field status) == exited ]]; do :; done
post /retrieve --data-urlencode "filepath=$(field stdout_path <<<"$answer")" >/dev/null
post /retrieve --data-urlencode "filepath=$(field stderr_path <<<"$answer")" >/dev/null
curl -sf --max-time 60 "$agent/logs" >/dev/null
echo "execute_ms $((executed - start))"
echo "all_ms $(($(ms) - start))"
