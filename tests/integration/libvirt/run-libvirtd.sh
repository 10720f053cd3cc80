#!/bin/sh
# run-libvirtd.sh DIR - run libvirtd in the foreground with all of its
# state under DIR, never the host's: a private mount namespace binds DIR's
# subdirectories over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /var/log/libvirt. Its socket is DIR/sock/libvirt-sock.
# DIR persists across restarts, so a libvirtd started again on the same DIR
# finds the QEMUs the previous one left running, as after a real restart.
# The pid of this script is libvirtd's (everything is exec'd).
set -eu
dir=$1
mkdir -p "$dir/etc" "$dir/run" "$dir/lib" "$dir/cache/qemu/capabilities" "$dir/log" "$dir/sock"
if [ ! -f "$dir/etc/libvirtd.conf" ]; then
	cat >"$dir/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$dir/sock"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$dir/libvirtd.log"
CONF
	cat >"$dir/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
CONF
fi
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt
exec unshare --mount --propagation private -- sh -ec '
	mount --bind "$1/etc" /etc/libvirt
	mount --bind "$1/run" /run/libvirt
	mount --bind "$1/lib" /var/lib/libvirt
	mount --bind "$1/cache" /var/cache/libvirt
	mount --bind "$1/log" /var/log/libvirt
	exec libvirtd --config "$1/etc/libvirtd.conf" --pid-file "$1/libvirtd.pid"
' run-libvirtd "$dir"
