#!/usr/bin/env bash
# The manual cannot drift from the code:
#  - nestbox.conf(5) in the tree is byte for byte what the schemas of the
#    core and the in-tree plugins generate (generate-conf-page.sh);
#  - every long option a program's --help prints (nestbox: also each
#    command's) is named in its page;
#  - every page, built, renders with groff without a warning.
# Usage: man.sh GENERATE NESTBOXD CONF_PAGE BUILT_MAN_DIR NESTBOX SCAFFOLD IMPORT_VMCLOAK [PLUGIN_DIR...]
set -euo pipefail
generate=$1 nestboxd=$2 conf_page=$3 built=$4 nestbox=$5 scaffold=$6 vmcloak=$7
shift 7
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$generate" "$nestboxd" "$tmp/nestbox.conf.5" "$@"
if ! diff -u "$conf_page" "$tmp/nestbox.conf.5"; then
	fail "tools/man/nestbox.conf.5 differs from what the schemas generate; run: meson compile -C BUILD update-man"
fi
echo "ok: nestbox.conf(5) matches the schemas"

# long_options HELP_COMMAND...: the long options its --help lists.
long_options() {
	"$@" --help 2>&1 | sed -n 's/^ \{2,\}\(-[A-Za-z0-9], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' |
		grep -vx -- --help || true
}

# check_page PAGE HELP_COMMAND...: PAGE names every option HELP_COMMAND lists.
check_page() {
	local page=$1 option text
	shift
	[[ -f $page ]] || fail "$page was not built"
	# roff writes a hyphen as \- (or \(hy), so compare without them.
	text=$(sed 's/\\-/-/g; s/\\(hy/-/g' "$page")
	for option in $(long_options "$@"); do
		grep -q -- "$option" <<<"$text" ||
			fail "$(basename "$page") does not name $option (from $* --help)"
	done
}

check_page "$built/nestboxd.8" "$nestboxd"
check_page "$built/nestbox.1" "$nestbox"
for command in $("$nestbox" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | sort -u); do
	check_page "$built/nestbox.1" "$nestbox" "$command"
done
check_page "$built/nestbox-scaffold.1" "$scaffold"
check_page "$built/nestbox-import-vmcloak.1" "$vmcloak"
[[ -f $built/nestbox-plugin.7 ]] || fail "nestbox-plugin.7 was not built"
echo "ok: every option of every program is in its page"

for page in "$conf_page" "$built"/*.[0-9]; do
	groff -man -ww -z -Tutf8 "$page" 2>"$tmp/warnings" || fail "groff failed on $page"
	[[ ! -s $tmp/warnings ]] || { cat "$tmp/warnings" >&2; fail "groff warns about $page"; }
done
echo "ok: every page renders without a warning"
