#!/usr/bin/env bash
# Routes end to end through nestboxd (issue 18: "`nestbox submit --route
# internet` works where configured"): the router auxiliary enabled, with
# route internet configured out of nbxinet0, a machine of the fake
# machinery with a segment of its own, and a guest that is a network
# namespace attached where the machine's tap would be (nbxtap0 on the
# segment's bridge), with the machine's IP and MAC and an "agent" the core
# waits for. Behind nbxinet0, namespace "world" (203.0.113.1) stands for the
# internet; a server in the daemon's namespace stands for the host.
#
# Before any task, with no rules, the guest's probes reach the host side
# and its datagram reaches the world (so a probe that gets nothing later
# got nothing because of the rules). Then one task per route, the default
# (none, no --route), drop and internet, each held at its `run` step (600 s
# long) while the guest probes, with TCP, UDP and ICMP, the world, the
# segment's host side and the daemon's namespace:
#   internet: the world answers TCP, UDP and ICMP, and sees the guest NATed
#             to nbxinet0's address; nothing else answers;
#   none, drop: nothing answers, and the world never receives the datagram.
# The core's connection to the agent passes under each (the task reaches
# `run`). While it runs, the machine's rules are in the segment and in the
# daemon's namespace; once the task is cancelled and ended, its report
# names the route and says the rules were removed, the segment has no
# nestbox table left, and the daemon's namespace no chain of the machine
# and no element in nestbox's sets and maps. Finally nestboxd is killed
# with -9 during an internet task: the next start removes the stale rules
# and segment, the task runs again (on a guest attached to the new segment)
# with the route applied again, and ends with nothing left.
#
# Run by network-netns.sh: the daemon's namespace is one made for this
# run; every other namespace is named with NBX_TEST_PREFIX. Every wait is
# for an event with a deadline only a hang reaches; a probe that expects
# nothing waits its 4 s, one that expects an answer returns with it.
set -euo pipefail
nestboxd=$1 nestbox=$2 plugin_dir=$3 router_dir=$4
prefix=${NBX_TEST_PREFIX:?run me through network-netns.sh}
probe_py=$(dirname "${BASH_SOURCE[0]}")/route_probe.py
work=$(mktemp -d)
machine=${prefix}m
segment=nbx-$machine
guest_ns=$prefix-guest world_ns=$prefix-world
guest_ip=10.213.0.10 guest_mac=52:54:00:d5:00:0a host_side=10.213.0.1
world_ip=203.0.113.1 daemon_world_ip=203.0.113.2
daemon_pid= agent_pid=
server_pids=()
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -KILL "$daemon_pid"
		wait "$daemon_pid" 2>/dev/null || true
	fi
	for pid in "${server_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	# The world's veth end here goes with its namespace; the guest's with its own.
	for ns in "$guest_ns" "$world_ns" "$segment"; do ip netns delete "$ns" 2>/dev/null || true; done
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
fail() {
	echo "FAIL: $*" >&2
	[[ -f $work/log ]] && tail -n 30 "$work/log" >&2
	exit 1
}
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

# serve NS|"" ADDRESS PORT BANNER: a banner server (route_probe.py), ready when this returns.
serve() {
	local ns=$1 address=$2 port=$3 banner=$4
	local ready=$work/$banner.ready
	if [[ -n $ns ]]; then
		ip netns exec "$ns" python3 "$probe_py" serve "$address" "$port" "$banner" "$ready" \
			"$work/$banner.udp" &
	else
		python3 "$probe_py" serve "$address" "$port" "$banner" "$ready" "$work/$banner.udp" &
	fi
	server_pids+=($!)
	wait_for "server $banner ready" server_ready "$!" "$ready"
}
server_ready() {
	kill -0 "$1" 2>/dev/null || fail "a server ($1) exited at start"
	[[ -e $2 ]]
}

# The internet: a namespace behind nbxinet0, a host that answers, and a way back.
ip netns add "$world_ns"
ip -n "$world_ns" link set lo up
ip link add nbxinet0 type veth peer name eth0 netns "$world_ns"
ip addr add "$daemon_world_ip/24" dev nbxinet0
ip link set nbxinet0 up
ip -n "$world_ns" addr add "$world_ip/24" dev eth0
ip -n "$world_ns" link set eth0 up
ip -n "$world_ns" route add default via "$daemon_world_ip"
# route internet needs forwarding in the daemon's namespace (--check says so).
echo 1 >/proc/sys/net/ipv4/ip_forward
serve "$world_ns" "$world_ip" 7000 world
serve "" 0.0.0.0 7001 daemon

conf=$work/conf
mkdir -p "$conf/machinery"
cat >"$conf/nestbox.conf" <<EOF
machineries = [ "fake" ];
plugin_dirs = [ "$plugin_dir", "$router_dir" ];
builtin_plugin_dir = false;
state_dir = "$work/state";
run_dir = "$work/run";
analyses_dir = "$work/analyses";
api = { socket = "$work/api.sock"; };
network = { uplink_prefix = "100.64.8.0/24"; };
# Generous: only a hang should reach them, however busy the host.
timeouts = { agent = 120; };
EOF
# required: an analysis whose route cannot be applied must fail, never run open.
cat >"$conf/auxiliary.conf" <<EOF
router = { enabled = true; required = true; internet = { enabled = true; interface = "nbxinet0"; }; };
EOF
cat >"$conf/machinery/fake.conf" <<EOF
machines = ( { name = "$machine"; label = "$machine"; ip = "$guest_ip"; mac_address = "$guest_mac";
	platform = "linux"; agent_port = 8000; segment = true; host_address = "$host_side/24"; } );
EOF
export NESTBOX_SOCKET=$work/api.sock
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 || fail "--check refused the config: $(cat "$work/out")"

daemon_answers() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died at start"
	"$nestbox" health >/dev/null 2>&1
}
start_daemon() {
	"$nestboxd" --config "$conf" >>"$work/log" 2>&1 &
	daemon_pid=$!
	wait_for "nestboxd answers" daemon_answers
}
# The guest: eth0 with the machine's IP and MAC, its other end nbxtap0 on the
# segment's bridge (where the machinery's tap goes), and an agent on port 8000.
attach_guest() {
	[[ -e /run/netns/$segment ]] || fail "no segment $segment"
	if [[ -n $agent_pid ]]; then # the guest of a segment that is gone: a new one
		kill -KILL "$agent_pid"
		wait "$agent_pid" 2>/dev/null || true
		local pid alive=()
		for pid in "${server_pids[@]}"; do [[ $pid == "$agent_pid" ]] || alive+=("$pid"); done
		server_pids=("${alive[@]}")
		ip netns delete "$guest_ns"
	fi
	ip netns add "$guest_ns"
	ip -n "$guest_ns" link set lo up
	ip -n "$guest_ns" link add eth0 address "$guest_mac" type veth peer name nbxtap0 netns "$segment"
	ip -n "$guest_ns" addr add "$guest_ip/24" dev eth0
	ip -n "$guest_ns" link set eth0 up
	ip -n "$guest_ns" route add default via "$host_side"
	ip -n "$segment" link set nbxtap0 master nbx0 up
	rm -f "$work/agent.ready"
	serve "$guest_ns" "$guest_ip" 8000 agent
	agent_pid=${server_pids[-1]}
}

# status ID: the task in $work/status.json (never piped: pipefail and SIGPIPE).
status() { "$nestbox" --json status "$1" >"$work/status.json"; }
field() { # field ID NAME
	status "$1"
	python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print('' if v is None else v)" \
		"$work/status.json" "$2"
}
has_step() { [[ $(field "$1" step) == "$2" ]]; }
has_state() { [[ $(field "$1" state) == "$2" ]]; }
is_running_again() { [[ $(field "$1" state) == running && $(field "$1" attempts) == 2 ]]; }
submit() { # submit ARGS...: prints the new task's id
	"$nestbox" --json submit --machine "$machine" --duration 600 "$@" "$work/sample" >"$work/submit.json" ||
		fail "submit $* refused: $(cat "$work/submit.json")"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/submit.json"
}
echo sample >"$work/sample"

# nestbox_objects [NETNS]: what of nestbox's nftables there is in NETNS (default: here),
# one line each: "table FAMILY", "chain FAMILY NAME" for a machine's chain (m-*),
# "element FAMILY SET" for a set or map of nestbox's that is not empty.
nestbox_objects() {
	local json
	if [[ -n ${1:-} ]]; then
		json=$(ip netns exec "$1" nft -j list ruleset) || fail "nft -j list ruleset in $1"
	else
		json=$(nft -j list ruleset) || fail "nft -j list ruleset"
	fi
	python3 -c '
import json, sys
for item in json.loads(sys.stdin.read())["nftables"]:
    kind, body = next(iter(item.items()))
    if kind == "table" and body["name"] == "nestbox":
        print("table", body["family"])
    elif body.get("table") != "nestbox":
        continue
    elif kind == "chain" and body["name"].startswith("m-"):
        print("chain", body["family"], body["name"])
    elif kind in ("set", "map") and body.get("elem"):
        print("element", body["family"], body["name"])
' <<<"$json"
}
has_line() { grep -qxF -- "$2" <<<"$1"; }
rules_in_place() {
	local inside outside
	inside=$(nestbox_objects "$segment") outside=$(nestbox_objects)
	has_line "$inside" "table inet" && has_line "$inside" "chain inet m-$machine-fwd" &&
		has_line "$inside" "element inet guest_ifaces" ||
		fail "the machine's rules are not in its segment during the run: $inside"
	has_line "$outside" "chain inet m-$machine-fwd" && has_line "$outside" "element inet guest_ifaces" ||
		fail "the uplink's rules are not in the daemon's namespace during the run: $outside"
}
no_rules_left() { # no_rules_left WHEN
	local inside outside
	inside=$(nestbox_objects "$segment") outside=$(nestbox_objects)
	[[ -z $inside ]] || fail "$1: nestbox's tables left in the segment: $inside"
	! grep -qE '^(chain|element) ' <<<"$outside" ||
		fail "$1: rules of the machine left in the daemon's namespace: $outside"
}

# probe_batch SPEC...: route_probe.py in the guest; results in $work/probes.
# A server that died would make every probe of it look dropped: they are all alive after.
probe_batch() {
	local pid
	ip netns exec "$guest_ns" python3 "$probe_py" probe "$@" >"$work/probes" || fail "the probes failed"
	for pid in "${server_pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || fail "server $pid died"
	done
}
result() { # result SPEC: what the last batch got for SPEC
	local line
	while read -r line; do
		[[ ${line%% *} == "$1" ]] && { echo "${line#* }"; return; }
	done <"$work/probes"
	fail "no result for $1"
}
expect() { # expect WHAT SPEC RESULT
	local got
	got=$(result "$2")
	[[ $got == "$3" ]] || fail "$1: $2: expected $3, got $got (all: $(tr '\n' ';' <"$work/probes"))"
}
# saw_datagram SERVER SOURCE PAYLOAD: whether SERVER (world, daemon) received PAYLOAD from SOURCE.
saw_datagram() { grep -qxF -- "$2 $3" "$work/$1.udp" 2>/dev/null; }
# got_payload SERVER PAYLOAD: from any source.
got_payload() { grep -qE -- " $2\$" "$work/$1.udp" 2>/dev/null; }

# The probes: T(ransmission) for one expected to answer (returns when it does), D(rop) for one expected not to.
T=60 D=4
world_tcp() { echo "tcp,$world_ip,7000,$1,"; }
world_udp() { echo "udp,$world_ip,7000,$1,$2"; }
world_icmp() { echo "icmp,$world_ip,,$1,"; }
others() { # others TIMEOUT PAYLOAD: what no route reaches: the host side (closed ports, ICMP),
	# the daemon's namespace
	echo "tcp,$host_side,22,$1,"
	echo "udp,$host_side,22,$1,$2"
	echo "icmp,$host_side,,$1,"
	echo "tcp,$daemon_world_ip,7001,$1,"
	echo "udp,$daemon_world_ip,7001,$1,$2"
	echo "icmp,$daemon_world_ip,,$1,"
	echo "tcp,100.64.8.1,7001,$1,"
}

start_daemon
attach_guest
no_rules_left "before any task"
# Without rules the guest reaches the host side, and the world and the
# daemon's namespace receive its datagrams (un-NATed: their replies find no
# way back to the guest): the probes below are not blind.
mapfile -t host_side_probes < <(others "$T" baseline | head -n 3)
probe_batch "${host_side_probes[@]}" "$(world_udp "$D" baseline)" "udp,$daemon_world_ip,7001,$D,baseline"
expect "no route" "tcp,$host_side,22,$T," refused
expect "no route" "udp,$host_side,22,$T,baseline" refused
expect "no route" "icmp,$host_side,,$T," answer:pong
wait_for "the world receives the guest's datagram without rules" saw_datagram world "$guest_ip" baseline
wait_for "the daemon's namespace receives the guest's datagram without rules" \
	saw_datagram daemon "$guest_ip" baseline
echo "ok: without rules, the guest reaches the host side, the daemon's namespace and the world"

# run_route ROUTE [SUBMIT ARGS...]: a task on ROUTE held at `run`; prints its id.
run_route() {
	local route=$1 id
	shift
	id=$(submit "$@")
	wait_for "task $id ($route) at step run" has_step "$id" run
	echo "$id"
}
check_route() { # check_route ROUTE ID: the guest's reach while task ID runs
	local route=$1 id=$2 spec
	local -a blocked
	rules_in_place
	mapfile -t blocked < <(others "$D" "$route-$id")
	if [[ $route == internet ]]; then
		probe_batch "$(world_tcp "$T")" "$(world_udp "$T" "$route-$id")" "$(world_icmp "$T")" "${blocked[@]}"
		expect "$route" "$(world_tcp "$T")" "answer:world from $daemon_world_ip"
		expect "$route" "$(world_udp "$T" "$route-$id")" "answer:world from $daemon_world_ip"
		expect "$route" "$(world_icmp "$T")" answer:pong
		saw_datagram world "$daemon_world_ip" "$route-$id" ||
			fail "$route: the world did not see the guest NATed to $daemon_world_ip: $(cat "$work/world.udp")"
	else
		probe_batch "$(world_tcp "$D")" "$(world_udp "$D" "$route-$id")" "$(world_icmp "$D")" "${blocked[@]}"
		for spec in "$(world_tcp "$D")" "$(world_udp "$D" "$route-$id")" "$(world_icmp "$D")"; do
			expect "$route" "$spec" timeout
		done
		! got_payload world "$route-$id" ||
			fail "$route: the world received the guest's datagram: $(cat "$work/world.udp")"
	fi
	for spec in "${blocked[@]}"; do expect "$route" "$spec" timeout; done
	sed "s/^/  $route: /" "$work/probes"
	! got_payload daemon "$route-$id" ||
		fail "$route: the daemon's namespace received the guest's datagram: $(cat "$work/daemon.udp")"
}
end_task() { # end_task ROUTE ID: cancelled, its route named and removed, nothing left
	local route=$1 id=$2 dir
	"$nestbox" cancel "$id" >/dev/null || fail "cancel of task $id refused"
	wait_for "task $id cancelled" has_state "$id" cancelled
	dir=$(field "$id" analysis_dir)
	python3 - "$dir/report.json" "$route" <<-'EOF' || fail "task $id ($route): report"
	import json, sys
	router = json.load(open(sys.argv[1]))["auxiliaries"]["router"]
	result = router.get("result", {})
	if not (router.get("started") and router.get("stopped") and result.get("route") == sys.argv[2]
	        and result.get("rules_removed") is True):
	    sys.exit("router's part of the report: %s" % json.dumps(router))
	EOF
	no_rules_left "after task $id ($route)"
}

for route in none drop internet; do
	args=()
	[[ $route == none ]] || args=(--route "$route") # none: the default, asked for by no one
	id=$(run_route "$route" "${args[@]}")
	check_route "$route" "$id"
	end_task "$route" "$id"
	echo "ok: route $route through nestboxd: TCP, UDP, ICMP as the route says; no rule left after"
done

# kill -9 with the internet route applied: the next start removes it all.
# The dead daemon's table is told from the one the next start makes by its
# handle (nf_tables numbers a namespace's tables in order, never twice).
table_handle() {
	nft -j list tables | python3 -c '
import json, sys
print(*[t["table"]["handle"] for t in json.load(sys.stdin)["nftables"]
        if "table" in t and t["table"]["family"] == "inet" and t["table"]["name"] == "nestbox"])'
}
id=$(run_route internet --route internet)
rules_in_place
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
stale_handle=$(table_handle)
[[ -n $stale_handle ]] || fail "no inet nestbox table after the kill -9"
start_daemon
# The stale segment (and the guest's link in it) went, a new one was made:
# the guest is attached to it, as a machinery restoring the task would.
attach_guest
wait_for "task $id running again" is_running_again "$id"
wait_for "task $id at step run again" has_step "$id" run
[[ $(table_handle) != "$stale_handle" ]] || fail "the dead daemon's table (handle $stale_handle) is still there"
check_route internet "$id"
end_task internet "$id"
echo "ok: kill -9 with route internet applied: removed at the next start, applied again, removed at the end"

kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited with $? on SIGTERM"
daemon_pid=
[[ ! -e /run/netns/$segment ]] || fail "the segment outlived SIGTERM"
outside=$(nestbox_objects)
! grep -qE '^(chain|element) ' <<<"$outside" || fail "rules of the machine left after SIGTERM: $outside"
# For the record: the dispatch tables stay (empty sets: they match nothing) until the next start.
echo "# after SIGTERM, in the daemon's namespace: $(tr '\n' ' ' <<<"$outside")"
echo "ok: routes end to end"
