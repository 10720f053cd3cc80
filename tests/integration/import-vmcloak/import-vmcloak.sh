#!/bin/bash
# import-vmcloak.sh - integration test of nestbox-import-vmcloak.
# Usage: import-vmcloak.sh IMPORT NESTBOXD QEMU_PLUGIN_DIR BUILD_DEMO_GUEST QEMU_CONF_TEMPLATE
#
# Imports the demo guest's directory into a copy of the commented qemu.conf
# template and checks: only added lines (comments byte for byte), the result
# passes `nestboxd --check` with the built qemu plugin, a missing field is an
# error naming file and field, a duplicate name is an error (file untouched),
# --replace replaces, a file without a machines list gets one. Then the same
# guest described in VMCloak's own shape ({"machinery": "qemu", "machine":
# {...}}, a bridge netdev, -enable-kvm, relative disk and memory.snapshot):
# imported with its bridge as the interface, valid for --check in a network
# namespace that has the bridge, and bad ones refused with the field named.
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
netns=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[[ -n $netns ]] && { ip netns delete "$netns" 2>/dev/null || echo "import-vmcloak: could not delete netns $netns" >&2; }
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
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

# ---- VMCloak's own shape -----------------------------------------------------
# The demo guest as VMCloak's qemu platform describes a machine: fields in
# "machine", disk and memory.snapshot relative, the guest on a bridge.
vmcloak() { # vmcloak DIR NAME EDIT: DIR/machineinfo.json, EDIT a python statement on d/m
	mkdir -p "$1"
	python3 - "$guest/machineinfo.json" "$1" "$2" "$3" <<'PY'
import json, shutil, sys
demo, out, name, edit = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
args = []
for i, a in enumerate(demo["start_args"]):
    prev = demo["start_args"][i - 1] if i else ""
    if prev == "-netdev":
        a = "type=bridge,br=nbxibr0,id=net0"
    elif prev == "-machine":
        a = a.split(",")[0]
    args.append(a)
args.append("-enable-kvm")
m = {"name": name, "ip": demo["ip"], "agent_port": demo["agent_port"], "os_name": "linux",
     "os_version": "12", "architecture": "amd64", "tags": ["demo"], "bridge": "nbxibr0",
     "mac": demo["mac_address"], "gateway": demo["host_ip"], "netmask": "255.255.255.0",
     "disk": "disk.qcow2", "start_args": args, "memory_snapshot": "memory.snapshot"}
d = {"vmcloak_version": None, "machinery": "qemu", "machinery_version": "7.2.22", "machine": m}
exec(edit)
shutil.copy(demo["disk"], out + "/disk.qcow2")
open(out + "/memory.snapshot", "wb").write(b"QEVM")
json.dump(d, open(out + "/machineinfo.json", "w"), indent=2)
PY
}
vmcloak "$tmp/vm1" vm1 pass
cp "$template" "$qemu_conf"
expect 0 "$import" --config "$qemu_conf" "$tmp/vm1"
if grep -q warning "$tmp/err"; then cat "$tmp/err" >&2; fail "VMCloak's own fields warned about"; fi
grep -qF 'name = "vm1";' "$qemu_conf" || fail "no vm1 entry"
grep -qF 'interface = "nbxibr0";' "$qemu_conf" || fail "the bridge is not vm1's interface"
grep -qF 'tags = [ "demo" ];' "$qemu_conf" || fail "vm1's tags are missing"
grep -qF 'agent_port = 8000;' "$qemu_conf" || fail "vm1's agent_port is missing"
# --check, in a namespace of ours that has the bridge (the plugin checks it exists).
for _ in {1..20}; do
	candidate=nbx-import-$$-$RANDOM
	if ip netns add "$candidate" 2>/dev/null; then netns=$candidate; break; fi
done
[[ -n $netns ]] || fail "could not create a network namespace"
ip -n "$netns" link add nbxibr0 type bridge
ip -n "$netns" link set nbxibr0 up
ip -n "$netns" link set lo up
expect 0 ip netns exec "$netns" env NESTBOX_PLUGIN_PATH="$plugin_dir" "$nestboxd" --config "$conf" --check
contains out "vm1"
contains out "machine vm1: -netdev net0: the plugin makes a tap in bridge nbxibr0"
contains out "machine vm1: accelerator kvm"
# Outside the namespace there is no such bridge, and --check says so.
expect 1 env NESTBOX_PLUGIN_PATH="$plugin_dir" "$nestboxd" --config "$conf" --check
contains err "machines.vm1.interface: network interface does not exist: nbxibr0"

# VMCloak files that cannot be used: refused with the field named as the file has it.
vmcloak "$tmp/noip" noip 'del m["ip"]'
vmcloak "$tmp/vbox" vbox 'd["machinery"] = "virtualbox"'
vmcloak "$tmp/flatmachine" flat 'd["machine"] = "vm1"'
vmcloak "$tmp/badtags" badtags 'm["tags"] = "dotnet"'
cp "$qemu_conf" "$tmp/before"
expect 1 "$import" --config "$qemu_conf" "$tmp/noip"
contains err "$tmp/noip/machineinfo.json: required field \"machine.ip\" is missing"
expect 1 "$import" --config "$qemu_conf" "$tmp/vbox"
contains err "$tmp/vbox/machineinfo.json: field \"machinery\" must be \"qemu\""
expect 1 "$import" --config "$qemu_conf" "$tmp/flatmachine"
contains err "$tmp/flatmachine/machineinfo.json: field \"machine\" must be an object"
expect 1 "$import" --config "$qemu_conf" "$tmp/badtags"
contains err "field \"machine.tags\" must be a list of strings"
cmp -s "$tmp/before" "$qemu_conf" || fail "a refused VMCloak import changed the file"

echo "import-vmcloak: all checks passed"
