#!/usr/bin/env bash
# The bash completion of nestbox, run by bash-completion as a shell would run
# it, against a real nestboxd with the fake machinery: commands, the actions
# of machine and snapshot, options (with a value: "--state="), option
# values, machine names and task ids from the daemon, the connection options
# honoured wherever they are on the line.
# Usage: completion.sh COMPLETION_FILE NESTBOX NESTBOXD GOOD_PLUGIN_DIR
set -euo pipefail
completion=$1 nestbox=$2 nestboxd=$3 good=$4
bash_completion=/usr/share/bash-completion/bash_completion
[[ -f $bash_completion ]] || { echo "SKIP: no $bash_completion (Debian package bash-completion)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
client=$here/../api/api_client.py
tmp=$(mktemp -d)
# The API tests' daemon: write_conf, start_daemon, stop_daemon, fail.
source "$here/../api/daemon.sh"
trap 'stop_daemon; rm -rf "$tmp"' EXIT

write_conf
cat >"$conf/machinery/fake.conf" <<CONF
machines = (
  { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows"; },
  { name = "lin1"; label = "l1"; ip = "192.0.2.11"; platform = "linux"; }
);
CONF
start_daemon

# A task that stays queued (its machine is disabled) and one that ends.
"$nestbox" --socket "$socket" machine disable win10 --reason "completion test" >/dev/null
queued=$("$nestbox" --socket "$socket" --json submit --machine win10 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$nestbox" --socket "$socket" cancel "$queued" >/dev/null
queued=$("$nestbox" --socket "$socket" --json submit --machine win10 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cancelled=$((queued - 1))

# complete WORD...: the completions of the line WORD... (the last may be empty).
complete_line() {
	NBX_NESTBOX=$nestbox bash --norc --noprofile -c '
		source "$1"; source "$2"; shift 2
		COMP_WORDS=("$NBX_NESTBOX" "$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		_nestbox
		printf "%s\n" "${COMPREPLY[@]}" | sort' \
		complete "$bash_completion" "$completion" "$@"
}

# expect WANT WORD...: the completions, space-separated, are exactly WANT.
expect() {
	local want=$1 got
	shift
	got=$(complete_line "$@" | tr '\n' ' ')
	got=${got% }
	[[ $got == "$want" ]] || fail "nestbox $*<TAB>: got \"$got\", wanted \"$want\""
}

expect "cancel health list machine machines plugins snapshot status submit watch" ""
expect "machine machines" ma
expect "disable enable" machine ""
expect "begin commit copy export import rollback status" snapshot ""
expect "--state=" list --st
expect "cancelled failed queued reported running" list --state ""
expect "--help --json --socket= --token-file= --url=" --
# Names and ids come from the daemon the line names, wherever --socket is.
expect "lin1 win10" --socket "$socket" machine enable ""
expect "lin1 win10" machine disable --socket "$socket" ""
expect "lin1 win10" --socket "$socket" submit --machine ""
expect "$queued" --socket "$socket" cancel ""
expect "$cancelled $queued" --socket "$socket" status ""
# No daemon there: nothing, and no error on the terminal.
[[ -z $(complete_line --socket "$tmp/none.sock" cancel "" 2>&1) ]] ||
	fail "with no daemon, completion printed something"
echo "ok: commands, actions, options, values, machines and task ids complete"
