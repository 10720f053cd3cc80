#!/usr/bin/env python3
"""Small QMP / HTTP helper for build-demo-guest and its integration test.

Standard library only (Debian's python3-minimal is enough).  Every command
prints diagnostics on stderr; results meant for the calling shell go to
stdout.

  nbx-qmp.py wait-qmp   SOCK TIMEOUT
  nbx-qmp.py save       SOCK OUTFILE [TIMEOUT]
        QMP stop, getfd (OUTFILE opened here, passed with SCM_RIGHTS, so no
        shell ever sees the path), migrate fd:, poll query-migrate.
  nbx-qmp.py restore    SOCK INFILE raw|zstd [TIMEOUT]
        getfd of INFILE (or of a pipe from `zstd -dc INFILE`),
        migrate-incoming fd:, wait until query-status leaves inmigrate, cont.
  nbx-qmp.py quit       SOCK
  nbx-qmp.py wait-http  URL EXPECT TIMEOUT [WATCH_PID]
        GET URL until the body contains EXPECT; prints the seconds waited.
        Gives up early when WATCH_PID (QEMU) is gone.  Run it inside the
        network namespace of the guest.
  nbx-qmp.py write-info OUT ARGSFILE KEY=VALUE...
        Writes machineinfo.json; ARGSFILE holds start_args, NUL-separated.
        KEY:=VALUE stores VALUE as JSON (numbers, lists).
  nbx-qmp.py get        MACHINEINFO KEY
  nbx-qmp.py start-args MACHINEINFO DISK TAP
        start_args NUL-separated, %DISPOSABLE_DISK_PATH% and
        %TAP_INTERFACE% substituted.
"""

import json
import os
import socket
import subprocess
import sys
import time


def log(msg):
    print(f"nbx-qmp: {msg}", file=sys.stderr, flush=True)


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError(f"unexpected greeting {greeting!r}")
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, fds=None, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise QMPError(f"{name}: {reply['error'].get('desc', reply)}")
            return reply.get("return")

    def close(self):
        self.sock.close()


def wait_qmp(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            q = QMP(path, timeout=2.0)
            q.close()
            return 0
        except (OSError, EOFError, QMPError):
            if time.monotonic() > deadline:
                log(f"QMP socket {path} did not answer within {timeout}s")
                return 1
            time.sleep(0.01)


def save(path, outfile, timeout):
    q = QMP(path)
    q.cmd("stop")
    # A stopped guest migrates in one pass; lift the default bandwidth cap.
    q.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
    fd = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        q.cmd("getfd", fds=[fd], fdname="nbxout")
    finally:
        os.close(fd)  # QEMU holds its own duplicate now
    start = time.monotonic()
    q.cmd("migrate", uri="fd:nbxout")
    while True:
        info = q.cmd("query-migrate")
        status = info.get("status")
        if status == "completed":
            ram = info.get("ram", {})
            log(f"migration completed in {time.monotonic() - start:.2f}s, "
                f"{ram.get('transferred', 0)} bytes transferred, "
                f"{os.path.getsize(outfile)} bytes written")
            return 0
        if status in ("failed", "cancelled"):
            log(f"migration {status}: {info.get('error-desc', 'no reason given')}")
            return 1
        if time.monotonic() - start > timeout:
            log(f"migration still '{status}' after {timeout}s")
            return 1
        time.sleep(0.02)


def restore(path, infile, fmt, timeout):
    q = QMP(path)
    proc = None
    if fmt == "zstd":
        proc = subprocess.Popen(["zstd", "-dcq", "--", infile],
                                stdout=subprocess.PIPE)
        fd = proc.stdout.fileno()
    elif fmt == "raw":
        fd = os.open(infile, os.O_RDONLY)
    else:
        log(f"unknown snapshot format {fmt!r}")
        return 2
    try:
        q.cmd("getfd", fds=[fd], fdname="nbxin")
    finally:
        if proc:
            proc.stdout.close()
        else:
            os.close(fd)
    start = time.monotonic()
    q.cmd("migrate-incoming", uri="fd:nbxin")
    rc = 1
    while True:
        status = q.cmd("query-status").get("status")
        if status != "inmigrate":
            break
        if time.monotonic() - start > timeout:
            log(f"still inmigrate after {timeout}s")
            break
        time.sleep(0.005)
    loaded = time.monotonic() - start
    # The snapshot was saved from a stopped guest, so it arrives "paused".
    if status in ("paused", "postmigrate", "prelaunch"):
        q.cmd("cont")
        status = q.cmd("query-status").get("status")
    if status == "running":
        rc = 0
        log(f"incoming migration done in {loaded:.3f}s, guest running")
    else:
        mig = q.cmd("query-migrate")
        log(f"incoming migration not done after {loaded:.3f}s: guest "
            f"{status}, migration {mig.get('status')} "
            f"{mig.get('error-desc', '')}".rstrip())
    if proc:
        try:
            if proc.wait(timeout=10) != 0 and rc == 0:
                log(f"zstd exited with {proc.returncode}")
                rc = 1
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    q.close()
    return rc


def quit_(path):
    try:
        q = QMP(path)
        q.cmd("quit")
    except (EOFError, ConnectionResetError):
        pass
    return 0


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def http_get(host, port, path):
    with socket.create_connection((host, port), timeout=1.0) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), body.decode(errors="replace")


def wait_http(url, expect, timeout, watch_pid=None):
    if not url.startswith("http://"):
        log("only http:// URLs")
        return 2
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    start = time.monotonic()
    last = "no answer"
    while True:
        try:
            status, body = http_get(host, int(port), "/" + path)
            if expect in body:
                print(f"{time.monotonic() - start:.3f}")
                return 0
            last = f"{status}: {body.strip()[:80]!r}"
        except OSError as e:
            last = str(e)
        if watch_pid and not pid_alive(watch_pid):
            log(f"process {watch_pid} ended before {url} answered ({last})")
            return 1
        if time.monotonic() - start > timeout:
            log(f"{url} did not answer {expect!r} within {timeout}s ({last})")
            return 1
        time.sleep(0.02)


def write_info(out, argsfile, pairs):
    with open(argsfile, "rb") as f:
        args = [a.decode() for a in f.read().split(b"\0") if a]
    info = {}
    for p in pairs:
        k, v = p.split("=", 1)
        if k.endswith(":"):
            info[k[:-1]] = json.loads(v)
        else:
            info[k] = v
    info["start_args"] = args
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    c, a = argv[1], argv[2:]
    try:
        if c == "wait-qmp":
            return wait_qmp(a[0], float(a[1]))
        if c == "save":
            return save(a[0], a[1], float(a[2]) if len(a) > 2 else 120)
        if c == "restore":
            return restore(a[0], a[1], a[2], float(a[3]) if len(a) > 3 else 60)
        if c == "quit":
            return quit_(a[0])
        if c == "wait-http":
            return wait_http(a[0], a[1], float(a[2]),
                             int(a[3]) if len(a) > 3 and a[3] else None)
        if c == "write-info":
            return write_info(a[0], a[1], a[2:])
        if c == "get":
            with open(a[0]) as f:
                v = json.load(f)[a[1]]
            print(v if isinstance(v, str) else json.dumps(v))
            return 0
        if c == "start-args":
            with open(a[0]) as f:
                args = json.load(f)["start_args"]
            # Both placeholders sit inside QEMU option strings, where a
            # literal comma is written ",,".
            subst = {"%DISPOSABLE_DISK_PATH%": a[1].replace(",", ",,"),
                     "%TAP_INTERFACE%": a[2].replace(",", ",,")}
            out = []
            for arg in args:
                for k, v in subst.items():
                    arg = arg.replace(k, v)
                out.append(arg)
            sys.stdout.write("".join(x + "\0" for x in out))
            return 0
    except (OSError, EOFError, QMPError, KeyError, ValueError, IndexError) as e:
        log(f"{c}: {e}")
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
