#!/usr/bin/env bash
# `nestboxd --check` names each libvirt connection's hypervisor and version,
# and a label or snapshot that does not exist is a validation error.
set -euo pipefail
nestboxd=$1 plugin_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$work/out" "$work/err" >&2; exit 1; }
mkdir -p "$work/machinery"
cat >"$work/nestbox.conf" <<CONF
machineries = [ "libvirt" ];
builtin_plugin_dir = false;
state_dir = "$work/state"; run_dir = "$work/run"; analyses_dir = "$work/analyses";
CONF
echo 'sniffer = { enabled = false; };' >"$work/auxiliary.conf"
check() { NESTBOX_PLUGIN_PATH=$plugin_dir "$nestboxd" --config "$work" --check >"$work/out" 2>"$work/err"; }

# test:///default has a domain "test" without snapshots: naming one fails.
cat >"$work/machinery/libvirt.conf" <<CONF
dsn = "test:///default";
machines = ( { name = "t1"; label = "test"; ip = "10.0.0.9"; platform = "linux"; snapshot = "clean"; },
             { name = "t2"; label = "nosuch"; ip = "10.0.0.10"; platform = "linux"; } );
CONF
status=0; check || status=$?
[[ $status == 1 ]] || fail "--check exited $status on a missing label and snapshot"
grep -q 'libvirt: connection test:///default: hypervisor TEST ' "$work/out" ||
	fail "--check does not name the hypervisor and its version"
grep -q 'libvirt.conf:2: machines.t1.snapshot: ' "$work/err" || fail "missing snapshot not reported"
grep -q 'libvirt.conf:3: machines.t2.label: ' "$work/err" || fail "missing label not reported"
grep -q 'machine t1: restore_start reverts domain test to snapshot "clean" (restore_method "snapshot"' "$work/out" ||
	fail "--check does not say how t1 is restored"

# Memory templates: refused with the reason, naming the key.
cat >"$work/machinery/libvirt.conf" <<CONF
restore_method = "template";
dsn = "test:///default";
machines = ( { name = "t1"; label = "test"; ip = "10.0.0.9"; platform = "linux"; } );
CONF
status=0; check || status=$?
[[ $status == 1 ]] || fail "--check exited $status on restore_method = template"
grep -q "libvirt.conf:1: restore_method: .*x-ignore-shared" "$work/err" ||
	fail "restore_method = template is not refused with its reason"
echo "check.sh: passed"
