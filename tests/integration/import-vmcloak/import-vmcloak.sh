#!/bin/bash
# import-vmcloak.sh - integration test of nestbox-import-vmcloak.
# Usage: import-vmcloak.sh IMPORT NESTBOXD QEMU_PLUGIN_DIR BUILD_DEMO_GUEST QEMU_CONF_TEMPLATE
#
# Imports the demo guest's directory into a copy of the commented qemu.conf
# template and checks: only added lines (comments byte for byte), the result
# passes `nestboxd --check` with the built qemu plugin, a missing field is an
# error naming file and field, a duplicate name is an error (file untouched),
# --replace replaces, a file without a machines list gets one.
#
# The demo's start_args use %TAP_INTERFACE%, which machineinfo.json cannot
# fill (it names no host device): the import takes --interface. Here it is
# `lo`, only because --check wants an existing interface that is up and this
# test creates no tap device; a real setup names the guest's tap.
set -euo pipefail
import=$1 nestboxd=$2 plugin_dir=$3 builder=$4 template=$5

fail() { printf 'import-vmcloak: FAIL: %s\n' "$*" >&2; exit 1; }
if [[ $EUID -ne 0 ]]; then
	echo "import-vmcloak: SKIP: build-demo-guest needs root" >&2
	exit 77
fi
build_out=$("$builder") || fail "build-demo-guest failed"
guest=${build_out##*$'\n'}
[[ -f $guest/machineinfo.json ]] || fail "no machineinfo.json in $guest"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nbx-import-test.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
expect() { # expect CODE CMD...: output in $tmp/out, $tmp/err
	local want=$1 got=0
	shift
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	[[ $got == "$want" ]] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $got, wanted $want: $*"; }
}
contains() { grep -qF -- "$2" "$tmp/$1" || { cat "$tmp/$1" >&2; fail "$1 lacks: $2"; }; }
only_added() { # only_added OLD NEW: every diff line is an addition
	local changes
	changes=$(diff "$1" "$2" | grep '^[<>]' || true)
	[[ -n $changes ]] || fail "$2: nothing added"
	if grep -q '^<' <<<"$changes"; then
		diff "$1" "$2" >&2 || true
		fail "$2: lines of $1 changed or removed"
	fi
}

conf=$tmp/conf
mkdir -p "$conf/machinery"
cat >"$conf/nestbox.conf" <<CONF
machineries = [ "qemu" ];
plugin_dirs = [ ];
builtin_plugin_dir = false;
state_dir = "state";
run_dir = "run";
analyses_dir = "analyses";
CONF
qemu_conf=$conf/machinery/qemu.conf
cp "$template" "$qemu_conf"
check() { expect "$1" env NESTBOX_PLUGIN_PATH="$plugin_dir" "$nestboxd" --config "$conf" --check; }

# The template alone is valid (no machines).
check 0

# Usage errors.
expect 2 "$import" --config "$qemu_conf"
expect 2 "$import" --no-such-option "$guest"
cmp -s "$template" "$qemu_conf" || fail "a usage error changed the file"

# Without --interface the demo (start_args use %TAP_INTERFACE%) is refused.
expect 1 "$import" --config "$qemu_conf" "$guest"
contains err "$guest/machineinfo.json: start_args use %TAP_INTERFACE%"
cmp -s "$template" "$qemu_conf" || fail "a refused import changed the file"

# Import: comments kept, only new lines, unknown fields warned about.
expect 0 "$import" --config "$qemu_conf" --interface lo "$guest"
contains err 'unknown field "agent_expect" ignored'
only_added "$template" "$qemu_conf"
grep -qF 'name = "demo";' "$qemu_conf" || fail "no demo entry"
grep -qF "machineinfo = \"$guest/machineinfo.json\";" "$qemu_conf" || fail "no machineinfo key"
check 0
contains out "nestboxd: configuration $conf is valid"
contains out "demo"
contains out "ip=10.213.0.10"

# A duplicate name is an error and leaves the file alone.
cp "$qemu_conf" "$tmp/before"
expect 1 "$import" --config "$qemu_conf" --interface lo "$guest"
contains err "machine \"demo\" already exists"
cmp -s "$tmp/before" "$qemu_conf" || fail "a duplicate changed the file"

# --replace: still one demo, with the new interface, still valid.
expect 0 "$import" --config "$qemu_conf" --interface nbx-other --replace "$guest"
[[ $(grep -c 'name = "demo";' "$qemu_conf") == 1 ]] || fail "--replace left two demo entries"
grep -qF 'interface = "nbx-other";' "$qemu_conf" || fail "--replace did not replace"
only_added "$template" "$qemu_conf"
expect 0 "$import" --config "$qemu_conf" --interface lo --replace "$guest"
check 0

# Missing required fields: errors naming the file and the field, nothing written.
mkdir "$tmp/noip" "$tmp/noplatform"
python3 - "$guest/machineinfo.json" "$tmp" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
info["name"] = "other"
a = dict(info); del a["ip"]
json.dump(a, open(sys.argv[2] + "/noip/machineinfo.json", "w"))
b = dict(info); del b["platform"]; del b["os_name"]
json.dump(b, open(sys.argv[2] + "/noplatform/machineinfo.json", "w"))
PY
cp "$qemu_conf" "$tmp/before"
expect 1 "$import" --config "$qemu_conf" --interface lo "$tmp/noip"
contains err "$tmp/noip/machineinfo.json: required field \"ip\" is missing"
expect 1 "$import" --config "$qemu_conf" --interface lo "$tmp/noplatform"
contains err "$tmp/noplatform/machineinfo.json: required field \"platform\" (or \"os_name\") is missing"
expect 1 "$import" --config "$qemu_conf" --interface lo "$tmp/missing-dir"
contains err "$tmp/missing-dir/machineinfo.json"
cmp -s "$tmp/before" "$qemu_conf" || fail "a failed import changed the file"

# A file with no machines list gets one appended; other text kept.
printf '# hand-written\naccelerator = "tcg"; // software\n' >"$qemu_conf"
cp "$qemu_conf" "$tmp/before"
expect 0 "$import" --config "$qemu_conf" --interface lo "$guest"
only_added "$tmp/before" "$qemu_conf"
check 0
contains out "demo"

echo "import-vmcloak: all checks passed"
