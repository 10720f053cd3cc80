#!/usr/bin/env python3
"""Runs a command with its standard output and error connected to journald's
stream socket and JOURNAL_STREAM set, as systemd does for a service whose
output goes to the journal (systemd-cat does not set JOURNAL_STREAM).
Usage: journal-stream.py IDENTIFIER COMMAND [ARGS...]"""
import os
import socket
import sys

identifier, command = sys.argv[1], sys.argv[2:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect("/run/systemd/journal/stdout")
# identifier, unit, priority, level prefix, to syslog, to kmsg, to console
sock.sendall(f"{identifier}\n\n6\n0\n0\n0\n0\n".encode())
st = os.fstat(sock.fileno())
os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
os.dup2(sock.fileno(), 1)
os.dup2(sock.fileno(), 2)
os.execvp(command[0], command)
