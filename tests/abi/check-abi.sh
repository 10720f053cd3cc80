#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-abi.sh ANCHOR_LIB BASELINE SUPPRESSIONS
#
# Fails (exit 1) when the plugin ABI described by the freshly built anchor
# library (abi_anchor.c, built with -g -O0 against plugin-api/) differs from
# the stored BASELINE in any way the "Versioning" section of
# <nestbox/plugin.h> does not allow for a minor version. Exit 0 otherwise.
#
# Two abidiff runs, both must be clean (abidiff's exit status is a bitmask:
# 1 error, 2 usage error, 4 ABI change, 8 incompatible change; any bit set
# fails the check):
#
#  1. BASELINE against the current ABI with SUPPRESSIONS: libabigail's own
#     verdict, whose report shows the change as it was made.
#  2. The append-only check. libabigail's has_data_member_inserted_at rule
#     only looks at deleted members, shrinkage and where INSERTED members
#     landed: a struct of its list whose existing member is retyped (an op's
#     signature changed, two fields swapped) would pass run 1. And abidiff
#     calls some changes "harmless" and does not report them (a renamed
#     member, a member added to a union). So exactly what a minor version
#     may append is cut off the current ABI: the members past the
#     baseline's last one in the structs the has_data_member_inserted_at
#     rule names (their size set back to the baseline's), and the
#     enumerators the baseline does not have. The result is compared again,
#     harmless changes included, with every rule of SUPPRESSIONS except
#     that one: it must be identical to the baseline.
#
# Environment: ABIDW, ABIDIFF, PYTHON (default: abidw, abidiff, python3).
# Keep the abidw options in sync with update-baseline.sh.

set -u

usage() {
	echo "usage: $0 ANCHOR_LIB BASELINE SUPPRESSIONS" >&2
	exit 2
}
[ $# -eq 3 ] || usage
lib=$1
baseline=$2
suppressions=$3
: "${ABIDW:=abidw}" "${ABIDIFF:=abidiff}" "${PYTHON:=python3}"

regen_hint="If this change is intended, bump NBX_ABI_MAJOR in plugin-api/nestbox/plugin.h (or NBX_ABI_MINOR, extending abi-suppressions.ini, if it is an append the check does not know yet) and regenerate the baseline with tests/abi/update-baseline.sh; otherwise fix the headers."

for f in "$lib" "$baseline" "$suppressions"; do
	if [ ! -r "$f" ]; then
		echo "check-abi: cannot read $f" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nestbox-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if ! "$ABIDW" --no-corpus-path --no-comp-dir-path --no-architecture --no-show-locs \
	--no-elf-needed --drop-undefined-syms --out-file "$tmp/current.xml" "$lib"; then
	echo "check-abi: abidw failed on $lib" >&2
	exit 1
fi

abidiff_run() { # SUPPRESSIONS OLD NEW REPORT [ABIDIFF OPTION...]
	suppr=$1 old=$2 new=$3 report=$4
	shift 4
	"$ABIDIFF" --no-default-suppression --ignore-soname --no-show-locs "$@" \
		--suppressions "$suppr" "$old" "$new" >"$report" 2>&1
}

# Run 1: libabigail's verdict with the suppression specification.
abidiff_run "$suppressions" "$baseline" "$tmp/current.xml" "$tmp/report1"
rc1=$?

# Run 2: cut the allowed appends (struct members, enumerators), compare strictly.
if ! "$PYTHON" - "$suppressions" "$baseline" "$tmp/current.xml" \
	"$tmp/strict.ini" "$tmp/current-cut.xml" >"$tmp/appended" <<'EOF'
import re
import sys
import xml.etree.ElementTree as ET

suppr, baseline, current, strict_out, cut_out = sys.argv[1:]

# Split the suppression file into sections; the sections carrying
# has_data_member_inserted_at give the extensible structs (name_regexp) and
# are left out of the strict specification.
sections = [[]]
with open(suppr) as f:
    for line in f:
        if line.lstrip().startswith('['):
            sections.append([])
        sections[-1].append(line)
extensible, strict = [], []
for sec in sections:
    props = {}
    for line in sec:
        s = line.strip()
        if '=' in s and not s.startswith(('#', ';', '[')):
            k, v = s.split('=', 1)
            props[k.strip()] = v.strip()
    if 'has_data_member_inserted_at' in props:
        if 'name_regexp' not in props:
            sys.exit('check-abi: a has_data_member_inserted_at rule without name_regexp')
        extensible.append(re.compile(props['name_regexp']))
    else:
        strict.extend(sec)
with open(strict_out, 'w') as f:
    f.writelines(strict)

def is_extensible(name):
    return any(r.search(name) for r in extensible)

def structs(root):
    for el in root.iter('class-decl'):
        name = el.get('name', '')
        if el.get('is-declaration-only') == 'yes' or not is_extensible(name):
            continue
        yield name, el

base = {}
for name, el in structs(ET.parse(baseline).getroot()):
    members = [m for m in el if m.tag == 'data-member']
    base[name] = (len(members), int(el.get('size-in-bits', '0')))

base_enums = {}
for el in ET.parse(baseline).getroot().iter('enum-decl'):
    base_enums[el.get('name', '')] = {e.get('name') for e in el.iter('enumerator')}

tree = ET.parse(current)
for el in tree.getroot().iter('enum-decl'):
    name = el.get('name', '')
    if name not in base_enums:
        continue
    added = [e for e in el if e.tag == 'enumerator' and e.get('name') not in base_enums[name]]
    for e in added:
        el.remove(e)
    if added:
        print('  enum %s: %s' % (name, ', '.join(e.get('name', '?') for e in added)))

# The descriptor's `ops` union: a pointer member appended at its end, the
# union's size unchanged, is how a new plugin kind arrives (the members
# before it keep their offset 0 and type). The union is anonymous: it is
# found as the type of the descriptor's member `ops` in both files.
def ops_union(root):
    types = {el.get('id'): el for el in root.iter('union-decl')}
    for el in root.iter('class-decl'):
        if el.get('name') != 'nbx_plugin_descriptor' or el.get('is-declaration-only') == 'yes':
            continue
        for m in el:
            v = m.find('var-decl')
            if m.tag == 'data-member' and v is not None and v.get('name') == 'ops':
                return types.get(v.get('type-id'))
    return None

def pointer_ids(root):
    return {el.get('id') for el in root.iter('pointer-type-def')}

base_union = ops_union(ET.parse(baseline).getroot())
union = ops_union(tree.getroot())
if base_union is not None and union is not None:
    n = len([m for m in base_union if m.tag == 'data-member'])
    members = [m for m in union if m.tag == 'data-member']
    pointers = pointer_ids(tree.getroot())
    extra = members[n:]
    if (extra and union.get('size-in-bits') == base_union.get('size-in-bits') and
            all(m.find('var-decl') is not None and
                m.find('var-decl').get('type-id') in pointers for m in extra)):
        for m in extra:
            union.remove(m)
        print('  union nbx_plugin_descriptor.ops: %s' %
              ', '.join(m.find('var-decl').get('name', '?') for m in extra))

for name, el in structs(tree.getroot()):
    if name not in base:
        continue
    n, size = base[name]
    members = [m for m in el if m.tag == 'data-member']
    if len(members) <= n:
        continue  # nothing appended; a removal is for abidiff to report
    appended = []
    for m in members[n:]:
        v = m.find('var-decl')
        appended.append(v.get('name', '?') if v is not None else '?')
        el.remove(m)
    if int(el.get('size-in-bits', '0')) > size:
        el.set('size-in-bits', str(size))
    print('  struct %s: %s' % (name, ', '.join(appended)))
tree.write(cut_out, encoding='unicode')
EOF
then
	echo "check-abi: the append-only check could not run ($PYTHON)" >&2
	exit 1
fi
abidiff_run "$tmp/strict.ini" "$baseline" "$tmp/current-cut.xml" "$tmp/report2" --harmless
rc2=$?

if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; then
	echo "check-abi: OK, no incompatible change against $baseline"
	if [ -s "$tmp/appended" ]; then
		echo "appended (a minor version: bump NBX_ABI_MINOR, then update-baseline.sh):"
		cat "$tmp/appended"
	fi
	exit 0
fi

echo "check-abi: the plugin ABI changed incompatibly with $baseline"
if [ "$rc1" -ne 0 ]; then
	echo "--- abidiff (exit status $rc1) ---"
	cat "$tmp/report1"
fi
if [ "$rc2" -ne 0 ]; then
	echo "--- abidiff, append-only check: the ABI without its appends, harmless changes included (exit status $rc2) ---"
	cat "$tmp/report2"
fi
echo "$regen_hint"
exit 1
