#!/usr/bin/env bash
# nestboxd's command line as an operator uses it: exit codes, --check output,
# --list-plugins, --config-template, the SDK's .pc, and the daemon's
# SIGHUP/SIGTERM handling and log_level.
# Usage: nestboxd-cli.sh NESTBOXD GOOD_PLUGIN_DIR BROKEN_PLUGIN_DIR GATE_PLUGIN_DIR PC_DIR
set -euo pipefail
nestboxd=$1 good=$2 broken=$3 gate=$4 pc_dir=$5
tmp=$(mktemp -d)
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
unset NESTBOX_PLUGIN_PATH
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

# expect CODE CMD...: runs CMD, output in $tmp/out and $tmp/err, checks its exit code.
expect() {
	local want=$1 got=0; shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }
lacks() { ! grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 has: $2"; }; }
# wait_log FILE TEXT [COUNT]: until FILE (in $tmp) holds TEXT COUNT times; the
# deadline only catches a hang.
wait_log() {
	local n
	for _ in $(seq 3000); do
		n=$(grep -cF -- "$2" "$tmp/$1" 2>/dev/null) || true
		(( n >= ${3:-1} )) && return 0
		sleep 0.1
	done
	cat "$tmp/$1" >&2
	fail "no \"$2\" in $1 after 300 s"
}

expect 0 "$nestboxd" --version
contains out "nestboxd "
# The plugins here are built against the same headers: their ABI is the daemon's.
abi=$(sed -n 's/^nestboxd .* (plugin ABI \([0-9]*\)\.\([0-9]*\))$/\1.\2/p' "$tmp/out")
[[ -n $abi ]] || { cat "$tmp/out" >&2; fail "--version does not say the plugin ABI"; }
abi_major=${abi%%.*}
# The SDK's .pc says the ABI of the headers, whatever they say today.
pc_abi=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=abi_major nestbox-plugin).$(
	PKG_CONFIG_PATH=$pc_dir pkg-config --variable=abi_minor nestbox-plugin)
[[ $pc_abi == "$abi" ]] || fail "nestbox-plugin.pc says ABI $pc_abi, the headers $abi"
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
# Every broken plugin of the directory is refused; good.so among them loads.
broken_count=$(($(find "$broken" -maxdepth 1 -name '*.so' | wc -l) - 1))
[[ $(wc -l <"$tmp/err") == "$broken_count" ]] || fail "expected $broken_count refusals"
expect 0 env NESTBOX_PLUGIN_PATH="$good" "$nestboxd" --config "$tmp/missing" --list-plugins
contains out "aux-alpha            auxiliary  1.0.0      $abi   2     $good/aux-alpha.so"

# Templates: a machinery's is a valid file that --check accepts as is.
expect 0 "$nestboxd" --config "$conf" --config-template fake
cp "$tmp/out" "$conf/machinery/fake.conf"
contains out 'speed = 5;'
contains out '    # # (enum, one of: none, restore_fails, reject_in_check, restore_hangs, restore_times_out, stop_fails, dies_while_running, comes_back_paused, paused_unresumable, stop_hangs, ignores_acpi, dump_fails, begin_fails, commit_fails, commit_hangs, prepare_fails)'
expect 0 "$nestboxd" --config "$conf" --check
contains out "machines: 0"
expect 0 "$nestboxd" --config "$conf" --config-template aux-strict
contains out "# Set its required keys, then enable it."
contains out "  enabled = false;"
contains out '  # must_set = "";'
expect 1 "$nestboxd" --config "$conf" --config-template nope
contains err 'nestboxd: no plugin named "nope" was found'

cat >"$conf/machinery/fake.conf" <<CONF
machines = ( { name = "win10"; label = "w10"; ip = "192.0.2.10"; platform = "windows"; } );
CONF

# ONE validation path: what start-up refuses, --check reports first, alike.
# refused_alike LINE: both exit 1 and say LINE.
refused_alike() {
	expect 1 "$nestboxd" --config "$conf" --check
	contains err "$1"
	expect 1 timeout 120 "$nestboxd" --config "$conf"
	contains err "$1"
	contains err "nestboxd: not starting: configuration $conf is not valid"
}
cp "$conf/nestbox.conf" "$tmp/nestbox.conf.good"
with_api() { { cat "$tmp/nestbox.conf.good"; printf '%s\n' "$@"; } >"$conf/nestbox.conf"; }
printf 'x%.0s' $(seq 40) >"$tmp/token"
chmod 600 "$tmp/token"
with_api 'api = { tcp = "127.0.0.1:8090"; };'
refused_alike "$conf/nestbox.conf:7: api.tcp: TCP clients must authenticate: set api.token_file too"
with_api "api = { tcp = \"nonsense\"; token_file = \"$tmp/token\"; };"
refused_alike "$conf/nestbox.conf:7: api.tcp: expected ADDRESS:PORT with an IP address"
with_api 'api = { socket_group = "nbx-no-such-group"; };'
refused_alike "$conf/nestbox.conf:7: api.socket_group: no group named \"nbx-no-such-group\""
with_api "api = { socket = \"$tmp/no-such-dir/api.sock\"; };"
refused_alike "$conf/nestbox.conf:7: api.socket: directory $tmp/no-such-dir does not exist"
printf 'short\n' >"$tmp/token"
with_api "api = { tcp = \"127.0.0.1:8090\"; token_file = \"$tmp/token\"; };"
refused_alike "api.token_file: the token in $tmp/token is 5 characters long, too short"
chmod 644 "$tmp/token"
refused_alike "api.token_file: $tmp/token is open to every user (mode 0644); run: chmod o-rwx"
cp "$tmp/nestbox.conf.good" "$conf/nestbox.conf"

# A FIFO (or a directory) as a configuration file is refused, never read:
# reading a FIFO blocks until someone writes to it.
cp "$conf/machinery/fake.conf" "$tmp/fake.conf.good"
rm "$conf/machinery/fake.conf"
mkfifo "$conf/machinery/fake.conf"
expect 1 timeout 60 "$nestboxd" --config "$conf" --check
contains err "$conf/machinery/fake.conf: cannot read: is a FIFO, not a regular file"
rm "$conf/machinery/fake.conf"
mkfifo "$tmp/part.conf"
printf 'speed = 3;\n@include "../../part.conf"\n' >"$conf/machinery/fake.conf"
expect 1 timeout 60 "$nestboxd" --config "$conf" --check
contains err "$conf/machinery/fake.conf:2: @include \"../../part.conf\": cannot read $tmp/part.conf: is a FIFO, not a regular file"
# A relative @include is the including file's neighbour, whatever the working directory.
printf 'speed = 11;\n' >"$conf/machinery/speed.conf"
printf '@include "speed.conf"\n' >"$conf/machinery/fake.conf"
expect 1 "$nestboxd" --config "$conf" --check
contains err "$conf/machinery/speed.conf:1: speed: must be between 1 and 10, found 11"
cp "$tmp/fake.conf.good" "$conf/machinery/fake.conf"

# log_level = "debug" shows the core's and the plugins' debug and info lines.
printf 'log_level = "debug";\n' >>"$conf/nestbox.conf"
"$nestboxd" --config "$conf" >"$tmp/debug.log" 2>&1 &
daemon_pid=$!
wait_log debug.log "ready:"
contains debug.log "nestbox-DEBUG"
contains debug.log "plugin fake 1.0.0 (machinery) from $good/fake.so"
contains debug.log "configuration $conf: 6 plugins, 1 machineries, 2 auxiliaries, 1 machines"
contains debug.log "fake: ready to fake machines"
contains debug.log "fake: faults are read from each machine's \`fault\`"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "daemon exited $? on SIGTERM"
daemon_pid=
cp "$tmp/nestbox.conf.good" "$conf/nestbox.conf"

# The daemon: SIGHUP with a broken config keeps the old one; SIGTERM stops it.
health() {
	curl -sS --max-time 20 --unix-socket "$conf/run/api.sock" http://nestbox/api/v1/health \
		>"$tmp/health" 2>&1 || { cat "$tmp/health" >&2; fail "the API did not answer: $*"; }
}
NBX_TEST_LOAD_GATE=$tmp/gate "$nestboxd" --config "$conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
wait_log daemon.log "ready:"
contains daemon.log "nestboxd 0.1.0 ready: 1 machines"
lacks daemon.log "nestbox-DEBUG"
health "at start"
echo "speed = 99;" >"$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
wait_log daemon.log "reload refused"
contains daemon.log "reload refused: the new configuration is not valid; keeping the old one"
contains daemon.log "fake.conf:1: speed: must be between 1 and 10, found 99"
kill -0 "$daemon_pid" || fail "daemon died on a bad reload"

# What start-up read once cannot change live: each key named, the old configuration kept.
cp "$tmp/fake.conf.good" "$conf/machinery/fake.conf"
sed -e 's/^state_dir = .*/state_dir = "state2";/' -e 's/^run_dir = .*/run_dir = "run2";/' \
	"$tmp/nestbox.conf.good" >"$conf/nestbox.conf"
kill -HUP "$daemon_pid"
wait_log daemon.log "reload refused" 2
contains daemon.log "$conf/nestbox.conf:4: state_dir: a reload cannot change it (running with \"$conf/state\", the file now says \"$conf/state2\"); restart nestboxd to apply it"
contains daemon.log "$conf/nestbox.conf:5: run_dir: a reload cannot change it"
contains daemon.log "api.socket: a reload cannot change it (running with \"$conf/run/api.sock\", the file now says \"$conf/run2/api.sock\")"
[[ ! -e $conf/state2 && ! -e $conf/run2 ]] || fail "a refused reload created the new directories"
health "after a refused reload"

# A FIFO swapped in is refused at once, and the API answers meanwhile.
cp "$tmp/nestbox.conf.good" "$conf/nestbox.conf"
rm "$conf/machinery/fake.conf"
mkfifo "$conf/machinery/fake.conf"
kill -HUP "$daemon_pid"
wait_log daemon.log "reload refused" 3
contains daemon.log "$conf/machinery/fake.conf: cannot read: is a FIFO, not a regular file"
health "after a FIFO reload"
rm "$conf/machinery/fake.conf"
cp "$tmp/fake.conf.good" "$conf/machinery/fake.conf"

# A reload whose reading hangs (a plugin that loads as from a hung disk) does
# not stop the API; a SIGHUP meanwhile reads again once it is done.
sed -e "s|^plugin_dirs = .*|plugin_dirs = [ \"$good\", \"$gate\" ];|" "$tmp/nestbox.conf.good" \
	>"$conf/nestbox.conf"
kill -HUP "$daemon_pid"
wait_log daemon.log "reloading the configuration from $conf"
for _ in $(seq 3000); do [[ -e $tmp/gate.reached ]] && break; sleep 0.1; done
[[ -e $tmp/gate.reached ]] || fail "the reload never reached the gate plugin"
health "while a reload is reading"
kill -HUP "$daemon_pid"
wait_log daemon.log "a reload is reading the configuration already; another one follows it"
lacks daemon.log "configuration reloaded"
touch "$tmp/gate"
wait_log daemon.log "configuration reloaded from $conf" 2
health "after the reloads"

kill -TERM "$daemon_pid"
status=0; wait "$daemon_pid" || status=$?
daemon_pid=
[[ $status == 0 ]] || fail "daemon exited $status on SIGTERM"
echo "nestboxd CLI: all checks passed"
