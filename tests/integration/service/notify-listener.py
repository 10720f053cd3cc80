#!/usr/bin/env python3
"""Listens on a datagram UNIX socket the way systemd listens on NOTIFY_SOCKET,
and appends each notification to LOG as one line: the sender's pid (from its
credentials, which systemd checks for NotifyAccess=main), then the
notification's assignments joined by " | ". Writes "LISTENING" first, so a
test knows when to start the service. Runs until killed.
Usage: notify-listener.py SOCKET LOG"""
import socket
import struct
import sys

path, log = sys.argv[1:3]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
with open(log, "a", buffering=1) as out:
    print("LISTENING", file=out)
    while True:
        data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = "?"
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = str(struct.unpack("iII", payload[:12])[0])
        fields = data.decode(errors="replace").strip().split("\n")
        print(f"pid={pid} " + " | ".join(fields), file=out)
