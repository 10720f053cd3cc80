#!/usr/bin/env bash
# conf/ must be exactly what the schemas generate.
# Usage: conf-drift.sh GENERATE_SH NESTBOXD SOURCE_CONF_DIR [PLUGIN_DIR...]
set -euo pipefail
generate=$1 nestboxd=$2 conf=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$generate" "$nestboxd" "$tmp" "$@"
if ! diff -ru --exclude=meson.build --exclude=generate.sh --exclude=.gitkeep \
	--exclude=install-conf.sh --exclude=systemd "$conf" "$tmp"; then
	echo "FAIL: conf/ differs from what the schemas generate; run: meson compile -C BUILD update-conf" >&2
	exit 1
fi
echo "conf/ matches the schemas"
