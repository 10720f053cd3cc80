#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scaffold-roundtrip.sh SOURCE_ROOT
#
# What a third party does, end to end: install nestbox into a prefix,
# scaffold a machinery, an auxiliary and a guest plugin with the INSTALLED
# nestbox-scaffold, build them out of tree against the installed SDK only
# (pkg-config), install them, and check that the installed nestboxd loads
# all three, accepts the configuration the scaffold generated, and prints the
# very templates the scaffold wrote (so the scaffold's copy of the schema
# cannot drift from the one compiled into the plugin). On the way, that
# every file of tools/scaffold-templates is compiled into the scaffold, that
# no placeholder survives into a generated file, and that a template with a
# placeholder the scaffold does not fill is refused with its file and line.
set -euo pipefail

step() { printf '==> %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
# Runs a command with its output in a log, shown only when it fails, so a
# passing run stays readable and a failing one says why.
# Says how a command ended: a crash is not a refusal.
describe_exit() {
	local rc=$1
	if ((rc > 128)); then
		printf 'was killed by signal %d (%s)' $((rc - 128)) "$(kill -l $((rc - 128)) 2>/dev/null || echo '?')"
	else
		printf 'exited %d' "$rc"
	fi
}
run_logged() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		fail "command failed: $*"
	fi
}

[[ $# -eq 1 ]] || {
	echo "usage: $0 SOURCE_ROOT" >&2
	exit 2
}
SOURCE_ROOT=$(cd "$1" && pwd) || fail "SOURCE_ROOT $1: not a directory"
[[ -f $SOURCE_ROOT/meson.build ]] || fail "SOURCE_ROOT $SOURCE_ROOT: no meson.build there"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nestbox-scaffold-roundtrip.XXXXXX")
# KEEP_TMP=1 keeps the prefix, the plugins and the logs for a post-mortem.
cleanup() {
	if [[ -n ${KEEP_TMP:-} ]]; then
		printf 'kept %s\n' "$TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

# The nested build must be plain and fast whatever the outer one is: a
# sanitized outer build would otherwise leak its runtime options (and
# flags) into builds and programs that are not instrumented. The plugins
# must find the SDK through PKG_CONFIG_PATH alone, and nestboxd its plugins
# through the installed plugin directory alone.
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MSAN_OPTIONS TSAN_OPTIONS
unset CFLAGS CPPFLAGS LDFLAGS CC_LD
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR NESTBOX_PLUGIN_PATH

MACHINERY=rt-machinery
AUXILIARY=rt_auxiliary
GUEST=rt-guest
PREFIX=$TMP/prefix

step "installing nestbox from $SOURCE_ROOT into $PREFIX"
run_logged "$TMP/setup.log" meson setup "$TMP/build" "$SOURCE_ROOT" --prefix="$PREFIX" \
	-Dtests=false -Db_sanitize=none -Dfuzz=disabled -Dabi_check=disabled
run_logged "$TMP/compile.log" meson compile -C "$TMP/build"
run_logged "$TMP/install.log" meson install -C "$TMP/build" --no-rebuild

find_one() {
	local what=$1 found
	shift
	found=$(find "$@" -print -quit)
	[[ -n $found ]] || fail "the install has no $what (looked under $PREFIX)"
	printf '%s\n' "$found"
}
SCAFFOLD=$(find_one "nestbox-scaffold" "$PREFIX" -name nestbox-scaffold -type f -perm -u+x)
NESTBOXD=$(find_one "nestboxd" "$PREFIX" -name nestboxd -type f -perm -u+x)
PC_FILE=$(find_one "nestbox-plugin.pc" "$PREFIX" -name nestbox-plugin.pc -type f)
PC_DIR=$(dirname "$PC_FILE")
PLUGINDIR=$(PKG_CONFIG_PATH=$PC_DIR pkg-config --variable=plugindir nestbox-plugin)
[[ $PLUGINDIR == "$PREFIX"/* ]] || fail "nestbox-plugin.pc: plugindir $PLUGINDIR is outside $PREFIX"
step "installed: $SCAFFOLD, $NESTBOXD, $PC_FILE (plugindir $PLUGINDIR)"

# Usage errors exit 2 and a non-empty output directory is refused (exit 1),
# each with one line naming the problem.
expect_exit() {
	local want=$1 rc=0
	shift
	"$@" >"$TMP/refusal.out" 2>&1 || rc=$?
	[[ $rc -eq $want ]] ||
		fail "$* $(describe_exit $rc), expected exit $want: $(cat "$TMP/refusal.out")"
	[[ $(wc -l <"$TMP/refusal.out") -eq 1 ]] ||
		fail "$* should explain itself in one line, printed: $(cat "$TMP/refusal.out")"
}
step "checking that nestbox-scaffold refuses bad input"
mkdir -p "$TMP/src/occupied" && touch "$TMP/src/occupied/keep"
expect_exit 2 "$SCAFFOLD" machinery Bad-Name --output "$TMP/src/bad"
expect_exit 2 "$SCAFFOLD" gadget "$MACHINERY" --output "$TMP/src/bad"
expect_exit 2 "$SCAFFOLD" machinery "$(printf 'a%.0s' {1..64})" --output "$TMP/src/bad"
expect_exit 1 "$SCAFFOLD" machinery "$MACHINERY" --output "$TMP/src/occupied"
[[ ! -e $TMP/src/bad ]] || fail "a refused scaffold left $TMP/src/bad behind"

TEMPLATES=$SOURCE_ROOT/tools/scaffold-templates
step "checking that every template of $TEMPLATES is compiled into nestbox-scaffold"
command -v gresource >/dev/null || fail "gresource is not installed (Debian package libglib2.0-bin)"
compiled_in=$(gresource list "$SCAFFOLD") || fail "gresource list $SCAFFOLD: it carries no templates"
for template in "$TEMPLATES"/*.in; do
	grep -qxF "/org/nestbox/scaffold/${template##*/}" <<<"$compiled_in" ||
		fail "tools/scaffold-templates/${template##*/} is not compiled into nestbox-scaffold:" \
			"list it in tools/scaffold-templates/scaffold-templates.gresource.xml"
done

# expect_template_refusal KIND TEMPLATE SED_EDIT MESSAGE: the installed
# scaffold, reading an edited copy of the templates (GLib's
# G_RESOURCE_OVERLAYS puts a directory before the compiled-in resources),
# refuses with exit 1 and "tools/scaffold-templates/TEMPLATE:LINE: MESSAGE"
# (LINE the edited one), and leaves no output directory behind.
expect_template_refusal() {
	local kind=$1 template=$2 edit=$3 message=$4 line rc=0
	rm -rf "$TMP/templates"
	cp -r "$TEMPLATES" "$TMP/templates"
	sed -i -e "$edit" "$TMP/templates/$template"
	line=$({ diff "$TEMPLATES/$template" "$TMP/templates/$template" || true; } |
		sed -n '1s/^[0-9,]*[acd]\([0-9]*\).*/\1/p')
	[[ -n $line ]] || fail "test bug: '$edit' changed nothing in $template"
	G_RESOURCE_OVERLAYS=/org/nestbox/scaffold=$TMP/templates \
		"$SCAFFOLD" "$kind" probe --output "$TMP/src/probe" >"$TMP/refusal.out" 2>&1 || rc=$?
	[[ $rc -eq 1 ]] ||
		fail "a $template with $message: nestbox-scaffold $(describe_exit $rc), expected exit 1:" \
			"$(cat "$TMP/refusal.out")"
	grep -qF -- "tools/scaffold-templates/$template:$line: $message" "$TMP/refusal.out" ||
		fail "a $template with $message: expected tools/scaffold-templates/$template:$line: $message," \
			"nestbox-scaffold printed: $(cat "$TMP/refusal.out")"
	[[ ! -e $TMP/src/probe ]] || fail "a refused template left $TMP/src/probe behind"
}
step "checking that nestbox-scaffold refuses a template it cannot fill in"
expect_template_refusal machinery plugin-head.c.in 's/@NAME@ - a nestbox/@NAME_TYPO@ - a nestbox/' \
	'unknown placeholder @NAME_TYPO@'
# A placeholder of another kind: an auxiliary has no machines.
expect_template_refusal auxiliary auxiliary.c.in 's/^@CONFIG_SCHEMA@$/@MACHINE_SCHEMA@/' \
	'unknown placeholder @MACHINE_SCHEMA@'
expect_template_refusal guest guest.c.in 's|^@PLUGIN_INSTANCE@$|// @PLUGIN_INSTANCE@|' \
	'@PLUGIN_INSTANCE@ stands for whole lines and must be alone on its line'
expect_template_refusal machinery README.md.in '$a Questions: nestbox@example.org' \
	"'@' at column 19 starts no placeholder"

build_plugin() {
	local kind=$1 name=$2 dir=$TMP/src/$2 file
	step "scaffolding $kind $name"
	run_logged "$TMP/scaffold-$name.log" "$SCAFFOLD" "$kind" "$name" --output "$dir"
	for file in "$name.c" meson.build "$name.conf" README.md; do
		[[ -s $dir/$file ]] || fail "nestbox-scaffold $kind $name wrote no $file"
		! grep -nHE '@[A-Za-z0-9_]+@' "$dir/$file" >&2 ||
			fail "nestbox-scaffold $kind $name left a placeholder in $file (above)"
	done
	# -Dwerror: the skeleton must compile warning-free at the warning level
	# its own meson.build asks for (-Wall -Wextra).
	step "building $name out of tree against $PC_DIR only"
	run_logged "$TMP/setup-$name.log" env PKG_CONFIG_PATH="$PC_DIR" \
		meson setup "$TMP/build-$name" "$dir" -Dwerror=true -Db_sanitize=none
	run_logged "$TMP/compile-$name.log" meson compile -C "$TMP/build-$name"
	run_logged "$TMP/install-$name.log" meson install -C "$TMP/build-$name" --no-rebuild
	[[ -f $PLUGINDIR/$name.so ]] || fail "meson install put no $name.so into $PLUGINDIR"
}
build_plugin machinery "$MACHINERY"
build_plugin auxiliary "$AUXILIARY"
build_plugin guest "$GUEST"

# Only the descriptor may be exported: the rest is hidden.
for name in "$MACHINERY" "$AUXILIARY" "$GUEST"; do
	exported=$(nm -D --defined-only "$PLUGINDIR/$name.so" | awk '$2 ~ /^[A-Z]$/ { print $3 }')
	[[ $exported == nestbox_plugin_descriptor ]] ||
		fail "$name.so exports more than nestbox_plugin_descriptor: $(tr '\n' ' ' <<<"$exported")"
done

CONF=$TMP/conf
step "writing the configuration $CONF from the generated templates"
mkdir -p "$CONF/machinery" "$TMP/state" "$TMP/run" "$TMP/analyses"
cat >"$CONF/nestbox.conf" <<EOF
machineries = [ "$MACHINERY" ];
builtin_plugin_dir = true;
state_dir = "$TMP/state";
run_dir = "$TMP/run";
analyses_dir = "$TMP/analyses";
EOF
cp "$TMP/src/$MACHINERY/$MACHINERY.conf" "$CONF/machinery/$MACHINERY.conf"
cp "$TMP/src/$AUXILIARY/$AUXILIARY.conf" "$CONF/auxiliary.conf"

# nestboxd FLAG...: runs the installed daemon on $CONF with stdout in
# $TMP/nestboxd.out and stderr in $TMP/nestboxd.err, shows both, and fails
# unless it exits 0 without a GLib critical or warning (a bug in nestboxd,
# whatever the configuration says).
nestboxd() {
	local rc=0
	"$NESTBOXD" --config "$CONF" "$@" >"$TMP/nestboxd.out" 2>"$TMP/nestboxd.err" || rc=$?
	cat "$TMP/nestboxd.out"
	cat "$TMP/nestboxd.err" >&2
	if ((rc == 1)); then
		fail "nestboxd $* exited 1: it refused a plugin or the configuration (see above)"
	elif ((rc != 0)); then
		fail "nestboxd $* $(describe_exit $rc)"
	fi
	if grep -Eq -- '-(CRITICAL|WARNING) \*\*' "$TMP/nestboxd.err"; then
		fail "nestboxd $* logged a GLib critical or warning (see above)"
	fi
}

step "nestboxd --list-plugins"
nestboxd --list-plugins
for entry in "$MACHINERY machinery" "$AUXILIARY auxiliary" "$GUEST guest"; do
	read -r name kind <<<"$entry"
	awk -v name="$name" -v kind="$kind" '$1 == name && $2 == kind { found = 1 }
		END { exit !found }' "$TMP/nestboxd.out" ||
		fail "nestboxd --list-plugins does not list $name as a loaded $kind"
done

step "nestboxd --check"
nestboxd --check
for name in "$MACHINERY" "$AUXILIARY" "$GUEST"; do
	grep -q -- "$name" "$TMP/nestboxd.out" || fail "nestboxd --check does not mention $name"
done

for name in "$MACHINERY" "$AUXILIARY" "$GUEST"; do
	step "nestboxd --config-template $name matches the scaffold's $name.conf"
	nestboxd --config-template "$name" >/dev/null
	diff -u "$TMP/src/$name/$name.conf" "$TMP/nestboxd.out" ||
		fail "the scaffold's $name.conf differs from what the built plugin declares (drift)"
done

# The generated machinery file declares no machine; one that carries the
# plugin's own machine key shows that its machine_schema and check_machine
# work too.
step "nestboxd --check with one machine using the machinery's own machine key"
cat >"$CONF/machinery/$MACHINERY.conf" <<EOF
machines = (
  { name = "rt1"; label = "rt1-domain"; ip = "192.0.2.10"; platform = "linux"; cpu_count = 2; }
);
EOF
nestboxd --check
grep -Eq '^ +rt1 ' "$TMP/nestboxd.out" || fail "nestboxd --check does not list machine rt1"

step "scaffold round trip passed"
