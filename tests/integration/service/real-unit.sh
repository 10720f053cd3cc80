#!/usr/bin/env bash
# Where systemd is PID 1: the installed unit started by systemd itself, as a
# transient copy named nestboxd-test-PID.service whose programs are the ones
# installed in ROOT and whose directories are its own (state, runtime, a
# configuration copy), so nothing of an installed nestbox is touched:
# `systemctl start` returns once READY=1 came and the API answers,
# `systemctl reload` runs --check then SIGHUP, `systemctl stop` ends it with
# STOPPING=1 and a clean exit. The unit file is removed on every exit path.
# NOT RUN on this project's CI (no systemd as PID 1): service.sh runs the
# same lines by hand there.
# Usage: real-unit.sh ROOT UNIT CLI SYSUSERS   (installed paths, without ROOT)
set -euo pipefail
root=$1 unit=$2 cli=$3 sysusers=$4
fail() { echo "FAIL: $*" >&2; journalctl --no-pager -n 50 -u "$name" >&2 || true; exit 1; }
name=nestboxd-test-$$.service
state=/var/lib/nestbox-test-$$ runtime=/run/nestbox-test-$$
unit_path=/run/systemd/system/$name
cleanup() {
	systemctl stop "$name" 2>/dev/null || true
	rm -f "$unit_path"
	systemctl daemon-reload || true
	rm -rf "$state" "$runtime"
}
trap cleanup EXIT

# The group the unit runs as must exist: systemd-sysusers makes it on this host.
getent group nestbox >/dev/null || systemd-sysusers "$root$sysusers"
getent group nestbox >/dev/null || fail "no nestbox group (systemd-sysusers)"

confdir=$(sed -n 's/^ExecStart=.* --config \([^ ]*\).*/\1/p' "$root$unit")
# ReadWritePaths= fails the start when a path is missing; ip netns makes this one too.
mkdir -p "$state/conf" "$runtime" /run/netns
cp -a "$root$confdir/." "$state/conf/"
sed -i "s|^state_dir = .*|state_dir = \"$state\";|; s|^run_dir = .*|run_dir = \"$runtime\";|;
	s|^analyses_dir = .*|analyses_dir = \"$state/analyses\";|" "$state/conf/nestbox.conf"
mkdir -p "$state/analyses"
chgrp -R nestbox "$state" "$runtime"
chmod 0750 "$state" "$runtime"

# The installed unit with its programs from ROOT, its config and writable
# directories the test's own; every other directive unchanged.
sed -e "s|^\(Exec[A-Za-z]*=\)\([^/]*\)\(/[^ ]*nestboxd\)|\1\2$root\3|" \
	-e "s| --config $confdir| --config $state/conf|" \
	-e "s|^ReadWritePaths=.*|ReadWritePaths=$state $runtime /run/netns|" \
	"$root$unit" >"$unit_path"
systemctl daemon-reload
systemctl start "$name" || fail "systemctl start failed"
[[ $(systemctl show -P ActiveState "$name") == active ]] || fail "not active after start"
"$root$cli" --socket "$runtime/api.sock" health >/dev/null || fail "the API did not answer once started"
systemctl reload "$name" || fail "systemctl reload failed"
[[ $(systemctl show -P ActiveState "$name") == active ]] || fail "not active after a reload"
systemctl stop "$name"
[[ $(systemctl show -P Result "$name") == success ]] || fail "the stop did not end in success"
echo "ok: the real unit started, reloaded and stopped under systemd"
