#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# update-baseline.sh [-o OUT] [ANCHOR_LIB]
#
# Regenerates the stored plugin ABI baseline that check-abi.sh compares
# with: tests/abi/nestbox-plugin-abi-MAJOR.xml, MAJOR being NBX_ABI_MAJOR of
# plugin-api/nestbox/plugin.h. Run it only for an intended ABI change, after
# bumping NBX_ABI_MINOR (appends) or NBX_ABI_MAJOR (anything else), and
# commit the result with the header change.
#
# Without ANCHOR_LIB, the anchor library is built from this source tree with
# $CC (default cc) -g -O0; with it, that library (e.g. the one meson built,
# BUILDDIR/tests/abi/libnestbox-abi-anchor.so) is used.
#
# Environment: CC, ABIDW. Keep the abidw options in sync with check-abi.sh.

set -eu

usage() {
	echo "usage: $0 [-o OUT] [ANCHOR_LIB]" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CC:=cc}" "${ABIDW:=abidw}"

out=
while getopts o: opt; do
	case $opt in
	o) out=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage

major=$(sed -n 's/^#define NBX_ABI_MAJOR \([0-9][0-9]*\).*/\1/p' "$top/plugin-api/nestbox/plugin.h")
minor=$(sed -n 's/^#define NBX_ABI_MINOR \([0-9][0-9]*\).*/\1/p' "$top/plugin-api/nestbox/plugin.h")
if [ -z "$out" ]; then
	[ -n "$major" ] || { echo "update-baseline: no NBX_ABI_MAJOR in plugin.h" >&2; exit 1; }
	out=$here/nestbox-plugin-abi-$major.xml
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nestbox-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if [ $# -eq 1 ]; then
	lib=$1
else
	lib=$tmp/libnestbox-abi-anchor.so
	# Relative paths from the top: no absolute path ends up in the DWARF.
	(cd "$top" && $CC -std=gnu11 -g -O0 -fPIC -shared -I plugin-api \
		-Wl,-soname,libnestbox-abi-anchor.so -o "$lib" tests/abi/abi_anchor.c)
fi

"$ABIDW" --no-corpus-path --no-comp-dir-path --no-architecture --no-show-locs \
	--no-elf-needed --drop-undefined-syms --out-file "$tmp/abi.xml" "$lib"
mv "$tmp/abi.xml" "$out"
echo "update-baseline: wrote $out (plugin ABI $major.$minor)"
case $out in
*/nestbox-plugin-abi-1.xml) ;;
"$here"/nestbox-plugin-abi-*.xml)
	echo "update-baseline: new major: point tests/abi/meson.build at $(basename "$out")" \
		"and git rm the old baseline" ;;
esac
