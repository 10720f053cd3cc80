#!/usr/bin/env bash
# Snapshot management through nestboxd and the nestbox CLI, on the fake
# machinery (whose snapshot ops can fail or hang on demand):
#  - begin / copy / commit / rollback, with analyses running meanwhile on
#    another machine of the same base, and a queued task for the modified
#    machine that runs once the session ends;
#  - a run keeps the generation it restored from until it ends, then the
#    old generation is removed;
#  - an idle machine's prepared run follows its base's current generation:
#    a commit or an import discards it and prepares it again;
#  - a failed commit keeps the session and the current generation;
#  - nestboxd killed -9 during a commit (held at the fake's barrier): the
#    previous generation stays current, the session is rolled back at the
#    next start;
#  - export -> import into a second config root, --replace, an
#    incompatible fingerprint (refused, then imported --minimal and made
#    whole by a cold boot and a commit), tampered and truncated archives.
# Usage: snapshots.sh NESTBOXD NESTBOX GOOD_PLUGIN_DIR
set -euo pipefail
nestboxd=$1 cli=$2 good=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
unset NESTBOX_PLUGIN_PATH http_proxy HTTP_PROXY
fail() { echo "FAIL: $*" >&2; tail -30 "$tmp"/*.log >&2 2>/dev/null || true; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"
expect() {
	local want=$1 got=0; shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }
json() { python3 -c "import json,sys; j=json.load(open('$tmp/out')); print($1)"; }

# make_root DIR MACHINE_TYPE MACHINES: a config root with the fake machinery.
make_root() {
	mkdir -p "$1/machinery"
	cat >"$1/nestbox.conf" <<CONF
machineries = [ "fake" ];
plugin_dirs = [ "$good" ];
builtin_plugin_dir = false;
state_dir = "state";
run_dir = "run";
analyses_dir = "analyses";
timeouts = { stop = 5; };
CONF
	printf 'ledger = "%s/ledger";\nmachine_type = "%s";\nmachines = (\n%s\n);\n' "$1" "$2" "$3" \
		>"$1/machinery/fake.conf"
	: >"$1/auxiliary.conf"
}

answers() { # answers ROOT
	kill -0 "$daemon" 2>/dev/null || fail "nestboxd exited at start"
	NESTBOX_SOCKET=$1/run/api.sock "$cli" health >/dev/null 2>&1
}
# start ROOT: runs nestboxd on ROOT until its API answers; sets $daemon.
start() {
	"$nestboxd" --config "$1" >>"$1.log" 2>&1 &
	daemon=$!
	pids+=("$daemon")
	disown "$daemon"
	wait_for "nestboxd answering" answers "$1"
}
gone() { ! kill -0 "$1" 2>/dev/null; }

ended() {
	"$cli" --json status "$1" >"$tmp/out" 2>"$tmp/err" || return 1
	case $(json 'j["state"]' 2>/dev/null) in reported | failed | cancelled) return 0 ;; esac
	return 1
}
# wait_state ID: until the task has ended; its state in $tmp/out.
wait_state() { wait_for "task $1 ended" ended "$1"; }
generation_of() { cat "$root/run/plugins/fake/$1.generation"; }
# prepared_for MACHINE GENERATION_DIR: its idle run is prepared from that generation (ABI 1.2 prepare).
prepared_for() { [[ $(cat "$root/run/plugins/fake/$1.prepared" 2>/dev/null) == "$2" ]]; }
# The fake's barriers (fake_machinery.c): MACHINE's OP waits while MACHINE.OP.barrier exists.
fake_file() { echo "$root/run/plugins/fake/$1.$2.$3"; }
reached() { [[ -e $(fake_file "$1" "$2" reached) ]]; }
logged() { grep -q "$1" "$root.log"; }

root=$tmp/a
make_root "$root" fake-1 '
  { name = "m1"; label = "l1"; ip = "192.0.2.1"; platform = "linux"; },
  { name = "m2"; label = "l2"; ip = "192.0.2.2"; platform = "linux"; base_machine = "m1"; },
  { name = "m3"; label = "l3"; ip = "192.0.2.3"; platform = "linux"; fault = "commit_fails"; },
  { name = "m4"; label = "l4"; ip = "192.0.2.4"; platform = "linux"; fault = "commit_hangs"; }'
export NESTBOX_SOCKET=$root/run/api.sock
start "$root"

# A base_machine naming a machine that does not exist is refused at --check.
bad=$tmp/bad
make_root "$bad" fake-1 '
  { name = "x1"; label = "x"; ip = "192.0.2.9"; platform = "linux"; base_machine = "nope"; }'
expect 1 "$nestboxd" --config "$bad" --check
contains err 'machines.x1.base_machine: no enabled machine is named "nope"'

# Status before anything: generation 0 of each base, no session.
expect 0 "$cli" --json snapshot status
[[ $(json '[b["base"] for b in j["bases"]]') == "['m1', 'm3', 'm4']" ]] || fail "bases: $(cat "$tmp/out")"
[[ $(json 'j["bases"][0]["machines"]') == "['m1', 'm2']" ]] || fail "m1's base machines"
[[ $(json 'j["bases"][0]["current"]') == 0 ]] || fail "current is not 0"

# begin: a console; a second begin on the same base is refused.
expect 0 "$cli" snapshot begin m1
contains out "modifying m1 from generation 0; console: vnc://127.0.0.1:5999"
expect 1 "$cli" snapshot begin m1
contains err "base m1 is being modified already, on machine m1"
# A task for m1 waits; one for m2 (same base) runs during the modification.
expect 0 "$cli" submit --machine m1 --duration 1
m1_task=$(sed -n 's/^task \([0-9]*\) .*/\1/p' "$tmp/out")
expect 0 "$cli" submit --machine m2 --duration 1 --wait
contains out "reported"
[[ $(generation_of m2) == 0 ]] || fail "m2 restored from $(generation_of m2), not generation 0"
wait_for "idle m2 prepared from generation 0" prepared_for m2 0
expect 0 "$cli" --json status "$m1_task"
[[ $(json 'j["state"]') == queued ]] || fail "m1's task ran during the session"
# A reload waits for the session: refused with a reason in the log.
kill -HUP "$daemon"
wait_for "the reload refused" logged "reload refused: the snapshot of machine m1 is being modified"

# copy: a file reaches the session; a missing one is refused with its path.
printf 'tool\n' >"$tmp/tool.exe"
expect 0 "$cli" snapshot copy m1 "$tmp/tool.exe"
expect 1 "$cli" snapshot copy m1 "$tmp/missing.exe"
contains err "$tmp/missing.exe: not an absolute path of a regular file"

# commit: generation 1 is current; the queued m1 task then runs from it.
expect 0 "$cli" snapshot commit m1
contains out "m1: generation 1 is current"
gen1=$root/state/snapshots/m1/gen-1
# m2, idle meanwhile, was prepared from generation 0: the commit had it discarded and prepared again.
wait_for "idle m2 prepared from generation 1" prepared_for m2 "$gen1"
grep -q "discard m2" "$root/ledger" || fail "m2's prepared run was not discarded"
grep -qF "$tmp/tool.exe" "$gen1/description.txt" || fail "the copied file is not in generation 1"
wait_state "$m1_task"
[[ $(json 'j["state"]') == reported ]] || fail "m1's task: $(cat "$tmp/out")"
[[ $(generation_of m1) == "$gen1" ]] || fail "m1 restored from $(generation_of m1)"
gen1_sum=$(cd "$gen1" && sha256sum ./* | sha256sum)

# rollback: generation 1 stays current and byte for byte the same.
expect 0 "$cli" snapshot begin m1
contains out "from generation 1"
expect 0 "$cli" snapshot rollback m1
expect 1 "$cli" snapshot rollback m1
contains err "no modification of base m1 is open"
[[ $(cd "$gen1" && sha256sum ./* | sha256sum) == "$gen1_sum" ]] || fail "rollback changed generation 1"
[[ ! -e $root/run/plugins/fake/m1.running ]] || fail "m1 still runs after rollback"

# A run keeps its generation: m2 runs from generation 1 while 2 is committed
# (its stop waits at the fake's barrier: the run holds the generation until then).
: >"$(fake_file m2 stop barrier)"
expect 0 "$cli" submit --machine m2 --duration 1
m2_task=$(sed -n 's/^task \([0-9]*\) .*/\1/p' "$tmp/out")
wait_for "m2's stop at its barrier" reached m2 stop
expect 0 "$cli" snapshot begin m1
expect 0 "$cli" snapshot commit m1
contains out "generation 2 is current"
expect 0 "$cli" --json snapshot status
[[ $(json '[(g["generation"], g["users"]) for g in j["bases"][0]["generations"]]') == "[(0, 0), (1, 1), (2, 0)]" ]] ||
	fail "generation users while m2 runs: $(cat "$tmp/out")"
[[ -d $gen1 ]] || fail "generation 1 went while m2 used it"
rm "$(fake_file m2 stop barrier)"
wait_state "$m2_task"
[[ $(generation_of m2) == "$gen1" ]] || fail "m2 did not keep generation 1"
gen1_gone() { [[ ! -d $gen1 ]]; }
wait_for "generation 1 removed once unused" gen1_gone

# A failed commit: the session goes on, nothing is half written.
expect 0 "$cli" snapshot begin m3
expect 4 "$cli" snapshot commit m3
contains err "fake: machine m3: snapshot_commit: writing memory.img: No space left on device"
expect 0 "$cli" --json snapshot status
[[ $(json '[b["session"]["machine"] if b["session"] else None for b in j["bases"] if b["base"]=="m3"][0]') == m3 ]] ||
	fail "the session ended with the failed commit"
compgen -G "$root/state/snapshots/m3/.commit-*" >/dev/null && fail "a failed commit left its directory"
expect 0 "$cli" snapshot rollback m3

# nestboxd killed -9 during a commit: m4's commit (commit_hangs) waits at its
# barrier, disk.img written, until the daemon is dead.
expect 0 "$cli" snapshot begin m4
"$cli" snapshot commit m4 >/dev/null 2>&1 &
wait_for "m4's commit at its barrier" reached m4 snapshot_commit
compgen -G "$root/state/snapshots/m4/.commit-*/disk.img" >/dev/null || fail "the commit wrote no disk.img"
kill -KILL "$daemon"
wait_for "nestboxd killed" gone "$daemon"
rm "$(fake_file m4 snapshot_commit barrier)"
start "$root"
grep -q "removing .*m4/.commit-1, left by an interrupted commit" "$root.log" || fail "no word of the interrupted commit"
grep -q "the session on machine m4 was left open by a previous daemon; rolling it back" "$root.log" ||
	fail "the abandoned session was not rolled back"
expect 0 "$cli" --json snapshot status
[[ $(json '[(b["current"], b["session"]) for b in j["bases"] if b["base"]=="m4"][0]') == "(0, None)" ]] ||
	fail "after the crash: $(cat "$tmp/out")"
compgen -G "$root/state/snapshots/m4/.commit-*" >/dev/null && fail "the interrupted commit's files are left"
[[ ! -e $root/run/plugins/fake/m4.running ]] || fail "m4 still runs after recovery"
echo "ok: begin, copy, commit, rollback, users, failed and killed commits"

# ---- export and import ----
expect 0 "$cli" snapshot export m1 --full -o "$tmp/m1.nbx"
contains out "m1: generation 2 written to $tmp/m1.nbx (full"
expect 0 "$cli" snapshot export m1 -o "$tmp/m1-minimal.nbx"
contains out "(minimal"

root_b=$tmp/b
make_root "$root_b" fake-1 '
  { name = "m1"; label = "l1"; ip = "192.0.2.1"; platform = "linux"; }'
root_save=$root
root=$root_b
export NESTBOX_SOCKET=$root_b/run/api.sock
start "$root_b"
expect 0 "$cli" snapshot import "$tmp/m1.nbx"
contains out "m1: generation 1 imported"
wait_for "m1 prepared from the imported generation" prepared_for m1 "$root_b/state/snapshots/m1/gen-1"
expect 0 "$cli" submit --machine m1 --duration 1 --wait
[[ $(generation_of m1) == "$root_b/state/snapshots/m1/gen-1" ]] || fail "imported generation not restored"
cmp "$root_b/state/snapshots/m1/gen-1/description.txt" "$root_save/state/snapshots/m1/gen-2/description.txt" ||
	fail "the imported description differs"
expect 1 "$cli" snapshot import "$tmp/m1.nbx"
contains err "machine m1 already has a snapshot (base m1, generation 1); import with --replace"
expect 0 "$cli" snapshot import "$tmp/m1.nbx" --replace
contains out "generation 2 imported"

# Tampered and truncated archives: refused, nothing changes.
python3 - "$tmp/m1.nbx" "$tmp/tampered.nbx" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
data[len(data) // 2] ^= 0xff
open(sys.argv[2], 'wb').write(data)
PY
expect 1 "$cli" snapshot import "$tmp/tampered.nbx" --replace
contains err "$tmp/tampered.nbx"
head -c $(($(stat -c %s "$tmp/m1.nbx") / 2)) "$tmp/m1.nbx" >"$tmp/truncated.nbx"
expect 1 "$cli" snapshot import "$tmp/truncated.nbx" --replace
contains err "truncated"
expect 0 "$cli" --json snapshot status
[[ $(json 'j["bases"][0]["current"]') == 2 ]] || fail "a refused import changed the current generation"
compgen -G "$root_b/state/snapshots/.import-*" >/dev/null && fail "a refused import left files"
compgen -G "$root_b/state/snapshots/m1/.import-*" >/dev/null && fail "a refused import left files"

# An incompatible host: refused with the differences, then imported minimal.
root_c=$tmp/c
make_root "$root_c" fake-2 '
  { name = "m1"; label = "l1"; ip = "192.0.2.1"; platform = "linux"; }'
root=$root_c
export NESTBOX_SOCKET=$root_c/run/api.sock
start "$root_c"
expect 1 "$cli" snapshot import "$tmp/m1.nbx"
contains err "made by an incompatible host (machine_type: archive fake-1, this host fake-2)"
contains err "import it with --minimal"
expect 0 "$cli" snapshot import "$tmp/m1.nbx" --minimal
contains out "needs a cold boot"
[[ ! -e $root_c/state/snapshots/m1/gen-1/memory.img ]] || fail "a minimal import kept the memory"
expect 1 "$cli" submit --machine m1 --duration 1 --wait
expect 0 "$cli" status 1
contains out "was imported without its memory"
expect 0 "$cli" snapshot begin m1
contains out "from generation 1"
grep -q "cold_boot=1" "$root_c/state/snapshots/m1/session/session.txt" || fail "begin did not cold boot"
expect 0 "$cli" snapshot commit m1
expect 0 "$cli" machine enable m1
expect 0 "$cli" submit --machine m1 --duration 1 --wait
contains out "reported"
echo "ok: export, import, --replace, tampered, truncated, incompatible, --minimal"

# A clean stop: under ASan a leak would make the exit status non-zero.
kill -TERM "$daemon"
wait_for "nestboxd stopped on SIGTERM" gone "$daemon"
grep -q "ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:" "$tmp"/*.log && fail "a sanitizer report in a daemon's log"
true
