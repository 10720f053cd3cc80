# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the API's daemon tests: a real nestboxd with the fake machinery
# in a directory of its own, and what a test reads of it (/proc/PID/fd,
# VmRSS, VmHWM). Needs $nestboxd, $good (the test plugins) and $tmp (removed
# by the caller's trap, which must call stop_daemon first).
daemon_pid=

# write_conf [API_SETTINGS [MACHINES]]: the configuration, with "api = {
# API_SETTINGS };" and the fake machinery's MACHINES (one linux machine, f1,
# by default).
write_conf() {
	local machines=${2:-'{ name = "f1"; label = "f1"; ip = "192.0.2.10"; platform = "linux"; }'}
	conf=$tmp/conf
	mkdir -p "$conf/machinery"
	cat >"$conf/nestbox.conf" <<CONF
machineries = [ "fake" ];
plugin_dirs = [ "$good" ];
builtin_plugin_dir = false;
state_dir = "state";
run_dir = "run";
analyses_dir = "analyses";
api = { ${1:-} };
CONF
	cat >"$conf/machinery/fake.conf" <<CONF
machines = (
  $machines
);
CONF
	: >"$conf/auxiliary.conf"
	socket=$conf/run/api.sock
	store=$conf/state/nestbox.sqlite
}

# start_daemon: starts nestboxd on $conf and waits (generously) until it answers.
start_daemon() {
	"$nestboxd" --config "$conf" >>"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 600); do
		if python3 "$client" keepalive "$socket" 1 >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd exited at start"
		sleep 0.1
	done
	fail "nestboxd did not answer within 60 s"
}

stop_daemon() {
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -CONT "$daemon_pid" 2>/dev/null || true
		kill -TERM "$daemon_pid"
		wait "$daemon_pid" || true
	fi
	daemon_pid=
}

fail() {
	echo "FAIL: $*" >&2
	[[ -f $tmp/daemon.log ]] && tail -20 "$tmp/daemon.log" >&2
	exit 1
}

fd_count() { ls "/proc/$daemon_pid/fd" | wc -l; }
# status_kb FIELD: VmRSS, VmHWM... of the daemon, in KiB.
status_kb() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$daemon_pid/status"; }
