#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-plugin-symbols.py PLUGIN.so... -- what -Wl,--no-undefined checks,
for the sanitized build too.

A plugin reaches the core only through the host-services table, so it must
have no undefined symbol that its own libraries (DT_NEEDED) do not define.
The unsanitized build links every plugin with -Wl,--no-undefined; under
clang's sanitizers a module cannot resolve the sanitizer runtime at link
time, so that build links without it and this check runs instead: every
undefined symbol of each plugin must be defined by a library it needs, be
weak, or belong to the sanitizer runtime. A symbol of the core (nbx_*) is
named as such.

Options: --expect-refused PLUGIN.so (may repeat): that plugin must FAIL the
check (the self-test that proves the check can fail).
Exit status 0 when every plugin is as expected, 1 otherwise.
"""
import re
import subprocess
import sys

SANITIZER = re.compile(r'^(__asan_|__ubsan_|__sanitizer_|__lsan_|__interceptor_|__msan_|'
                       r'__tsan_|__sancov_|__llvm_)')


def undefined_symbols(path):
    out = subprocess.run(['nm', '-D', '--undefined-only', '--format=posix', path],
                         check=True, capture_output=True, text=True).stdout
    symbols = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == 'U':
            symbols.append(fields[0].split('@')[0])
    return symbols


def needed_libraries(path):
    out = subprocess.run(['ldd', path], capture_output=True, text=True).stdout
    libraries = []
    for line in out.splitlines():
        match = re.search(r'=>\s+(/\S+)', line) or re.match(r'\s*(/\S+)', line)
        if match:
            libraries.append(match.group(1))
    return libraries


def defined_symbols(library, cache={}):
    if library not in cache:
        out = subprocess.run(['nm', '-D', '--defined-only', '--format=posix', library],
                             capture_output=True, text=True).stdout
        cache[library] = {line.split()[0].split('@')[0] for line in out.splitlines() if line}
    return cache[library]


def problems_of(path):
    defined = set()
    for library in needed_libraries(path):
        defined |= defined_symbols(library)
    problems = []
    for symbol in undefined_symbols(path):
        if symbol in defined or SANITIZER.match(symbol):
            continue
        if symbol.startswith('nbx_'):
            problems.append('%s: reaches for the core symbol %s; a plugin reaches the core '
                            'only through struct nbx_host' % (path, symbol))
        else:
            problems.append('%s: undefined symbol %s, defined by none of its libraries'
                            % (path, symbol))
    return problems


def main(argv):
    expect_refused = set()
    plugins = []
    args = iter(argv)
    for arg in args:
        if arg == '--expect-refused':
            expect_refused.add(next(args))
        else:
            plugins.append(arg)
    failed = False
    for path in plugins + sorted(expect_refused):
        problems = problems_of(path)
        if path in expect_refused:
            if not problems:
                print('FAIL: %s passed, but it reaches for a core symbol on purpose' % path)
                failed = True
            else:
                print('ok: %s refused as it must be: %s' % (path, problems[0]))
            continue
        for problem in problems:
            print('FAIL: ' + problem)
        failed |= bool(problems)
        if not problems:
            print('ok: %s' % path)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
