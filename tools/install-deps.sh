#!/usr/bin/env bash
# Installs, from Debian's packages, what nestbox needs to build, test and run
# its demo. Safe to run again: it only calls apt when a package is missing.
set -euo pipefail
packages=(
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	libglib2.0-dev libjson-glib-dev libconfig-dev
	abigail-tools libsqlite3-dev libsoup-3.0-dev libmicrohttpd-dev libarchive-dev libssl-dev time valgrind
	libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon-system
	qemu-system-x86 qemu-utils busybox-static kmod zstd iproute2 python3 libpcap-dev tcpdump
	curl prometheus chromium
	libnl-3-dev libnl-route-3-dev libacl1-dev libnftables-dev libnetfilter-conntrack-dev nftables
	libsystemd-dev systemd scdoc groff-base bash-completion
)
missing=()
for package in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$package")
done
if ((${#missing[@]})); then
	sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
	echo "installing: ${missing[*]}" >&2
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
		-o Dpkg::Options::=--force-confold "${missing[@]}"
fi
# The peer agents the tests run as guests (CAPE's agent.py, GPL, not in our
# tree), into the user's cache; without a network the peer test skips.
"$(dirname "$0")/fetch-peer-agents.sh" cape >/dev/null ||
	echo "install-deps: CAPE's agent.py not fetched: the guest-daemon-cape test will skip" >&2
