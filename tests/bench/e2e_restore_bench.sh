#!/bin/bash
# e2e_restore_bench.sh - end-to-end restore-to-agent time of a task run by
# the real nestboxd (qemu machinery, demo guest, driven by the nestbox CLI)
# against the qemu-restore benchmark's plugin figure, in the same run.
#
# Runs inside the namespace qemu_restore_bench.netns.sh makes (it is that
# script's BENCH_BINARY): $NBX_BENCH_TAP is a tap in a bridge that carries
# the guest subnet's host address. From the environment as well:
#   NBX_BENCH_NESTBOXD, NBX_BENCH_CLI   nestboxd and nestbox
#   NBX_BENCH_QEMU_RESTORE              the qemu-restore-bench program
#   NBX_BENCH_ROUNDS                    rounds (10)
#
# Each round runs one round of qemu-restore-bench (its plugin and shell
# figures: restore_start called / script spawned -> the agent's HTTP answer)
# and then one task through nestboxd (--duration 1), so drift hits both
# sides alike. A task's figure comes from its report.json, the daemon's own
# clock: the task's `created` (the daemon accepted it) to the end of its
# `agent` step (the core connected to the agent port). The neighbour table
# is flushed before each task, as qemu-restore-bench does before each
# restore (the restored guest's ARP cache is from snapshot time).
#
# Prints every round, then medians and the ratio task/plugin; asserts no
# times. nestboxd is stopped by its pid on every exit path, which stops its
# QEMU; the namespace is the wrapper's to delete.
set -euo pipefail
say() { printf 'e2e-restore-bench: %s\n' "$*" >&2; }
for var in NBX_BENCH_GUEST_DIR NBX_BENCH_PLUGIN_DIR NBX_BENCH_TAP NBX_BENCH_SHELL \
	NBX_BENCH_NESTBOXD NBX_BENCH_CLI NBX_BENCH_QEMU_RESTORE; do
	[[ -n ${!var:-} ]] || { say "$var is not set: run this through meson test --benchmark e2e-restore"; exit 1; }
done
rounds=${NBX_BENCH_ROUNDS:-10}
info=$NBX_BENCH_GUEST_DIR/machineinfo.json
get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$info" "$1"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/nbx-e2e-bench.XXXXXX")
daemon_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"
		for _ in $(seq 150); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid"
		wait "$daemon_pid" 2>/dev/null || true
	fi
	((rc != 0)) && [[ -s $work/nestboxd.log ]] && tail -n 30 "$work/nestboxd.log" | sed 's/^/  nestboxd: /' >&2
	rm -rf -- "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$work/conf/machinery" "$work/overlays"
cat >"$work/conf/nestbox.conf" <<EOF
machineries = [ "qemu" ];
plugin_dirs = [ "$NBX_BENCH_PLUGIN_DIR" ];
builtin_plugin_dir = false;
state_dir = "$work/state";
run_dir = "$work/run";
analyses_dir = "$work/analyses";
api = { socket = "$work/api.sock"; };
EOF
# The same machine as qemu-restore-bench's (qemu_restore_bench.c).
cat >"$work/conf/machinery/qemu.conf" <<EOF
accelerator = "tcg";
overlay_dir = "$work/overlays";
stop_timeout = 5;
machines = ( { name = "bench"; label = "bench"; ip = "$(get ip)"; platform = "linux";
  interface = "$NBX_BENCH_TAP"; agent_port = $(get agent_port); machineinfo = "$info"; } );
EOF
# No auxiliary: the figure is the core's and the machinery's.
: >"$work/conf/auxiliary.conf"

export NESTBOX_SOCKET=$work/api.sock
"$NBX_BENCH_NESTBOXD" --config "$work/conf" >>"$work/nestboxd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
	"$NBX_BENCH_CLI" health >/dev/null 2>&1 && break
	kill -0 "$daemon_pid" 2>/dev/null || { say "nestboxd did not start"; exit 1; }
	sleep 0.1
done
"$NBX_BENCH_CLI" health >/dev/null 2>&1 || { say "nestboxd did not answer on $NESTBOX_SOCKET"; exit 1; }

# One task; prints "E2E QUEUE RESTORE AGENT" in seconds, from its report.json.
task_round() {
	local id dir
	ip neigh flush all
	id=$("$NBX_BENCH_CLI" --json submit --machine bench --duration 1 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	for _ in $(seq 1200); do
		case $("$NBX_BENCH_CLI" --json status "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])') in
		reported) break ;;
		failed | cancelled) say "task $id did not end reported"; "$NBX_BENCH_CLI" status "$id" >&2; exit 1 ;;
		esac
		sleep 0.1
	done
	dir=$("$NBX_BENCH_CLI" --json status "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["analysis_dir"])')
	python3 - "$dir/report.json" <<'EOF'
import json, sys
from datetime import datetime
report = json.load(open(sys.argv[1]))
if report["result"] != "reported":
    sys.exit("%s: %s" % (sys.argv[1], report["result"]))
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
steps = {s["name"]: s for s in report["steps"]}
created = t(report["task"]["created"])
restore, agent = steps["restore_start"], steps["agent"]
print("%.6f %.6f %.6f %.6f" % (t(agent["ended"]) - created, t(restore["started"]) - created,
      restore["duration_s"], agent["duration_s"]))
EOF
}

# One round of qemu-restore-bench; prints "PLUGIN SHELL" in seconds.
plugin_round() {
	NBX_BENCH_ROUNDS=1 "$NBX_BENCH_QEMU_RESTORE" >"$work/qemu-restore.out" ||
		{ cat "$work/qemu-restore.out" >&2; say "qemu-restore-bench failed"; exit 1; }
	awk '$1 == "round" { print $4, $6; found = 1 } END { exit !found }' "$work/qemu-restore.out"
}

say "nestboxd pid $daemon_pid; $rounds rounds (TCG, $NBX_BENCH_GUEST_DIR)"
printf '# e2e-restore: %s rounds; task = submit (created) -> agent step ended, report.json\n' "$rounds"
printf '%-6s %8s %8s %8s %10s %8s %8s\n' round task queue restore agent_step plugin shell
: >"$work/rounds"
for ((i = 1; i <= rounds; i++)); do
	# Not `read < <(...)`: a failed round must end the benchmark (set -e).
	out=$(plugin_round)
	read -r plugin shell <<<"$out"
	out=$(task_round)
	read -r e2e queue restore agent <<<"$out"
	printf '%-6s %8.3f %8.3f %8.3f %10.3f %8.3f %8.3f\n' "$i" "$e2e" "$queue" "$restore" "$agent" "$plugin" "$shell"
	echo "$e2e $queue $restore $agent $plugin $shell" >>"$work/rounds"
done

python3 - "$work/rounds" <<'EOF'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
col = lambda i: [r[i] for r in rows]
names = ["task: submit -> agent answered", "  of which submit -> restore_start",
         "  of which restore_start step", "  of which agent step",
         "qemu-restore plugin", "qemu-restore shell"]
print()
print("%-36s %8s %8s %8s" % ("seconds", "median", "min", "max"))
for i, name in enumerate(names):
    print("%-36s %8.3f %8.3f %8.3f" % (name, statistics.median(col(i)), min(col(i)), max(col(i))))
task, plugin, shell = (statistics.median(col(i)) for i in (0, 4, 5))
print()
print("ratio task/plugin (medians): %.3f" % (task / plugin))
print("ratio task/shell (medians):  %.3f" % (task / shell))
EOF
