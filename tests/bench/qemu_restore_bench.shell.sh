#!/bin/bash
# qemu_restore_bench.shell.sh - the shell side of the qemu-restore benchmark:
# restore the demo guest by hand, the way the qemu machinery does, and keep
# it running until told to stop.
# Usage: qemu_restore_bench.shell.sh GUEST_DIR TAP [TEMPLATE_DIR]
#        (inside the bench's namespace)
#
# With TEMPLATE_DIR (a memory template the plugin made: template.ram,
# template.state, template.json), it restores the way the plugin does from
# a template instead: the RAM file mapped private (memory-backend-file
# share=off, in the block plain -m names, pc.ram), x-ignore-shared, and
# only the device state fed over the fd.
#
# The same steps as tests/integration/demo-guest/restore-agent.sh and as the
# plugin: qcow2 overlay of disk.qcow2 (same qemu-img options), QEMU from
# machineinfo.json's start_args + QMP + -incoming defer, the snapshot fed
# over an fd (getfd; zstd decompresses into a pipe), migrate-incoming, cont.
# It does not poll the agent: it prints "running" after cont, and
# qemu_restore_bench times the agent's answer for both sides with the same
# poller, then sends TERM. On TERM (or any
# exit) it kills its QEMU by pid and removes its files; exit 0 when the
# restore had succeeded.
set -euo pipefail
guest_dir=$1 tap=$2 template=${3:-}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
helper=$here/../../tools/demo-guest/nbx-qmp.py
info=$guest_dir/machineinfo.json
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)

qemu_pid=
restored=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nbx-bench-shell.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $qemu_pid ]]; then
		kill -TERM "$qemu_pid" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 "$qemu_pid" 2>/dev/null || break
			[[ $(awk '{print $3}' "/proc/$qemu_pid/stat" 2>/dev/null) == Z ]] && break
			sleep 0.05
		done
		kill -KILL "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	((rc != 0)) && [[ -s $tmp/qemu.log ]] && sed 's/^/  qemu: /' "$tmp/qemu.log" >&2
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit $((restored ? 0 : 143))' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# One python call for the three values the steps need.
{ read -r qemu; read -r disk; read -r snapshot; read -r format; } < <(
	"$python" -c 'import json,sys; i=json.load(open(sys.argv[1]))
print(i["qemu_binary"]); print(i["disk"]); print(i["memory_snapshot"]); print(i["memory_snapshot_format"])' "$info")

overlay=$tmp/overlay.qcow2
qemu-img create -q -f qcow2 -F qcow2 -b "$disk" -o lazy_refcounts=on,cluster_size=2M "$overlay"
args=()
while IFS= read -r -d '' a; do
	args+=("$a")
done < <("$python" "$helper" start-args "$info" "$overlay" "$tap")

if [[ -n $template ]]; then
	memory_mb=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["memory_mb"])' \
		"$template/template.json")
	ram=${template//,/,,}/template.ram
	args+=(-object "memory-backend-file,id=pc.ram,mem-path=$ram,size=${memory_mb}M,share=off"
		-machine memory-backend=pc.ram)
fi

qmp=$tmp/qmp.sock
"$qemu" "${args[@]}" -qmp "unix:$qmp,server=on,wait=off" -incoming defer \
	</dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
"$python" "$helper" wait-qmp "$qmp" 10
if [[ -z $template ]]; then
	"$python" "$helper" restore "$qmp" "$snapshot" "$format" 30 2>/dev/null
else
	# nbx-qmp.py restore without the capability: the same steps, x-ignore-shared first.
	"$python" - "$qmp" "$template/template.state" <<'PY'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
def cmd(name, fds=None, **args):
    msg = (json.dumps({"execute": name, "arguments": args} if args else {"execute": name}) + "\n").encode()
    socket.send_fds(s, [msg], fds) if fds else s.sendall(msg)
    while True:
        reply = json.loads(f.readline())
        if "error" in reply:
            sys.exit("%s: %s" % (name, reply["error"]))
        if "return" in reply:
            return reply["return"]
f.readline(); cmd("qmp_capabilities")
cmd("migrate-set-capabilities", capabilities=[{"capability": "x-ignore-shared", "state": True}])
fd = os.open(sys.argv[2], os.O_RDONLY)
cmd("getfd", fds=[fd], fdname="nbxin"); os.close(fd)
cmd("migrate-incoming", uri="fd:nbxin")
while cmd("query-status")["status"] == "inmigrate":
    time.sleep(0.002)
if cmd("query-status")["status"] != "running":
    cmd("cont")
PY
fi
restored=1
echo running
# Until the benchmark sends TERM (wait returns early for a trapped signal).
wait "$qemu_pid"
echo "qemu_restore_bench.shell.sh: QEMU ended by itself" >&2
exit 1
