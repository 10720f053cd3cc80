# -*- coding: utf-8 -*-
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The nestbox guest helper. nestbox's "agent" guest plugin writes a copy of
# this file, with SPEC filled in, into a fresh directory of the guest and has
# the agent run it (POST /execpy, or /execute with an interpreter). It does
# the one job SPEC names and leaves its results beside itself as files, which
# the host fetches with POST /retrieve:
#
#   run    runs a command (SPEC argv, or command with shell); its stdout and
#          stderr go to the files "stdout" and "stderr", at most SPEC limit
#          bytes each (the rest is read and dropped, so the command never
#          blocks on a full pipe); "started" holds its pid once it runs, and
#          "result" how it ended. Exits with the command's exit code, so an
#          agent that reports exit codes (CAPE's /execpy) reports it too.
#   clock  sets the system clock to SPEC time (Unix seconds, UTC); "result"
#          says whether it could.
#   list   lists the regular files matching the glob SPEC pattern (at most
#          SPEC limit) into "result".
#
# Runs under Python 2.7 and 3: Cuckoo 2's agent runs it with Python 2. It
# writes only into its own directory and prints one summary line.
import base64
import json
import os
import subprocess
import sys
import threading
import time

SPEC = "@SPEC@"

HERE = os.path.dirname(os.path.abspath(__file__))
PY2 = sys.version_info[0] == 2
WINDOWS = os.name == "nt"
# Once the command has exited, how long its output may stay open (a child it
# left behind holds the pipes) before the result is written anyway.
OUTPUT_GRACE_S = 2.0


def here(name):
    return os.path.join(HERE, name)


def write_json(name, value):
    """Writes here/NAME atomically: the host never reads half a file."""
    temporary = here(name + ".tmp")
    with open(temporary, "wb") as f:
        f.write(json.dumps(value).encode("ascii"))
    os.rename(temporary, here(name))


def native(text):
    """What subprocess takes on this Python: bytes on Python 2."""
    if PY2 and not isinstance(text, str):
        return text.encode("mbcs" if WINDOWS else "utf-8")
    return text


def describe(error):
    try:
        return "%s: %s" % (type(error).__name__, error)
    except Exception:
        return type(error).__name__


class Capture(threading.Thread):
    """Copies one pipe into here/NAME, keeping at most LIMIT bytes."""

    def __init__(self, pipe, name, limit):
        threading.Thread.__init__(self)
        self.daemon = True
        self.fd = pipe.fileno()
        self.out = open(here(name), "wb")
        self.limit = limit
        self.written = 0
        self.truncated = False

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            keep = max(0, min(len(chunk), self.limit - self.written))
            if keep > 0:
                self.out.write(chunk[:keep])
                self.out.flush()
                self.written += keep
            if keep < len(chunk):
                self.truncated = True
        self.out.close()


def start_command(spec):
    argv = [native(word) for word in spec["argv"]]
    if spec.get("shell"):
        args = subprocess.list2cmdline(argv) if WINDOWS else native(spec["command"])
    else:
        args = argv
    cwd = spec.get("cwd") or None
    # Python 2 on Windows cannot close handles while redirecting them.
    close_fds = not (WINDOWS and PY2)
    with open(os.devnull, "rb") as devnull:
        return subprocess.Popen(args, shell=bool(spec.get("shell")),
                                cwd=native(cwd) if cwd else None, stdin=devnull,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=close_fds)


def run(spec):
    try:
        proc = start_command(spec)
    except Exception as error:
        write_json("result", {"started": False, "error": describe(error)})
        return 127, "not started: " + describe(error)
    write_json("started", {"pid": proc.pid})
    limit = int(spec["limit"])
    captures = [Capture(proc.stdout, "stdout", limit), Capture(proc.stderr, "stderr", limit)]
    for capture in captures:
        capture.start()
    code = proc.wait()
    until = time.time() + OUTPUT_GRACE_S
    for capture in captures:
        capture.join(max(0.0, until - time.time()))
    result = {
        "started": True,
        "pid": proc.pid,
        "stdout_truncated": captures[0].truncated,
        "stderr_truncated": captures[1].truncated,
        "output_open": any(capture.is_alive() for capture in captures),
    }
    if code < 0 and not WINDOWS:
        result["signal"] = -code
        write_json("result", result)
        return 128 - code, "killed by signal %d" % -code
    result["exit_code"] = code
    write_json("result", result)
    return code, "exit code %d" % code


def set_clock_posix(seconds):
    if hasattr(time, "clock_settime"):
        time.clock_settime(time.CLOCK_REALTIME, seconds)
        return
    import ctypes
    import ctypes.util

    class Timeval(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    value = Timeval(int(seconds), int((seconds - int(seconds)) * 1000000))
    if libc.settimeofday(ctypes.byref(value), None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def set_clock_windows(seconds):
    import ctypes
    import datetime

    class SystemTime(ctypes.Structure):
        _fields_ = [(name, ctypes.c_ushort) for name in (
            "wYear", "wMonth", "wDayOfWeek", "wDay", "wHour", "wMinute", "wSecond",
            "wMilliseconds")]

    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    value = SystemTime(moment.year, moment.month, moment.isoweekday() % 7, moment.day,
                       moment.hour, moment.minute, moment.second,
                       moment.microsecond // 1000)
    # SetSystemTime enables SE_SYSTEMTIME_NAME itself; an account without it fails.
    if not ctypes.windll.kernel32.SetSystemTime(ctypes.byref(value)):
        raise ctypes.WinError()


def clock(spec):
    seconds = float(spec["time"])
    previous = time.time()
    # Lets a test agent on a shared host run this without moving the host's clock.
    if os.environ.get("NESTBOX_HELPER_DRY_CLOCK"):
        write_json("result", {"set": False, "dry_run": True, "time": seconds,
                              "previous": previous})
        return 0, "clock not set (dry run)"
    try:
        if WINDOWS:
            set_clock_windows(seconds)
        else:
            set_clock_posix(seconds)
    except Exception as error:
        write_json("result", {"set": False, "error": describe(error), "previous": previous})
        return 1, "clock not set: " + describe(error)
    write_json("result", {"set": True, "time": seconds, "previous": previous})
    return 0, "clock set"


def printable_path(path):
    """The path as text JSON can carry, or None (an undecodable name)."""
    try:
        if PY2 and isinstance(path, str):
            return path.decode("utf-8")
        path.encode("utf-8")
        return path
    except (UnicodeError, AttributeError):
        return None


def list_files(spec):
    import glob

    limit = int(spec["limit"])
    files, skipped, truncated = [], 0, False
    for path in glob.iglob(spec["pattern"]):
        if not os.path.isfile(path):
            continue
        text = printable_path(path)
        if text is None:
            skipped += 1
            continue
        if len(files) >= limit:
            truncated = True
            break
        try:
            size = os.path.getsize(path)
        except OSError:
            size = -1
        files.append({"path": text, "size": size})
    write_json("result", {"files": files, "truncated": truncated, "skipped": skipped})
    return 0, "%d file(s)" % len(files)


def exit_status(code):
    """What os._exit() takes: a C int on Windows (NTSTATUS codes are over 2**31)."""
    if WINDOWS:
        code &= 0xFFFFFFFF
        return code - (1 << 32) if code >= (1 << 31) else code
    return min(max(code, 0), 255)


ACTIONS = {"run": run, "clock": clock, "list": list_files}


def main():
    spec = json.loads(base64.b64decode(SPEC).decode("utf-8"))
    action = ACTIONS.get(spec.get("action"))
    if action is None:
        write_json("result", {"error": "unknown action %r" % spec.get("action")})
        code, summary = 2, "unknown action"
    else:
        code, summary = action(spec)
    # pythonw (an agent started as agent.pyw) has no stdout at all.
    if sys.stdout is not None:
        sys.stdout.write("nestbox-helper: %s\n" % summary)
        sys.stdout.flush()
    # Not sys.exit(): a capture thread still blocked on a pipe a child of
    # the command holds must not keep this process alive.
    os._exit(exit_status(code))


if __name__ == "__main__":
    main()
