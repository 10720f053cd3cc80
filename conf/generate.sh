#!/usr/bin/env bash
# Writes the default configuration from the schemas of the core and of the
# in-tree plugins, so conf/ never drifts from the code that validates it.
# Usage: generate.sh NESTBOXD OUTPUT_DIR [PLUGIN_DIR...]
#   meson compile -C BUILD update-conf   regenerates conf/ in the source tree;
#   the conf-drift test fails when conf/ differs from what this writes.
set -euo pipefail
nestboxd=$1 out=$2
shift 2
plugin_path=$(IFS=:; echo "$*")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Only the in-tree plugins: no installed ones, no user configuration.
printf 'builtin_plugin_dir = false;\n' >"$scratch/nestbox.conf"
run() { NESTBOX_PLUGIN_PATH=$plugin_path "$nestboxd" --config "$scratch" "$@"; }

mkdir -p "$out/machinery" "$out/guest"
rm -f "$out"/machinery/*.conf "$out"/guest/*.conf
run --config-template nestbox >"$out/nestbox.conf"
run --config-template auxiliary >"$out/auxiliary.conf"
run --list-plugins | awk 'NR > 1 && $2 == "machinery" { print $1 }' | while read -r name; do
	run --config-template "$name" >"$out/machinery/$name.conf"
done
run --list-plugins | awk 'NR > 1 && $2 == "guest" { print $1 }' | while read -r name; do
	run --config-template "$name" >"$out/guest/$name.conf"
done
