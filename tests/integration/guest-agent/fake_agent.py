#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for the agent inside a guest, for the guest plugin's tests.

It speaks the Cuckoo/CAPE agent protocol with the quirks of the real agents
that matter to a client, in one of three flavours:

  cape     CAPE's agent.py 0.22: HTTP/1.0 answers with no Content-Length
           (the body ends with the connection), /execute split with shlex,
           refused to 127.0.0.1 and to the agent's own address, "async" and
           "shell" as presence flags, /execpy with exit codes (a failing
           script answers 400 with "exitcode"), GET /status reporting an
           async /execpy's exit code once, chunked bodies read as empty.
  cuckoo2  Cuckoo 2's agent 0.10: no "execute" feature (its /execute runs
           the command string unsplit), /execpy without exit codes, one
           request at a time, 404 with Content-Length: 0.
  nestbox  nestbox-agent's extensions as its PROTOCOL.md has them:
           execute_exitcode, process, list, clock.

And it misbehaves on demand (--fault, on every route or --fault-route):
silent, garbage, huge, huge_declared, deep_json, short_body,
close_mid_body, trickle, not_agent, not_found, refuse_execute,
stall_upload. It never moves the clock of the host the test runs on: Python
files it runs get NESTBOX_HELPER_DRY_CLOCK=1 (the plugin's helper then only
says what it would set), /execute of `date ... -s @N` is answered as if
done (N printed, not run), and /clock of the nestbox flavour sets nothing.

It writes STATE/ready once it listens and one JSON line per request to
STATE/requests.jsonl. Written for nestbox's tests; stdlib only.
"""
import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

MIB = 1024 * 1024
HUGE_BYTES = 100 * MIB
DEEP_LEVELS = 10000
STALL_AFTER_BYTES = 256 * 1024

FEATURES = {
    "cape": ["execpy", "execute", "pinning", "logs", "largefile", "unicodepath",
             "subdir_upload"],
    "cuckoo2": ["execpy", "pinning", "logs", "largefile", "unicodepath"],
    "nestbox": ["execute", "pinning", "logs", "largefile", "unicodepath", "subdir_upload",
                "execute_exitcode", "process", "list", "clock"],
}
NAMES = {"cape": "CAPE Agent!", "cuckoo2": "Cuckoo Agent!", "nestbox": "nestbox-agent"}
VERSIONS = {"cape": "0.22", "cuckoo2": "0.10", "nestbox": "0.22"}


class Agent:
    """What the agent remembers between requests."""

    def __init__(self, options):
        self.options = options
        self.lock = threading.Lock()
        self.status = "init"
        self.description = ""
        self.async_process = None
        self.pinned = None
        self.processes = {}
        self.log_lines = ["fake agent started"]

    def record(self, entry):
        with self.lock:
            with open(os.path.join(self.options.state, "requests.jsonl"), "a") as log:
                log.write(json.dumps(entry) + "\n")


def parse_multipart(body, content_type):
    """Fields and files of a multipart/form-data body (the client's framing)."""
    boundary = None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"').encode()
    form, files = {}, {}
    if boundary is None:
        return form, files
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        disposition = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for item in line.split(";")[1:]:
                    key, _, value = item.strip().partition("=")
                    disposition[key.lower()] = value.strip('"')
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            files[name] = data
        else:
            form[name] = data.decode("utf-8", "replace")
    return form, files


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "FakeAgent"

    def log_message(self, *args):
        pass

    @property
    def agent(self):
        return self.server.agent

    @property
    def flavor(self):
        return self.agent.options.flavor

    # ---- answers ------------------------------------------------------

    def answer(self, status, values, length=True):
        """JSON as the flavour sends it: CAPE sends no Content-Length."""
        body = json.dumps(values).encode()
        self.send_response(status)
        if self.flavor != "cape" and length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def success(self, message, **values):
        self.answer(200, dict(message=message, **values))

    def error(self, status, message, **values):
        self.answer(status, dict(message=message, error_code=status, **values))

    # ---- faults -------------------------------------------------------

    def fault(self):
        options = self.agent.options
        if options.fault is None:
            return None
        if options.fault_route is not None and options.fault_route != self.path:
            return None
        return options.fault

    def wait_for_client_to_leave(self):
        self.connection.settimeout(1.0)
        while True:
            try:
                if not self.connection.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def play_fault(self, fault):
        """Plays @fault on this request; False when it leaves the request to the route."""
        write = self.wfile.write
        if fault == "silent":
            self.wait_for_client_to_leave()
        elif fault == "garbage":
            write(b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n")
        elif fault in ("huge", "huge_declared"):
            write(b"HTTP/1.0 200 OK\r\n")
            if fault == "huge_declared":
                write(b"Content-Length: %d\r\n" % HUGE_BYTES)
            write(b"\r\n{\"message\": \"")
            chunk = b"a" * MIB
            try:
                for _ in range(HUGE_BYTES // MIB):
                    write(chunk)
            except OSError:
                pass
        elif fault == "deep_json":
            self.send_response(200)
            self.end_headers()
            write(b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS)
        elif fault == "short_body":
            write(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n{\"message\": \"cut")
        elif fault == "close_mid_body":
            write(b"HTTP/1.0 200 OK\r\n\r\n{\"message\": \"CAPE Agent!\", \"vers")
        elif fault == "trickle":
            write(b"HTTP/1.0 200 OK\r\n\r\n")
            try:
                while True:
                    write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        elif fault == "not_agent":
            self.answer(200, {"hello": "world"})
        elif fault == "not_found":
            body = b"<html><body>404 Not Found</body></html>"
            write(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n" + body)
        elif fault == "refuse_execute" and self.path == "/execute":
            self.error(500, "Not allowed to execute commands")
        else:
            return False
        return True

    # ---- requests -----------------------------------------------------

    def read_body(self):
        """The body, as agent.py reads it: Content-Length bytes, none without it."""
        length = int(self.headers.get("Content-Length", "0") or 0)
        if self.fault() == "stall_upload" and self.path == "/store":
            self.rfile.read(min(length, STALL_AFTER_BYTES))
            open(os.path.join(self.agent.options.state, "stalled"), "w").close()
            # Reads nothing more: the client's writes fill the socket's buffers and block.
            while True:
                time.sleep(3600)
        return self.rfile.read(length) if length > 0 else b""

    def parse_form(self, body):
        content_type = self.headers.get("Content-Type", "")
        media = content_type.split(";")[0].strip().lower()
        if media == "multipart/form-data":
            return parse_multipart(body, content_type)
        if media == "application/x-www-form-urlencoded":
            parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            return {key: values[-1] for key, values in parsed.items()}, {}
        return {}, {}

    def handle_request(self, method):
        fault = self.fault()
        body = b"" if method == "GET" else self.read_body()
        if body is None:
            return
        self.form, self.files = self.parse_form(body)
        self.agent.record({
            "method": method, "path": self.path, "client": self.client_address[0],
            "content_length": self.headers.get("Content-Length"),
            "transfer_encoding": self.headers.get("Transfer-Encoding"),
            "form": self.form, "files": {k: len(v) for k, v in self.files.items()},
        })
        pinned = self.agent.pinned
        if pinned is not None and self.client_address[0] != pinned:
            return  # a pinned agent ignores everyone else, without a word
        if fault is not None and self.play_fault(fault):
            return
        route = ROUTES.get((method, self.path))
        if route is None:
            self.error(404, "Route not found")
            return
        route(self)

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        self.handle_request("POST")

    # ---- routes -------------------------------------------------------

    def route_index(self):
        values = {"version": VERSIONS[self.flavor], "features": FEATURES[self.flavor]}
        if self.flavor == "cape":
            values["is_user_admin"] = True
        self.success(NAMES[self.flavor], **values)

    def route_status(self):
        agent = self.agent
        process = agent.async_process
        if self.flavor == "cape" and process is not None and agent.status != "complete":
            code = process.poll()
            if code is None:
                self.success("Analysis status", status="running", description="",
                             process_id=process.pid)
                return
            agent.async_process = None
            agent.status = "complete" if code == 0 else "failed"
            agent.description = "" if code == 0 else "Exited with exit code %d" % code
            self.success("Analysis status", status=agent.status,
                         description=agent.description, exitcode=code)
            return
        self.success("Analysis status", status=agent.status, description=agent.description)

    def route_mkdtemp(self):
        prefix = self.form.get("prefix", "tmp" if self.flavor == "cuckoo2" else "")
        path = tempfile.mkdtemp(prefix=prefix, dir=self.agent.options.root)
        self.success("Successfully created temporary directory", dirpath=path)

    def route_mkdir(self):
        if "dirpath" not in self.form:
            self.error(400, "No dirpath has been provided")
            return
        os.makedirs(self.form["dirpath"], exist_ok=True)
        self.success("Successfully created directory")

    def route_store(self):
        if "filepath" not in self.form:
            self.error(400, "No filepath has been provided")
            return
        if "file" not in self.files:
            self.error(400, "No file has been provided")
            return
        try:
            with open(self.form["filepath"], "wb") as f:
                f.write(self.files["file"])
        except OSError as error:
            self.error(500, "Error storing file: %s" % error)
            return
        self.success("Successfully stored file")

    def route_retrieve(self):
        if "filepath" not in self.form:
            self.error(400, "No filepath has been provided")
            return
        path = self.form["filepath"]
        if not os.path.isfile(path):
            self.send_response(404)
            if self.flavor != "cape":
                self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.end_headers()
        with open(path, "rb") as f:
            while True:
                chunk = f.read(MIB)
                if not chunk:
                    break
                self.wfile.write(chunk)

    def is_local_client(self):
        return self.client_address[0] in ("127.0.0.1", self.agent.options.bind)

    def route_execute(self):
        if "command" not in self.form:
            self.error(400, "No command has been provided")
            return
        if self.flavor == "cape" and self.is_local_client():
            self.error(500, "Not allowed to execute commands")
            return
        shell = "shell" in self.form
        is_async = "async" in self.form
        if self.play_date(self.form["command"]):
            return
        # Cuckoo 2 hands the string to Popen as it is; the others split it.
        args = self.form["command"] if self.flavor == "cuckoo2" else shlex.split(self.form["command"])
        cwd = self.form.get("cwd")
        if self.flavor == "nestbox":
            self.execute_extended(args, shell, is_async, cwd)
            return
        try:
            if is_async:
                subprocess.Popen(args, shell=shell, cwd=cwd)
                stdout = stderr = None
            else:
                done = subprocess.run(args, shell=shell, cwd=cwd, capture_output=True)
                stdout = done.stdout.decode("utf-8", "replace")
                stderr = done.stderr.decode("utf-8", "replace")
        except OSError as error:
            self.error(500, "Error executing command: %s" % error)
            return
        self.agent.status = "running"
        self.success("Successfully executed command", stdout=stdout, stderr=stderr)

    def play_date(self, command):
        """`date ... -s @N +%s` answered as if the clock were set: never set a test host's clock."""
        words = shlex.split(command)
        if not words or words[0] != "date" or "-s" not in words:
            return False
        when = words[words.index("-s") + 1].lstrip("@")
        self.agent.record({"clock_set_to": when})
        self.success("Successfully executed command", stdout=when + "\n", stderr="")
        return True

    def execute_extended(self, args, shell, is_async, cwd):
        if shell:
            args = ["/bin/sh", "-c"] + args
        if is_async:
            base = tempfile.mktemp(dir=self.agent.options.root)
            out, err = base + ".stdout", base + ".stderr"
            with open(out, "wb") as o, open(err, "wb") as e:
                process = subprocess.Popen(args, cwd=cwd, stdout=o, stderr=e)
            self.agent.processes[process.pid] = (process, out, err)
            self.success("Successfully executed command", stdout=None, stderr=None,
                         process_id=process.pid, stdout_path=out, stderr_path=err)
            return
        done = subprocess.run(args, cwd=cwd, capture_output=True)
        self.success("Successfully executed command", stdout=done.stdout.decode("utf-8", "replace"),
                     stderr=done.stderr.decode("utf-8", "replace"), exitcode=done.returncode,
                     stdout_truncated=False, stderr_truncated=False)

    def route_execpy(self):
        if "filepath" not in self.form:
            self.error(400, "No Python file has been provided")
            return
        args = [sys.executable, self.form["filepath"]]
        cwd = self.form.get("cwd")
        env = dict(os.environ, NESTBOX_HELPER_DRY_CLOCK="1")
        agent = self.agent
        if "async" in self.form:
            if self.flavor == "cape" and agent.status == "running" and agent.async_process:
                self.error(400, "Async process already running.")
                return
            process = subprocess.Popen(args, cwd=cwd, env=env)
            agent.status = "running"
            if self.flavor == "cape":
                agent.async_process = process
                self.success("Successfully spawned command", process_id=process.pid)
            else:
                self.success("Successfully executed command", stdout=None, stderr=None)
            return
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True)
        stdout = done.stdout.decode("utf-8", "replace")
        stderr = done.stderr.decode("utf-8", "replace")
        if self.flavor == "cape" and done.returncode != 0:
            agent.status = "failed"
            self.error(400, "Error executing python command.", stdout=stdout, stderr=stderr,
                       exitcode=done.returncode)
            return
        self.success("Successfully executed command", stdout=stdout, stderr=stderr)

    def route_logs(self):
        self.success("Agent logs", stdout="\n".join(self.agent.log_lines), stderr="")

    def route_pinning(self):
        if self.agent.pinned is not None:
            self.error(500, "Agent has already been pinned to an IP!")
            return
        self.agent.pinned = self.client_address[0]
        self.success("Successfully pinned Agent", client_ip=self.agent.pinned)

    def route_kill(self):
        self.success("Quit the agent")
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def route_process(self):
        entry = self.agent.processes.get(int(self.form.get("process_id", "0") or 0))
        if entry is None:
            self.error(404, "No process")
            return
        process, out, err = entry
        code = process.poll()
        self.success("Process status", process_id=process.pid,
                     status="running" if code is None else "exited", exitcode=code,
                     stdout_path=out, stderr_path=err)

    def route_list(self):
        import glob
        limit = int(self.form.get("limit", "1000"))
        files = [{"path": p, "size": os.path.getsize(p)}
                 for p in sorted(glob.glob(self.form.get("pattern", ""))) if os.path.isfile(p)]
        self.success("Files matching the pattern", files=files[:limit],
                     truncated=len(files) > limit)

    def route_clock(self):
        seconds = float(self.form.get("time", "0"))
        self.success("Clock set", time=seconds, previous=time.time(), set=True)


ROUTES = {
    ("GET", "/"): Handler.route_index,
    ("GET", "/status"): Handler.route_status,
    ("POST", "/mkdtemp"): Handler.route_mkdtemp,
    ("POST", "/mkdir"): Handler.route_mkdir,
    ("POST", "/store"): Handler.route_store,
    ("POST", "/retrieve"): Handler.route_retrieve,
    ("POST", "/execute"): Handler.route_execute,
    ("POST", "/execpy"): Handler.route_execpy,
    ("GET", "/logs"): Handler.route_logs,
    ("GET", "/pinning"): Handler.route_pinning,
    ("GET", "/kill"): Handler.route_kill,
}
EXTENSION_ROUTES = {
    ("POST", "/process"): Handler.route_process,
    ("POST", "/list"): Handler.route_list,
    ("POST", "/clock"): Handler.route_clock,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--root", required=True, help="where /mkdtemp makes directories")
    parser.add_argument("--state", required=True, help="where ready and requests.jsonl go")
    parser.add_argument("--flavor", choices=sorted(FEATURES), default="cape")
    parser.add_argument("--fault", default=None)
    parser.add_argument("--fault-route", default=None)
    parser.add_argument("--features", default=None,
                        help="comma-separated features to announce instead of the flavour's")
    parser.add_argument("--listen-after", default=None,
                        help="listen only once this file exists")
    parser.add_argument("--pinned-to", default=None,
                        help="start pinned to this client address (GET /pinning by another host)")
    options = parser.parse_args()
    if options.features is not None:
        FEATURES[options.flavor] = [f for f in options.features.split(",") if f]
    while options.listen_after and not os.path.exists(options.listen_after):
        time.sleep(0.01)
    if options.flavor == "nestbox":
        ROUTES.update(EXTENSION_ROUTES)
    # What it and the programs it runs print goes to a log, not into the
    # test's output (an async /execpy inherits these, as agent.py's console).
    log = os.open(os.path.join(options.state, "agent.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    # Cuckoo 2's agent serves one request at a time.
    server_class = HTTPServer if options.flavor == "cuckoo2" else ThreadingHTTPServer
    server_class.allow_reuse_address = True
    server = server_class((options.bind, options.port), Handler)
    server.daemon_threads = True
    server.agent = Agent(options)
    server.agent.pinned = options.pinned_to
    open(os.path.join(options.state, "ready"), "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
