#!/usr/bin/env bash
# nestboxd and the machines' network segments (issue 18): a machine with
# segment = true has its namespace from the daemon's start, two clones with
# one IP and MAC are accepted, a kill -9 leaves segments that the next start
# removes (those of machines no longer configured included) while a
# namespace that is not a segment of this namespace is left alone, and a
# SIGTERM leaves none. --check names the keys a segment needs.
#
# Run by network-netns.sh: the daemon's namespace is one made for this run,
# and NBX_TEST_PREFIX makes the machines' names (and so /run/netns/nbx-*)
# unique to it.
set -euo pipefail
nestboxd=$1 nestbox=$2 plugin_dir=$3 router_dir=${4:-}
prefix=${NBX_TEST_PREFIX:?run me through network-netns.sh}
work=$(mktemp -d)
daemon_pid=
foreign=nbx-${prefix}x
cleanup() {
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; fi
	ip netns delete "$foreign" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[[ -f $work/log ]] && tail -n 30 "$work/log" >&2
	for ns in /run/netns/nbx-"$prefix"*; do
		[[ -e $ns ]] && { echo "$ns:"; ip -n "${ns##*/}" -o addr; ip -n "${ns##*/}" -o link; } >&2
	done
	exit 1
}
source "$(dirname "${BASH_SOURCE[0]}")/../wait-for.sh"

a=${prefix}a b=${prefix}b
conf=$work/conf
mkdir -p "$conf/machinery"
plugin_dirs="\"$plugin_dir\""
[[ -z $router_dir ]] || plugin_dirs+=", \"$router_dir\""
cat >"$conf/nestbox.conf" <<EOF
machineries = [ "fake" ];
plugin_dirs = [ $plugin_dirs ];
builtin_plugin_dir = false;
state_dir = "$work/state";
run_dir = "$work/run";
analyses_dir = "$work/analyses";
api = { socket = "$work/api.sock"; };
network = { uplink_prefix = "100.64.8.0/24"; };
EOF
# The router (when built) judges a task's route at submission.
if [[ -n $router_dir ]]; then
	echo 'router = { enabled = true; };' >"$conf/auxiliary.conf"
else
	: >"$conf/auxiliary.conf"
fi
machine() { # machine NAME [HOST_ADDRESS [EXTRA]]
	echo "{ name = \"$1\"; label = \"$1\"; ip = \"10.213.0.10\"; mac_address = \"52:54:00:d5:00:0a\";
	    platform = \"linux\"; segment = true; host_address = \"${2:-10.213.0.1/24}\"; ${3:-} }"
}
write_machines() { # write_machines GROUP...
	local IFS=,
	echo "machines = ( $* );" >"$conf/machinery/fake.conf"
}
export NESTBOX_SOCKET=$work/api.sock

# --check: what a segment needs is named, with its key.
write_machines "$(machine "$a" 10.213.0.1)"
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 && fail "--check took host_address without a length"
grep -q "host_address" "$work/out" || fail "--check did not name host_address: $(cat "$work/out")"
write_machines "{ name = \"$a\"; label = \"$a\"; ip = \"10.213.0.10\"; platform = \"linux\"; segment = true; }"
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 && fail "--check took a segment without host_address"
grep -q "host_address" "$work/out" || fail "--check did not ask for host_address: $(cat "$work/out")"
write_machines "$(machine "$a" "" 'interface = "lo";')"
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 && fail "--check took interface with segment"
grep -q "interface" "$work/out" || fail "--check did not name interface: $(cat "$work/out")"
# Two clones, one IP and MAC: fine on segments, refused without.
write_machines "$(machine "$a")" "$(machine "$b")"
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 || fail "clones on segments refused: $(cat "$work/out")"
sed 's/segment = true; host_address = "10.213.0.1\/24";//' "$conf/machinery/fake.conf" >"$work/plain"
cp "$work/plain" "$conf/machinery/fake.conf"
"$nestboxd" --config "$conf" --check >"$work/out" 2>&1 && fail "clones without segments accepted"
grep -q "is already used by machine" "$work/out" || fail "duplicate IP not reported: $(cat "$work/out")"
write_machines "$(machine "$a")" "$(machine "$b")"

daemon_answers() {
	kill -0 "$daemon_pid" 2>/dev/null || fail "nestboxd died at start"
	"$nestbox" health >/dev/null 2>&1
}
start_daemon() {
	"$nestboxd" --config "$conf" >>"$work/log" 2>&1 &
	daemon_pid=$!
	wait_for "nestboxd answers" daemon_answers
}
is_segment() { # is_segment MACHINE: the layout segment.h promises
	local addresses
	[[ -e /run/netns/nbx-$1 ]] || return 1
	# Read whole, not piped into grep -q: under pipefail, ip's SIGPIPE would fail it.
	addresses=$(ip -n "nbx-$1" -o addr show dev nbx0) || return 1
	[[ $addresses == *"10.213.0.1/24"* ]] || return 1
	ip -n "nbx-$1" -o link show dev nbx-up >/dev/null 2>&1
}
uplinks() { # how many nbxu* links this namespace has
	local links
	links=$(ip -o link show)
	grep -c ": nbxu[0-9]*@" <<<"$links" || true
}

start_daemon
is_segment "$a" || fail "no segment for $a after the start"
is_segment "$b" || fail "no segment for $b after the start"
[[ $(uplinks) == 2 ]] || fail "expected 2 uplinks, have $(uplinks)"

# kill -9: the segments stay; a namespace of that name that is not ours too.
kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
is_segment "$a" || fail "the kill removed $a's segment?"
ip netns add "$foreign"
# The next start knows only $a: $b's segment is stale and goes.
write_machines "$(machine "$a")"
start_daemon
is_segment "$a" || fail "no segment for $a after the restart"
[[ ! -e /run/netns/nbx-$b ]] || fail "the stale segment of $b survived the restart"
[[ $(uplinks) == 1 ]] || fail "expected 1 uplink after the restart, have $(uplinks)"
[[ -e /run/netns/$foreign ]] || fail "the start removed $foreign, which is not a segment of ours"

# SIGHUP adding $b back: its segment exists once the reload is applied.
write_machines "$(machine "$a")" "$(machine "$b")"
kill -HUP "$daemon_pid"
wait_for "the reload makes $b's segment" is_segment "$b"

# nestbox submit --route: a route this host does not offer is refused at submission.
if [[ -n $router_dir ]]; then
	echo sample >"$work/sample"
	"$nestbox" submit --route internet "$work/sample" >"$work/out" 2>&1 &&
		fail "a task asking for route internet was accepted: $(cat "$work/out")"
	grep -q "route internet is not configured on this host" "$work/out" ||
		fail "--route internet refused without the reason: $(cat "$work/out")"
fi

# SIGTERM: nothing of ours is left.
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "nestboxd exited with $?"
daemon_pid=
[[ ! -e /run/netns/nbx-$a && ! -e /run/netns/nbx-$b ]] || fail "segments left after SIGTERM"
[[ $(uplinks) == 0 ]] || fail "uplinks left after SIGTERM: $(ip -o link show)"
[[ -e /run/netns/$foreign ]] || fail "SIGTERM removed $foreign, which is not a segment of ours"
echo "ok: segments made at start, stale ones removed, none left after SIGTERM"
