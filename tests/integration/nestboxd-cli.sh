#!/usr/bin/env bash
# nestboxd's command line as an operator uses it: exit codes, --check output,
# --list-plugins, --config-template, and the daemon's SIGHUP/SIGTERM handling.
# Usage: nestboxd-cli.sh NESTBOXD GOOD_PLUGIN_DIR BROKEN_PLUGIN_DIR
set -euo pipefail
nestboxd=$1 good=$2 broken=$3
tmp=$(mktemp -d)
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
unset NESTBOX_PLUGIN_PATH
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/wait-for.sh"

# expect CODE CMD...: runs CMD, output in $tmp/out and $tmp/err, checks its exit code.
expect() {
	local want=$1 got=0; shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }

expect 0 "$nestboxd" --version
contains out "nestboxd "
# The plugins here are built against the same headers: their ABI is the daemon's.
abi=$(sed -n 's/^nestboxd .* (plugin ABI \([0-9]*\)\.\([0-9]*\))$/\1.\2/p' "$tmp/out")
[[ -n $abi ]] || { cat "$tmp/out" >&2; fail "--version does not say the plugin ABI"; }
abi_major=${abi%%.*}
expect 0 "$nestboxd" --help
contains out "--config-template"
expect 2 "$nestboxd" --no-such-flag
contains err "nestboxd: Unknown option --no-such-flag"
expect 2 "$nestboxd" stray
contains err 'unexpected argument "stray"'

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
machines = ( { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows";
               os_version = "win10"; tags = [ "office" ]; } );
CONF
printf 'aux-alpha = { };\naux-beta = { order = 5; };\n' >"$conf/auxiliary.conf"

expect 0 "$nestboxd" --config "$conf" --check
contains out "win10            fake       label=w10 ip=192.0.2.10 platform=windows os_version=win10 tags=office"
contains out "auxiliaries enabled, in start order: aux-alpha(2) aux-beta(5)"
contains out "nestboxd: configuration $conf is valid"

# Every problem at once, on stderr, and exit 1.
printf 'speed = 0;\nmachines = ( { name = "x"; label = "y"; ip = "nope"; platform = "linux"; } );\n' \
	>"$conf/machinery/fake.conf"
expect 1 "$nestboxd" --config "$conf" --check
contains err "$conf/machinery/fake.conf:1: speed: must be between 1 and 10, found 0"
contains err "$conf/machinery/fake.conf:2: machines.x.ip: not an IPv4 or IPv6 address: \"nope\""
contains err "nestboxd: configuration $conf is NOT valid: 2 problems"
expect 1 "$nestboxd" --config "$tmp/missing" --check
contains err "$tmp/missing/nestbox.conf: cannot read: file does not exist"

# --list-plugins: the good ones listed, every refusal on stderr, exit 1.
expect 1 env NESTBOX_PLUGIN_PATH="$broken" "$nestboxd" --config "$tmp/missing" --list-plugins
contains out "fake                 machinery  1.0.0      $abi   -     $broken/good.so"
contains err "$broken/abi-major.so: refused: built for plugin ABI $((abi_major + 1))."
[[ $(wc -l <"$tmp/err") == 8 ]] || fail "expected 8 refusals"
expect 0 env NESTBOX_PLUGIN_PATH="$good" "$nestboxd" --config "$tmp/missing" --list-plugins
contains out "aux-alpha            auxiliary  1.0.0      $abi   2     $good/aux-alpha.so"

# Templates: a machinery's is a valid file that --check accepts as is.
expect 0 "$nestboxd" --config "$conf" --config-template fake
cp "$tmp/out" "$conf/machinery/fake.conf"
contains out 'speed = 5;'
contains out '    # # (enum, one of: none, restore_fails, reject_in_check, restore_hangs, restore_times_out, stop_fails, dies_while_running, comes_back_paused, paused_unresumable, stop_hangs, ignores_acpi, dump_fails, begin_fails, commit_fails, commit_hangs)'
expect 0 "$nestboxd" --config "$conf" --check
contains out "machines: 0"
expect 0 "$nestboxd" --config "$conf" --config-template aux-strict
contains out "# Set its required keys, then enable it."
contains out "  enabled = false;"
contains out '  # must_set = "";'
expect 1 "$nestboxd" --config "$conf" --config-template nope
contains err 'nestboxd: no plugin named "nope" was found'

# The daemon: SIGHUP with a broken config keeps the old one; SIGTERM stops it.
in_log() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died before it logged: $1"
	grep -qF -- "$1" "$tmp/daemon.log"
}
logged() { wait_for "nestboxd logging \"$1\"" in_log "$1"; }
"$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
logged "ready"
contains daemon.log "nestboxd 0.1.0 ready: 0 machines"
echo "speed = 99;" >"$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
logged "reload refused"
contains daemon.log "reload refused: the new configuration is not valid; keeping the old one"
contains daemon.log "fake.conf:1: speed: must be between 1 and 10, found 99"
kill -0 "$daemon_pid" || fail "daemon died on a bad reload"
echo "speed = 9;" >"$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
logged "configuration reloaded"
contains daemon.log "configuration reloaded from $conf"
kill -TERM "$daemon_pid"
status=0; wait "$daemon_pid" || status=$?
daemon_pid=
[[ $status == 0 ]] || fail "daemon exited $status on SIGTERM"
echo "nestboxd CLI: all checks passed"
