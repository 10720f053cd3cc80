#!/usr/bin/env bash
# Fetches the guest agents other sandboxes ship, at pinned commits, for the
# peer tests that run them as guests (tests/integration/guest-agent/
# cape-peer.sh): CAPE's agent/agent.py. They are GPL code and are not part
# of nestbox's tree: they are downloaded over HTTPS into a cache and used
# only if their SHA-256 is the pinned one.
#
# Prints the cached file's path. Exit status: 0 fetched (or already cached);
# 2 it could not be downloaded (no network, no curl: a test skips on that,
# and says why); 1 what was downloaded is not the pinned file (a test fails).
#
# Usage: tools/fetch-peer-agents.sh [cape]
# The cache: $NESTBOX_PEER_AGENT_CACHE, else ~/.cache/nestbox/peer-agents.
set -euo pipefail

# CAPE's agent 0.22: the commit that made it 0.22 ("Agent: add subdir_upload
# feature flag, bump AGENT_VERSION to 0.22", 15 June 2026).
cape_commit=bf9e232c9c445d1f0aa3d53fcf8a83c720db169d
cape_sha256=73650c79106050207e248e04a0b13b50e464d0aef131105eebe08f8c5764ac36
cape_url=https://raw.githubusercontent.com/kevoreilly/CAPEv2/$cape_commit/agent/agent.py

which=${1:-cape}
case $which in
cape) url=$cape_url sha256=$cape_sha256 name=cape-$cape_commit-agent.py ;;
*) echo "fetch-peer-agents: unknown agent \"$which\" (known: cape)" >&2; exit 1 ;;
esac

cache=${NESTBOX_PEER_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nestbox/peer-agents}
target=$cache/$name
digest() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $target && $(digest "$target") == "$sha256" ]]; then
	echo "$target"
	exit 0
fi
if ! command -v curl >/dev/null; then
	echo "fetch-peer-agents: curl is not installed (tools/install-deps.sh installs it)" >&2
	exit 2
fi
mkdir -p "$cache"
partial=$(mktemp "$cache/.$name.XXXXXX")
trap 'rm -f "$partial"' EXIT
if ! curl --proto '=https' --tlsv1.2 -fsSL --connect-timeout 15 --max-time 120 \
	-o "$partial" "$url" 2>"$partial.err"; then
	echo "fetch-peer-agents: cannot download $url: $(tr -d '\n' <"$partial.err")" >&2
	rm -f "$partial.err"
	exit 2
fi
rm -f "$partial.err"
got=$(digest "$partial")
if [[ $got != "$sha256" ]]; then
	echo "fetch-peer-agents: $url has SHA-256 $got, not the pinned $sha256: not used" >&2
	exit 1
fi
chmod 0644 "$partial"
mv "$partial" "$target"
echo "$target"
