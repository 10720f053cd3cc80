#!/usr/bin/env bash
# The pcap of a real analysis shows the guest's traffic: runs the README's
# main job (tools/demo-analysis: the demo guest under the qemu machinery, the
# sniffer with its default settings, a task submitted with --debug so that
# the agent's own connection to the guest is kept in the capture), then reads
# every dump.pcap it left with tcpdump -r: each must be a valid pcap to its
# end, hold the TCP conversation with the agent (10.213.0.10:8000) in both
# directions, and hold as many packets as the sniffer reported capturing.
# The guest's tap device is gone before the sniffer stops: this is also the
# "interface vanished before stop" case on a real machine.
# Usage: demo-pcap.sh SOURCE_DIR BUILD_DIR   (root; exit 77 = skipped)
set -euo pipefail
source_dir=${1:?usage: demo-pcap.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: demo-pcap.sh SOURCE_DIR BUILD_DIR}
guest=10.213.0.10
agent_port=8000

say() { printf 'demo-pcap: %s\n' "$*" >&2; }
if ! command -v tcpdump >/dev/null; then
	say "tcpdump is not installed: it reads the pcap back (tools/install-deps.sh installs it)"
	exit 77
fi

status=0
"$source_dir/tools/demo-analysis" "$build" || status=$?
if ((status == 77)); then exit 77; fi
((status == 0)) || { say "tools/demo-analysis failed ($status)"; exit 1; }

# tcpdump -r: the number of packets matching a filter; fails on a file
# that is not a valid pcap to its end.
count() {
	local out
	out=$(tcpdump -r "$1" -n -q "$2" 2>/dev/null) || { say "$1: not a valid pcap (tcpdump -r failed)"; exit 1; }
	[[ -z $out ]] && { echo 0; return; }
	wc -l <<<"$out"
}

shopt -s nullglob
pcaps=("$build"/demo/analyses/*/dump.pcap)
((${#pcaps[@]} > 0)) || { say "no dump.pcap under $build/demo/analyses"; exit 1; }
for pcap in "${pcaps[@]}"; do
	all=$(count "$pcap" "")
	to_agent=$(count "$pcap" "tcp and dst host $guest and dst port $agent_port")
	from_agent=$(count "$pcap" "tcp and src host $guest and src port $agent_port")
	say "$pcap: $all packets, $to_agent to the agent, $from_agent from it"
	((to_agent > 0 && from_agent > 0)) || { say "$pcap: no traffic with the agent at $guest:$agent_port"; exit 1; }
	# What the sniffer reported (report.json, written by the core) against the file.
	report=$(dirname "$pcap")/report.json
	if [[ -f $report ]]; then
		reported=$(python3 -c '
import json, sys
result = json.load(open(sys.argv[1]))["auxiliaries"]["sniffer"]["result"]
print(result["packets_captured"], result["dropped_by_kernel"])' "$report")
		read -r reported dropped <<<"$reported"
		say "$report: the sniffer reported $reported packets captured, $dropped dropped by the kernel"
		[[ $reported == "$all" ]] || { say "$pcap holds $all packets, the sniffer reported $reported"; exit 1; }
		[[ $dropped == 0 ]] || { say "the kernel dropped $dropped packets"; exit 1; }
	fi
done
echo "ok: the guest's traffic is in ${#pcaps[@]} capture(s)"
