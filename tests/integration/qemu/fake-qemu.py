#!/usr/bin/env python3
# fake-qemu.py - a scripted stand-in for qemu-system-x86_64, for tests of how
# the qemu machinery maps what QEMU reports (panics, I/O errors, pauses) that
# a real guest cannot be made to do on demand.
#
# Speaks QMP on the listening socket the plugin passes as fd 3, accepts a
# restore (getfd, migrate-incoming) and reports the guest running. Then, when
# the test sends it SIGUSR1 (once the restore has returned: no guess at how
# long that takes), plays the scenario named by "-nbx-scenario NAME" in its
# arguments:
#   panic      GUEST_PANICKED + STOP; query-status says guest-panicked
#   io-error   BLOCK_IO_ERROR (action stop) + STOP; query-status says io-error
#   internal   STOP; query-status says internal-error
#   pause      STOP; query-status says paused (someone else's `stop`)
# and answers query-status accordingly until `quit`, when it exits. It has a
# VNC server (query-vnc) for snapshot sessions, and its guest never gives back
# a hot-plugged device: device_del is accepted, DEVICE_DELETED never comes.
import json
import os
import select
import signal
import socket
import sys
import time

if "-version" in sys.argv or "--version" in sys.argv:
    print("QEMU emulator version 7.2.0 (fake-qemu.py)")
    sys.exit(0)

scenario = sys.argv[sys.argv.index("-nbx-scenario") + 1] if "-nbx-scenario" in sys.argv else "none"
listener = socket.socket(fileno=3)
conn, _ = listener.accept()
listener.close()
status = "inmigrate"
played = False


def send(obj):
    conn.sendall((json.dumps(obj) + "\r\n").encode())


def event(name, data=None):
    obj = {"event": name, "timestamp": {"seconds": int(time.time()), "microseconds": 0}}
    if data is not None:
        obj["data"] = data
    send(obj)


def play():
    global status
    if scenario == "panic":
        event("GUEST_PANICKED", {"action": "pause", "info": {"type": "hyper-v", "arg1": 0,
                                 "arg2": 0, "arg3": 0, "arg4": 0, "arg5": 0}})
        event("STOP")
        status = "guest-panicked"
    elif scenario == "io-error":
        event("BLOCK_IO_ERROR", {"device": "", "node-name": "disk0", "operation": "write",
                                 "action": "stop", "nospace": True,
                                 "reason": "No space left on device"})
        event("STOP")
        status = "io-error"
    elif scenario == "internal":
        event("STOP")
        status = "internal-error"
    elif scenario == "pause":
        event("STOP")
        status = "paused"


send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "fake"},
              "capabilities": []}})
# SIGUSR1 wakes the loop through a pipe: the scenario is played between two
# commands, never in the middle of one.
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGUSR1, lambda signum, frame: None)
buf = b""
while True:
    ready, _, _ = select.select([conn, wake_r], [], [])
    if wake_r in ready:
        os.read(wake_r, 64)
        if status == "running" and not played:
            played = True
            play()
        continue
    data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
    for fd in fds:
        os.close(fd)
    if not data:
        break
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        command = json.loads(line)
        name, cid = command.get("execute"), command.get("id")
        if name == "migrate-incoming":
            send({"return": {}, "id": cid})
            event("MIGRATION", {"status": "completed"})
            status = "running"
            event("RESUME")
        elif name == "query-status":
            send({"return": {"status": status, "running": status == "running"}, "id": cid})
        elif name == "query-vnc":
            send({"return": {"enabled": True, "host": "127.0.0.1", "service": "5999",
                             "family": "ipv4", "auth": "none", "clients": []}, "id": cid})
        elif name == "cont":
            send({"error": {"class": "GenericError", "desc": "fake-qemu: no cont for %s" % status},
                  "id": cid})
        elif name == "quit":
            send({"return": {}, "id": cid})
            event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
            sys.exit(0)
        else:
            send({"return": {}, "id": cid})
