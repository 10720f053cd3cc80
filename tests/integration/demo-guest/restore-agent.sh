#!/bin/bash
# restore-agent.sh - integration test: restore the demo guest from its memory
# snapshot and check that its agent answers.
#
# Usage (as root):
#   [NESTBOX_DEMO_GUEST_DIR=DIR] [RESTORE_TIMEOUT=300] \
#       tests/integration/demo-guest/restore-agent.sh [--then PROGRAM]
#
# --then PROGRAM: once the agent answered, run PROGRAM URL inside the
# namespace (URL: http://GUEST_IP:PORT); its failure is the test's.
#
# Builds the guest first (tools/demo-guest/build-demo-guest; cached, so only
# the first run is slow), then, in a network namespace of its own (bridge +
# tap, host side on the guest's subnet): makes a qcow2 overlay of disk.qcow2,
# starts QEMU from machineinfo.json's start_args + -incoming defer + QMP,
# feeds it the memory snapshot over an fd passed with QMP getfd (zstd
# decompresses into a pipe), migrate-incoming, cont, and waits up to
# RESTORE_TIMEOUT seconds for the agent's HTTP answer from inside the
# namespace (a deadline only a hang reaches: TCG on a busy host is slow,
# not broken).  Prints the time from QEMU start to the agent's answer.
# Exit 0 on success.  Whatever happens it kills the QEMU it started (by pid),
# deletes its namespace and removes the overlay.
set -euo pipefail

then_program=
if [[ ${1:-} == --then ]]; then
	then_program=${2:?--then needs a program}
fi
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd -- "$here/../../.." && pwd -P)
builder=$repo/tools/demo-guest/build-demo-guest
helper=$repo/tools/demo-guest/nbx-qmp.py
timeout=${RESTORE_TIMEOUT:-300}

say() { printf 'restore-agent: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
elapsed() {
	local us=$((10#${2//[.,]/} - 10#${1//[.,]/}))
	printf '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}

[[ $EUID -eq 0 ]] || fail "must run as root (network namespaces, tap devices)"

# build-demo-guest honours NESTBOX_DEMO_GUEST_DIR itself
build_out=$("$builder") || fail "build-demo-guest failed"
guest_dir=${build_out##*$'\n'}
info=$guest_dir/machineinfo.json
[[ -f $info ]] || fail "no $info"

python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3) || fail "python3 not found"
get() { "$python" "$helper" get "$info" "$1"; }
guest_ip=$(get ip)
agent_port=$(get agent_port)
host_ip=$(get host_ip)
prefix=$(get netmask_prefix)
disk=$(get disk)
snapshot=$(get memory_snapshot)
snapshot_format=$(get memory_snapshot_format)
expect=$(get agent_expect)
qemu=$(get qemu_binary)

netns=
qemu_pid=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nbxdg-test.XXXXXX")

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -TERM "$qemu_pid" 2>/dev/null || true
		local _
		for _ in {1..50}; do
			kill -0 "$qemu_pid" 2>/dev/null || break
			[[ $(awk '{print $3}' "/proc/$qemu_pid/stat" 2>/dev/null) == Z ]] && break
			sleep 0.1
		done
		kill -KILL "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	if [[ -n $netns ]]; then
		ip netns delete "$netns" 2>/dev/null || say "warning: could not delete netns $netns"
	fi
	if ((rc != 0)); then
		[[ -s $tmp/qemu.log ]] && sed 's/^/  qemu: /' "$tmp/qemu.log" >&2
		[[ -s $tmp/serial.log ]] && tail -n 20 "$tmp/serial.log" | sed 's/^/  serial: /' >&2
	fi
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- a namespace of our own --------------------------------------------------
tap=nbxtap0
for _ in {1..20}; do
	candidate=nbxdg-test-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then
		netns=$candidate
		break
	fi
done
[[ -n $netns ]] || fail "could not create a network namespace"
ip -n "$netns" link set lo up
ip -n "$netns" link add br0 type bridge forward_delay 0 stp_state 0
ip -n "$netns" tuntap add dev "$tap" mode tap
ip -n "$netns" link set "$tap" master br0
ip -n "$netns" addr add "$host_ip/$prefix" dev br0
ip -n "$netns" link set "$tap" up
ip -n "$netns" link set br0 up

# --- overlay and QEMU --------------------------------------------------------
overlay=$tmp/overlay.qcow2
qemu-img create -q -f qcow2 -F qcow2 -b "$disk" \
	-o lazy_refcounts=on,cluster_size=2M "$overlay" || fail "qemu-img create failed"

args=()
while IFS= read -r -d '' a; do
	# keep the console for diagnostics; the serial device itself is unchanged
	[[ $a == null ]] && ((${#args[@]})) && [[ ${args[-1]} == -serial ]] && a=file:$tmp/serial.log
	args+=("$a")
done < <("$python" "$helper" start-args "$info" "$overlay" "$tap")
((${#args[@]})) || fail "machineinfo.json has no start_args"

qmp=$tmp/qmp.sock
t0=$EPOCHREALTIME
ip netns exec "$netns" "$qemu" "${args[@]}" -incoming defer \
	-qmp "unix:$qmp,server=on,wait=off" </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!

"$python" "$helper" wait-qmp "$qmp" "$timeout" || fail "QEMU did not open its QMP socket"
"$python" "$helper" restore "$qmp" "$snapshot" "$snapshot_format" "$timeout" ||
	fail "restoring the memory snapshot failed"
t_running=$EPOCHREALTIME
ip netns exec "$netns" "$python" "$helper" wait-http \
	"http://$guest_ip:$agent_port/" "$expect" "$timeout" "$qemu_pid" >/dev/null ||
	fail "agent at $guest_ip:$agent_port did not answer '$expect' within ${timeout}s"
t_agent=$EPOCHREALTIME

say "guest running $(elapsed "$t0" "$t_running")s after QEMU start"
say "PASS: agent answered '$expect' $(elapsed "$t0" "$t_agent")s after QEMU start"
echo "restore-to-agent $(elapsed "$t0" "$t_agent")"
if [[ -n $then_program ]]; then
	ip netns exec "$netns" "$then_program" "http://$guest_ip:$agent_port" ||
		fail "$then_program failed against the restored guest"
fi
