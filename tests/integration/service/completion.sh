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
tmp=$(mktemp -d)
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $tmp/daemon.log ]] && tail -20 "$tmp/daemon.log" >&2; exit 1; }

conf=$tmp/conf
mkdir -p "$conf/machinery"
cat >"$conf/nestbox.conf" <<CONF
machineries = [ "fake" ];
plugin_dirs = [ "$good" ];
builtin_plugin_dir = false;
state_dir = "state";
run_dir = "run";
analyses_dir = "analyses";
CONF
cat >"$conf/machinery/fake.conf" <<CONF
machines = (
  { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows"; },
  { name = "lin1"; label = "l1"; ip = "192.0.2.11"; platform = "linux"; }
);
CONF
: >"$conf/auxiliary.conf"
socket=$conf/run/api.sock
"$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 600); do
	"$nestbox" --socket "$socket" health >/dev/null 2>&1 && break
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd exited at start"
	sleep 0.1
done
"$nestbox" --socket "$socket" health >/dev/null || fail "nestboxd did not answer within 60 s"

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

expect "cancel health list machine machines plugins snapshot status submit" ""
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
