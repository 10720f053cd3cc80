#!/usr/bin/env bash
# Writes nestbox.conf(5) from the schemas of the core and of the in-tree
# plugins, the way conf/generate.sh writes conf/.
# Usage: generate-conf-page.sh NESTBOXD OUTPUT [PLUGIN_DIR...]
#   meson compile -C BUILD update-man   regenerates tools/man/nestbox.conf.5;
#   the man-drift test fails when it differs from what this writes.
set -euo pipefail
nestboxd=$1 out=$2
shift 2
plugin_path=$(IFS=:; echo "$*")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Only the in-tree plugins: no installed ones, no user configuration.
printf 'builtin_plugin_dir = false;\n' >"$scratch/nestbox.conf"
NESTBOX_PLUGIN_PATH=$plugin_path "$nestboxd" --config "$scratch" --man-config >"$scratch/page"
mv "$scratch/page" "$out"
