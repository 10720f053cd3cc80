#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-abi-selftest.sh [PLUGIN_API_DIR]
#
# Proves that check-abi.sh with abi-suppressions.ini accepts what a minor
# version may do and rejects the rest. In a temporary directory it copies
# the plugin headers (default: this tree's plugin-api/), makes a baseline
# from the pristine copy, then edits a copy per case, builds the anchor
# against it with $CC and asserts the verdict of check-abi.sh. It does not
# use the stored baseline: it tests the machinery, not the current ABI.
#
# It also checks that every public type of the headers has an anchor in
# abi_anchor.c, and that the extensible-struct list of abi-suppressions.ini
# is exactly the structs with a `struct_size` member plus nbx_config_field.
#
# Environment: CC (default cc), ABIDW, ABIDIFF, PYTHON. Needs GNU sed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
api=${1:-$here/../../plugin-api}
api=$(cd "$api" && pwd) || exit 1
: "${CC:=cc}"
suppr=$here/abi-suppressions.ini

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nestbox-abi-selftest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# build DIR: the anchor (DIR/abi_anchor.c, else the tree's) against DIR/api.
build() {
	src=$here/abi_anchor.c
	[ -f "$1/abi_anchor.c" ] && src=$1/abi_anchor.c
	$CC -std=gnu11 -g -O0 -fPIC -shared -I "$1/api" \
		-Wl,-soname,libnestbox-abi-anchor.so -o "$1/lib.so" "$src" >"$1/cc.log" 2>&1
}

# new_case NAME: a fresh copy of the pristine headers in $tmp/NAME.
new_case() {
	dir=$tmp/$1
	mkdir "$dir" && cp -R "$tmp/pristine/api" "$dir/api"
}

# edit FILE SED-SCRIPT: apply it, and fail the case if it changed nothing.
edit() {
	cp "$1" "$1.orig"
	sed "$2" "$1.orig" >"$1"
	if cmp -s "$1" "$1.orig"; then
		echo "selftest: edit did not apply to $(basename "$1"): $2" >&2
		return 1
	fi
}

# append_member FILE STRUCT LINE: LINE before the closing brace of STRUCT.
append_member() {
	cp "$1" "$1.orig"
	awk -v s="struct $2 {" -v l="$3" '
		$0 == s { f = 1 }
		f && /^};/ { print l; f = 0 }
		{ print }' "$1.orig" >"$1"
	cmp -s "$1" "$1.orig" && { echo "selftest: no struct $2 in $1" >&2; return 1; }
	return 0
}

# expect pass|fail NAME DESCRIPTION: build case NAME, run the check.
expect() {
	want=$1 dir=$tmp/$2
	if ! build "$dir"; then
		fail "$2 ($3): the anchor does not build"
		sed 's/^/    /' "$dir/cc.log"
		return
	fi
	"$here/check-abi.sh" "$dir/lib.so" "$tmp/baseline.xml" "$suppr" >"$dir/check.log" 2>&1
	rc=$?
	if [ "$want" = pass ] && [ $rc -eq 0 ]; then
		echo "ok: $3: passes"
	elif [ "$want" = fail ] && [ $rc -eq 1 ]; then
		echo "ok: $3: fails"
	else
		fail "$3: expected to $want, check-abi.sh exited $rc"
		sed 's/^/    /' "$dir/check.log"
	fi
}

H=nestbox

# The pristine copy and its baseline.
mkdir "$tmp/pristine" && cp -R "$api" "$tmp/pristine/api" || exit 1
if ! build "$tmp/pristine"; then
	cat "$tmp/pristine/cc.log"
	echo "FAIL: the anchor does not build against $api"
	exit 1
fi
ABIDW=${ABIDW:-abidw} CC=$CC "$here/update-baseline.sh" -o "$tmp/baseline.xml" \
	"$tmp/pristine/lib.so" >/dev/null || { echo "FAIL: update-baseline.sh"; exit 1; }

# Every public type has an anchor: each struct, union, enum and typedef
# named in the headers is in the ABI of the anchor library.
for name in $(cat "$api/$H"/*.h | sed -n -E \
	-e 's/^(struct|union|enum) (nbx_[A-Za-z0-9_]*) *[{;].*/\2/p' \
	-e 's/^typedef .*\(\*(nbx_[A-Za-z0-9_]*)\).*/\1/p' \
	-e 's/^typedef [^(]* \**(nbx_[A-Za-z0-9_]*);.*/\1/p' | sort -u); do
	grep -q "name='$name'" "$tmp/baseline.xml" ||
		fail "public type $name has no anchor in abi_anchor.c"
done

# The extensible-struct list of the suppressions = structs with struct_size
# (+ nbx_config_field, walked with the plugin's field_size stride).
listed=$(awk '
	/^\[/ { rx = "" }
	/^[ \t]*name_regexp[ \t]*=/ { sub(/^[^=]*=[ \t]*/, ""); rx = $0 }
	/^[ \t]*has_data_member_inserted_at[ \t]*=/ { print rx }' "$suppr" |
	sed -e 's/^\^nbx_(//' -e 's/)\$$//' | tr '|' '\n' | sed 's/^/nbx_/' | sort)
sized=$( (cat "$api/$H"/*.h | awk '
	/^struct nbx_[A-Za-z0-9_]* {/ { s = $2 }
	s != "" && /^\t[^*]*[ \t]struct_size;/ { print s }
	/^};/ { s = "" }'; echo nbx_config_field) | sort -u)
if [ "$listed" != "$sized" ]; then
	fail "abi-suppressions.ini lists the extensible structs:" $listed \
		"but the headers have:" $sized
else
	echo "ok: abi-suppressions.ini lists every extensible struct"
fi

# The untouched headers.
new_case same
expect pass same "unchanged headers"

# (a) an op appended at the end of struct nbx_machinery_ops.
new_case a
append_member "$tmp/a/api/$H/machinery.h" nbx_machinery_ops \
	'	bool (*snapshot)(void *instance, struct nbx_machine *machine, const struct nbx_call *call, struct nbx_error *err);' &&
	expect pass a "(a) op appended to struct nbx_machinery_ops"

# (b) a member inserted in the middle of struct nbx_machine.
new_case b
edit "$tmp/b/api/$H/machinery.h" 's/^\tconst char \*label;$/\tconst char *uuid;\n&/' &&
	expect fail b "(b) member inserted in the middle of struct nbx_machine"

# (c) the type of an op's parameter changed (same size, too).
new_case c
edit "$tmp/c/api/$H/machinery.h" 's/int32_t \*state, struct nbx_error \*err);/uint32_t *state, struct nbx_error *err);/' &&
	expect fail c "(c) parameter of op nbx_machinery_ops.state retyped"

# (d) an enumerator appended to enum nbx_error_code.
new_case d
edit "$tmp/d/api/$H/error.h" 's/^\tNBX_ERROR_CANCELLED = 10,.*/&\n\tNBX_ERROR_QUOTA = 11,/' &&
	expect pass d "(d) enumerator appended to enum nbx_error_code"

# (e) an enumerator's value changed.
new_case e
edit "$tmp/e/api/$H/error.h" 's/NBX_ERROR_BUSY = 8,/NBX_ERROR_BUSY = 12,/' &&
	expect fail e "(e) value of NBX_ERROR_BUSY changed"

# More of what a minor version may and may not do.
new_case host
append_member "$tmp/host/api/$H/host.h" nbx_host \
	'	bool (*machine_get)(const struct nbx_host *host, const char *name, struct nbx_machine **out);' &&
	expect pass host "service appended to struct nbx_host"

new_case tailpad
append_member "$tmp/tailpad/api/$H/plugin.h" nbx_plugin_descriptor '	int32_t flags;' &&
	expect pass tailpad "member appended into the tail padding of struct nbx_plugin_descriptor"

new_case newtype
append_member "$tmp/newtype/api/$H/machinery.h" nbx_call \
	'	const struct nbx_snapshot_info *snapshot_info;' &&
	edit "$tmp/newtype/api/$H/machinery.h" \
		's/^struct nbx_call {/struct nbx_snapshot_info {\n\tuint32_t struct_size;\n\tint64_t taken_us;\n};\n\n&/' &&
	sed 's/^void nbx_abi_anchor_call(.*/&\nANCHOR void nbx_abi_anchor_snapshot_info(struct nbx_snapshot_info *p);\nvoid nbx_abi_anchor_snapshot_info(struct nbx_snapshot_info *p) { (void)p; }/' \
		"$here/abi_anchor.c" >"$tmp/newtype/abi_anchor.c" &&
	expect pass newtype "new struct type (anchored) and a member of it appended to struct nbx_call"

new_case flag
edit "$tmp/flag/api/$H/schema.h" 's/^\tNBX_FIELD_NON_EMPTY = 1u << 7,/&\n\tNBX_FIELD_ABSOLUTE = 1u << 8,/' &&
	expect pass flag "flag bit appended to enum nbx_field_flags"

new_case frozen
append_member "$tmp/frozen/api/$H/error.h" nbx_error '	int32_t errno_value;' &&
	expect fail frozen "member appended to frozen struct nbx_error"

new_case frozen2
append_member "$tmp/frozen2/api/$H/host.h" nbx_fd_map '	int32_t flags;' &&
	expect fail frozen2 "member appended to frozen struct nbx_fd_map"

new_case removed
edit "$tmp/removed/api/$H/machinery.h" '/^\tconst char \*analysis_dir;$/d' &&
	expect fail removed "member removed from struct nbx_call"

new_case swapped
edit "$tmp/swapped/api/$H/host.h" 's/^\tconst char \*const \*argv;$/\tconst char *const *ENVP;/; s/^\tconst char \*const \*envp;$/\tconst char *const *argv;/; s/ENVP;/envp;/' &&
	expect fail swapped "members argv and envp of struct nbx_spawn swapped"

new_case renamed
edit "$tmp/renamed/api/$H/machinery.h" 's/^\tconst char \*ip;$/\tconst char *address;/' &&
	expect fail renamed "member nbx_machine.ip renamed"

new_case retyped
edit "$tmp/retyped/api/$H/machinery.h" 's/^\tint32_t agent_port;$/\tuint32_t agent_port;/' &&
	append_member "$tmp/retyped/api/$H/machinery.h" nbx_machine '	const char *uuid;' &&
	expect fail retyped "member nbx_machine.agent_port retyped, with a member appended"

new_case shrunk
edit "$tmp/shrunk/api/$H/auxiliary.h" 's/^\tint64_t duration_s;$/\tint32_t duration_s;/' &&
	expect fail shrunk "member of struct nbx_task narrowed"

new_case enumgone
edit "$tmp/enumgone/api/$H/host.h" '/^\tNBX_LOG_DEBUG = 3,$/d' &&
	expect fail enumgone "enumerator removed from enum nbx_log_level"

new_case callback
edit "$tmp/callback/api/$H/host.h" 's/^typedef bool (\*nbx_timeout_fn)(void \*user_data);/typedef bool (*nbx_timeout_fn)(void *user_data, uint64_t id);/' &&
	expect fail callback "callback typedef nbx_timeout_fn changed"

new_case union
edit "$tmp/union/api/$H/plugin.h" 's/^\t\tconst struct nbx_guest_ops \*guest;$/&\n\t\tconst void *other;/' &&
	expect pass union "pointer appended to the descriptor's ops union, same size"

new_case uniongrow
edit "$tmp/uniongrow/api/$H/plugin.h" 's/^\t\tconst struct nbx_guest_ops \*guest;$/&\n\t\tchar other[64];/' &&
	expect fail uniongrow "member that grows the descriptor's ops union"

new_case unioninsert
edit "$tmp/unioninsert/api/$H/plugin.h" 's/^\t\tconst struct nbx_machinery_ops \*machinery;$/\t\tconst void *other;\n&/' &&
	expect fail unioninsert "member inserted before the others in the descriptor's ops union"

new_case typegone
edit "$tmp/typegone/api/$H/machinery.h" '/^enum nbx_machinery_capabilities {$/,/^};$/d' &&
	sed '/nbx_abi_anchor_machinery_capabilities/d' "$here/abi_anchor.c" >"$tmp/typegone/abi_anchor.c" &&
	expect fail typegone "public type enum nbx_machinery_capabilities removed"

if [ $failures -ne 0 ]; then
	echo "check-abi-selftest: $failures failure(s)"
	exit 1
fi
echo "check-abi-selftest: all cases behave"
exit 0
