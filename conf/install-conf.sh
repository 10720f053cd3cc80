#!/bin/sh
# meson install script: the default configuration into CONF_DIR, one file at
# a time, never over a file that is there: once a file exists it is the
# administrator's, even if it is the default unchanged. The defaults are
# installed (and replaced) in DEFAULTS_DIR, to compare with; a kept file
# that differs from its new default is named.
# Usage: install-conf.sh DEFAULTS_DIR CONF_DIR   (absolute, before DESTDIR)
set -eu
defaults=${DESTDIR:-}$1 conf=${DESTDIR:-}$2
cd "$defaults"
find . -type f -name '*.conf' | sort | while read -r file; do
	target=$conf/${file#./}
	if [ -e "$target" ] || [ -L "$target" ]; then
		cmp -s "$file" "$target" ||
			echo "Kept $target (yours); the new default is $defaults/${file#./}"
		continue
	fi
	mkdir -p "$(dirname "$target")"
	# Beside it first, then renamed: a full disk leaves no half file.
	cp "$file" "$target.new-default"
	chmod 0644 "$target.new-default"
	mv "$target.new-default" "$target"
	echo "Installing $target"
done
