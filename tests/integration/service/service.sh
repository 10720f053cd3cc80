#!/usr/bin/env bash
# nestbox as a service: `meson install --destdir` into a temporary root; the
# configuration a second install leaves alone; the unit checked by
# `systemd-analyze verify` and its `security --offline` score against the
# README's; then, in a mount namespace of its own where that root is laid
# over the system (overlayfs; /run and /var/lib are empty tmpfs), the
# sysusers.d and tmpfiles.d files applied and the unit's ExecStart= line run
# as systemd would run it (its group, umask, bounding set, no new
# privileges, NOTIFY_SOCKET on a socket this test listens on): READY=1 once
# the API answers, the ExecReload= lines (--check, then SIGHUP: RELOADING=1
# then READY=1, also for a refused reload), STOPPING=1 at SIGTERM. Where
# systemd is PID 1 the real unit is started as well.
# Usage: service.sh BUILD_ROOT SOURCE_ROOT UNIT SYSUSERS TMPFILES CONFDIR CLI HAS_NOTIFY
#   (UNIT, SYSUSERS, TMPFILES, CONFDIR, CLI: where they are installed, without DESTDIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${1-} == --inside ]]; then
	shift
	inside=1
fi
build=$1 source=$2 unit=$3 sysusers=$4 tmpfiles=$5 confdir=$6 cli=$7 has_notify=$8
fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for FILE PATTERN [COUNT]: until FILE has COUNT lines matching the
# extended regex PATTERN; the deadline only catches a hang.
wait_for() {
	local n
	for _ in $(seq 1200); do
		n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
		((n >= ${3:-1})) && return 0
		sleep 0.1
	done
	cat "$1" >&2
	fail "no \"$2\" in $1 after 120 s"
}

# unit_value KEY: the values of KEY= in the installed unit, one per line.
unit_value() { sed -n "s/^$1=//p" "$unit_file"; }

# ---- inside the mount namespace -------------------------------------------
# The root is laid over the system read-write (the changes go to a tmpfs),
# so the installed paths are the real ones: /usr/sbin/nestboxd (or
# /usr/local/...), /etc/nestbox. /etc also gets the nestbox group the
# sysusers.d file makes.
lay_root_over_system() {
	mount -t tmpfs nestbox-test "$tmp/rw"
	mkdir -p "$tmp/sysroot/etc"
	cp -a /etc/passwd /etc/group "$tmp/sysroot/etc/"
	[[ -e /etc/gshadow ]] && cp -a /etc/gshadow "$tmp/sysroot/etc/"
	systemd-sysusers --root="$tmp/sysroot" "$root$sysusers"
	grep -q '^nestbox:' "$tmp/sysroot/etc/group" || fail "sysusers.d made no nestbox group"
	local dir lower
	for dir in usr etc; do
		lower=/$dir
		[[ $dir == etc ]] && lower=$tmp/sysroot/etc:$lower
		[[ -d $root/$dir ]] && lower=$root/$dir:$lower
		mkdir -p "$tmp/rw/$dir-upper" "$tmp/rw/$dir-work"
		mount -t overlay overlay \
			-o "lowerdir=$lower,upperdir=$tmp/rw/$dir-upper,workdir=$tmp/rw/$dir-work" "/$dir"
	done
	mount -t tmpfs nestbox-test-run /run
	mount -t tmpfs nestbox-test-var-lib /var/lib
}

check_directories() {
	systemd-tmpfiles --create "$tmpfiles"
	local want got
	for want in "/var/lib/nestbox 750 root nestbox" "/var/lib/nestbox/analyses 750 root nestbox" \
		"/run/nestbox 750 root nestbox" "/run/netns 755 root root"; do
		got=$(stat -c '%n %a %U %G' "${want%% *}")
		[[ $got == "$want" ]] || fail "tmpfiles.d made \"$got\", wanted \"$want\""
	done
}

# exec_as_the_unit CMD...: becomes CMD with the unit's group, umask,
# capability bounding set and NoNewPrivileges=, in a clean environment. Run
# it in a subshell, `( ... )` or `... &` (then $! is CMD's pid, its MAINPID).
exec_as_the_unit() {
	local caps
	caps=$(unit_value CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
	[[ $(unit_value NoNewPrivileges) == yes ]] || fail "the unit lost NoNewPrivileges=yes"
	umask "$(unit_value UMask)"
	exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$tmp/notify.sock" \
		ASAN_OPTIONS="${ASAN_OPTIONS-}" LSAN_OPTIONS="${LSAN_OPTIONS-}" \
		UBSAN_OPTIONS="${UBSAN_OPTIONS-}" \
		setpriv --regid="$(unit_value Group)" --clear-groups --no-new-privs \
		--bounding-set="-all,$caps" -- "$@"
}

# exec_line LINE: a unit's command line, $MAINPID replaced, as words.
exec_words() { local line=${1//\$MAINPID/$daemon_pid}; read -r -a words <<<"$line"; }

start_listener() {
	python3 "$here/notify-listener.py" "$tmp/notify.sock" "$tmp/notify.log" &
	listener_pid=$!
	wait_for "$tmp/notify.log" '^LISTENING$'
}

notifications_after() { sed -n "$(($1 + 1)),\$p" "$tmp/notify.log"; }

run_by_hand() {
	local words check reload health
	start_listener
	exec_words "$(unit_value ExecStart)"
	exec_as_the_unit "${words[@]}" >"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	if ((has_notify)); then
		wait_for "$tmp/notify.log" "^pid=$daemon_pid READY=1 \| STATUS=running: "
		# Asked the moment READY=1 came: the API must answer now, first try.
		"$cli" --socket /run/nestbox/api.sock health >"$tmp/health" ||
			fail "READY=1 came before the API answered"
	else
		wait_for "$tmp/daemon.log" 'ready: '
		"$cli" --socket /run/nestbox/api.sock health >"$tmp/health"
	fi
	grep -q '^status' "$tmp/health" || fail "nestbox health printed no status"
	[[ $(stat -c '%a %G' /run/nestbox/api.sock) == "660 nestbox" ]] ||
		fail "api.sock is $(stat -c '%a %G' /run/nestbox/api.sock), wanted 660 nestbox"

	# systemctl reload: every ExecReload= line in order, each must succeed.
	mapfile -t reload < <(unit_value ExecReload)
	((${#reload[@]} == 2)) || fail "wanted 2 ExecReload= lines, found ${#reload[@]}"
	[[ ${reload[0]} == *' --check' && ${reload[1]} == *'kill -HUP $MAINPID' ]] ||
		fail "ExecReload= is not --check then kill -HUP \$MAINPID: ${reload[*]}"
	local seen
	seen=$(wc -l <"$tmp/notify.log")
	exec_words "${reload[0]}"
	(exec_as_the_unit "${words[@]}") >"$tmp/check.log" 2>&1 ||
		{ cat "$tmp/check.log" >&2; fail "--check failed"; }
	exec_words "${reload[1]}"
	(exec_as_the_unit "${words[@]}")
	wait_for "$tmp/daemon.log" 'configuration reloaded from'
	if ((has_notify)); then
		wait_for "$tmp/notify.log" "^pid=$daemon_pid READY=1" 2
		grep -qE "^pid=$daemon_pid RELOADING=1 \| STATUS=.* \| MONOTONIC_USEC=[0-9]+$" \
			<<<"$(notifications_after "$seen")" ||
			fail "no RELOADING=1 (with MONOTONIC_USEC) before the second READY=1"
		[[ $(notifications_after "$seen" | cut -d' ' -f2 | tr '\n' ' ') == "RELOADING=1 READY=1 " ]] ||
			fail "a reload did not say RELOADING=1 then READY=1: $(notifications_after "$seen")"
	fi

	# A configuration with a problem: --check fails (systemctl reload stops
	# there); a SIGHUP anyway is refused, and systemd still hears READY=1.
	sed -i 's/^log_level = .*/log_level = "loud";/' "$confdir/nestbox.conf"
	exec_words "${reload[0]}"
	! (exec_as_the_unit "${words[@]}") >"$tmp/check.log" 2>&1 ||
		fail "--check passed log_level = \"loud\""
	grep -q 'log_level' "$tmp/check.log" || { cat "$tmp/check.log" >&2; fail "--check did not name log_level"; }
	seen=$(wc -l <"$tmp/notify.log")
	kill -HUP "$daemon_pid"
	wait_for "$tmp/daemon.log" 'reload refused'
	if ((has_notify)); then
		wait_for "$tmp/notify.log" "^pid=$daemon_pid READY=1" 3
		grep -q "READY=1 | STATUS=running: .*refused" <<<"$(notifications_after "$seen")" ||
			fail "a refused reload's READY=1 does not say it was refused"
	fi
	"$cli" --socket /run/nestbox/api.sock health >/dev/null || fail "no API after a refused reload"

	seen=$(wc -l <"$tmp/notify.log")
	kill -TERM "$daemon_pid"
	local status=0
	wait "$daemon_pid" || status=$?
	daemon_pid=
	((status == 0)) || { cat "$tmp/daemon.log" >&2; fail "nestboxd exited $status after SIGTERM"; }
	if ((has_notify)); then
		[[ $(notifications_after "$seen" | cut -d' ' -f2-) == "STOPPING=1 | STATUS=stopping: "* ]] ||
			fail "SIGTERM did not say STOPPING=1 (and nothing after): $(notifications_after "$seen")"
	fi
}

inside_namespace() {
	root=$NBX_ROOT tmp=$NBX_TMP
	daemon_pid= listener_pid=
	trap '[[ -n $daemon_pid ]] && kill -KILL $daemon_pid 2>/dev/null; [[ -n $listener_pid ]] && kill $listener_pid 2>/dev/null; true' EXIT
	lay_root_over_system
	unit_file=$unit
	check_directories
	# Every Exec= program and Documentation= page of the unit exists here.
	systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1 || true
	[[ ! -s $tmp/verify.log ]] || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify complained"; }
	run_by_hand
	echo "ok: ExecStart and ExecReload run by hand as the unit would"
}

if [[ ${inside-} ]]; then
	inside_namespace
	exit 0
fi

# ---- outside: install, reinstall, score -----------------------------------
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (mount namespaces, overlayfs)"; exit 77; }
for program in systemd-analyze systemd-sysusers systemd-tmpfiles setpriv unshare; do
	command -v "$program" >/dev/null || { echo "SKIP: no $program (Debian package systemd, util-linux)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root" "$tmp/rw"

meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "meson install failed"; }
unit_file=$root$unit
for file in "$unit" "$sysusers" "$tmpfiles" "$confdir/nestbox.conf" "$confdir/auxiliary.conf"; do
	[[ -f $root$file ]] || fail "meson install did not install $file"
done

# A second install leaves what the administrator changed, and brings back
# only a file that is missing.
conf=$root$confdir
echo '# changed by the administrator' >>"$conf/nestbox.conf"
cp "$conf/nestbox.conf" "$tmp/edited.conf"
machinery=$(cd "$conf/machinery" && ls | head -1)
[[ -n $machinery ]] || fail "no machinery file in $conf/machinery"
rm "$conf/machinery/$machinery"
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "the second meson install failed"; }
cmp -s "$tmp/edited.conf" "$conf/nestbox.conf" ||
	fail "a second meson install overwrote the edited $confdir/nestbox.conf"
[[ -f $conf/machinery/$machinery ]] || fail "a second install did not bring back machinery/$machinery"
[[ -z $(find "$conf" -name '*.new-default') ]] || fail "install-conf.sh left a temporary file"

# The directories the unit may write are the ones the default nestbox.conf
# names and tmpfiles.d makes.
for key in state_dir run_dir analyses_dir; do
	dir=$(sed -n "s/^$key = \"\(.*\)\";/\1/p" "$conf/nestbox.conf")
	[[ -n $dir ]] || fail "no $key in the installed nestbox.conf"
	grep -qE "^d +$dir " "$root$tmpfiles" || fail "tmpfiles.d does not make $key $dir"
	writable=" $(unit_value ReadWritePaths) "
	[[ $writable == *" $dir "* || $writable == *" ${dir%/*} "* ]] ||
		fail "$key $dir is not under the unit's ReadWritePaths"
done

# The score the README states is the unit's.
systemd-analyze security --offline=yes --no-pager "$unit_file" >"$tmp/security.log" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for nestboxd.service: \([0-9.]*\).*/\1/p' "$tmp/security.log")
[[ -n $score ]] || { cat "$tmp/security.log" >&2; fail "systemd-analyze security gave no score"; }
readme=$(sed -n 's/.*overall exposure level \([0-9.]*\).*/\1/p' "$source/README.md" | head -1)
[[ $score == "$readme" ]] ||
	fail "systemd-analyze security --offline=yes scores the unit $score; the README says ${readme:-nothing}"
echo "ok: installed, reinstalled without overwriting, exposure level $score"

# A network namespace too: whatever the default plugins touch stays in it.
NBX_ROOT=$root NBX_TMP=$tmp unshare --mount --net --propagation private -- \
	bash "$0" --inside "$@"

if [[ $(cat /proc/1/comm) != systemd ]]; then
	echo "SKIP (part): systemd is not PID 1 here (PID 1 is $(cat /proc/1/comm)): the real unit was not started"
	exit 0
fi
bash "$here/real-unit.sh" "$root" "$unit" "$cli" "$sysusers"
