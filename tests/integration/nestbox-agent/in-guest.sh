#!/usr/bin/env bash
# nestbox-agent inside the restored demo guest, run by
# tests/integration/demo-guest/restore-agent.sh --then, in the guest's
# network namespace: what the host-side test cannot do for real. POST
# /clock sets the guest's CLOCK_REALTIME (the host-side test runs the agent
# with --dry-clock: the host's clock is not its to set), then a sample is
# stored under a unicode name, run synchronously and asynchronously, found
# with /list and fetched back. Prints TAP.
# Usage: in-guest.sh URL
set -euo pipefail
url=${1:?usage: in-guest.sh URL}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nbx-in-guest.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
n=0 failed=0
tap() { # tap OK NAME [DETAIL]
	n=$((n + 1))
	if [[ $1 == 0 ]]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; [[ -n ${3:-} ]] && echo "#   $3"; fi
}
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v, str) else json.dumps(v))' "$1"; }
call() { curl -sS --max-time 120 "$@"; }

features=$(call "$url/" | field features)
[[ $features == *'"clock"'* && $features == *'"execute_exitcode"'* ]]; tap $? "the guest's agent announces clock and execute_exitcode" "$features"

# 2023-11-14T22:13:20Z: far from the snapshot's own time, so a clock left alone shows
answer=$(call -d time=1700000000 "$url/clock")
[[ $(field set <<<"$answer") == true ]]; tap $? "POST /clock sets the guest's clock" "$answer"
now=$(call --data-urlencode 'command=date +%s' "$url/execute" | field stdout)
# a day of slack: this checks that the clock moved, not how long a request takes
((now >= 1700000000 && now < 1700000000 + 86400)); tap $? "the guest's date says so" "$now"

printf '#!/bin/sh\necho "ran as $(id -u) in $(pwd)"\necho note > "$(dirname "$0")/dropped.txt"\nexit 3\n' >"$tmp/sample"
dir=$(call -d dirpath=/tmp -d prefix=nbx- "$url/mkdtemp" | field dirpath)
sample="$dir/échantillon 样本.sh"
answer=$(call --form-string "filepath=$sample" -F "file=@$tmp/sample" "$url/store")
[[ $(field message <<<"$answer") == "Successfully stored file" ]]; tap $? "a sample stored under a unicode name" "$answer"
answer=$(call --data-urlencode "command=sh '$sample'" --data-urlencode "cwd=$dir" "$url/execute")
[[ $(field exitcode <<<"$answer") == 3 && $(field stdout <<<"$answer") == "ran as 0 in $dir"* ]]
tap $? "run synchronously: exit code 3 and its output" "$answer"
answer=$(call --data-urlencode "command=sh '$sample'" -d async=1 "$url/execute")
pid=$(field process_id <<<"$answer")
answer=$(call -d "process_id=$pid" -d wait=60 "$url/process")
[[ $(field status <<<"$answer") == exited && $(field exitcode <<<"$answer") == 3 ]]
tap $? "run asynchronously: /process reports the exit" "$answer"
out=$(call --data-urlencode "filepath=$(field stdout_path <<<"$answer")" "$url/retrieve")
[[ $out == "ran as 0 in /"* ]]; tap $? "its stdout fetched from the guest" "$out"
answer=$(call --data-urlencode "pattern=$dir/*.txt" "$url/list")
[[ $(field files <<<"$answer") == "[{\"path\": \"$dir/dropped.txt\", \"size\": 5}]" ]]
tap $? "the file it dropped found with /list" "$answer"
call --data-urlencode "filepath=$sample" "$url/retrieve" -o "$tmp/back"
cmp -s "$tmp/sample" "$tmp/back"; tap $? "the sample fetched back whole"
answer=$(call -d "path=$dir" "$url/remove")
[[ $(field message <<<"$answer") == "Successfully deleted directory" ]]; tap $? "and its directory removed" "$answer"
echo "1..$n"
exit "$failed"
