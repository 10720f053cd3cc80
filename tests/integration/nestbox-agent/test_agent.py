#!/usr/bin/env python3
"""nestbox-agent, every route, over a real network (run by agent-netns.sh).

Usage: test_agent.py URL   (inside the client's network namespace)

Speaks raw HTTP through sockets where the bytes matter (malformed and
oversized requests, slow clients), and uses curl, a real client, for the
uploads and downloads (a unicode file name, 50 MB). Prints TAP. Waits
for events with deadlines that only catch hangs; asserts no time.
"""

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse

URL = sys.argv[1]
HOST, PORT = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port
WORK = os.environ["NBA_TEST_WORK"]
TMPDIR = os.environ["NBA_TEST_TMPDIR"]
OUTPUT = os.environ["NBA_TEST_OUTPUT"]
AGENT_NS = os.environ["NBA_TEST_AGENT_NS"]
AGENT_PID = int(os.environ["NBA_TEST_AGENT_PID"])
DEADLINE = 120  # seconds: only catches a hang

count = 0
failed = 0


def tap(ok, name, detail=""):
    global count, failed
    count += 1
    if not ok:
        failed += 1
    print(f"{'ok' if ok else 'not ok'} {count} - {name}", flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[:20]:
            print(f"#   {line}", flush=True)


class Answer:
    def __init__(self, raw):
        self.raw = raw
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0] if raw else ""
        parts = self.status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status_line!r} {self.body[:300]!r}>"


def raw(data, source=None, timeout=DEADLINE, shut=False):
    """Sends @data, reads until the agent closes; the answer."""
    with socket.create_connection((HOST, PORT), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        if data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return Answer(b"".join(chunks))


def request(method, path, body=b"", content_type=None, extra=b"", version="1.1"):
    head = f"{method} {path} HTTP/{version}\r\nHost: {HOST}\r\n".encode()
    if content_type:
        head += f"Content-Type: {content_type}\r\n".encode()
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n".encode()
    return raw(head + extra + b"\r\n" + body)


def urlencoded(fields):
    return urllib.parse.urlencode(fields).encode()


def multipart(fields, files=(), boundary="nbxTestBoundary7"):
    """fields: [(name, value)]; files: [(name, filename, bytes)], in that order unless files_first."""
    out = b""
    for name, value in fields:
        value = value.encode() if isinstance(value, str) else value
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        out += value + b"\r\n"
    for name, filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(path, fields=(), files=(), form="urlencoded"):
    if form == "urlencoded":
        return request("POST", path, urlencoded(fields), "application/x-www-form-urlencoded")
    body, ctype = multipart(fields, files)
    return request("POST", path, body, ctype)


def get(path):
    return request("GET", path)


def expect(answer, status, message=None, name=""):
    try:
        doc = answer.json() if answer.body else {}
    except ValueError:
        doc = None
    ok = answer.status == status and (message is None or (doc is not None and doc.get("message") == message))
    if ok and status >= 400 and doc is not None and answer.body:
        ok = doc.get("error_code") == status
    tap(ok, name or f"{status} {message}", repr(answer))
    return doc


def curl(*args, ns=None):
    cmd = ["curl", "-sS", "--max-time", str(DEADLINE)] + list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.run(cmd, capture_output=True, timeout=DEADLINE + 30)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_for(predicate, what):
    until = time.monotonic() + DEADLINE
    while time.monotonic() < until:
        if predicate():
            return True
        time.sleep(0.05)
    print(f"# waited {DEADLINE}s for {what}", flush=True)
    return False


# ---- the agent itself ---------------------------------------------------------

def test_index():
    a = get("/")
    doc = expect(a, 200, "nestbox-agent", "GET / answers")
    features = (doc or {}).get("features", [])
    tap(doc.get("version") == "0.22" and doc.get("is_user_admin") is True,
        "GET / says protocol 0.22 and root", doc)
    tap(all(f in features for f in ["execute", "pinning", "logs", "largefile", "unicodepath",
                                    "subdir_upload", "execute_exitcode", "process", "list", "clock"])
        and "execpy" not in features and "extract" not in features,
        "GET / announces agent.py's features it has and the extensions, not execpy", features)
    tap(a.body == json.dumps(doc).encode() and a.headers.get("content-length") == str(len(a.body))
        and a.headers.get("connection") == "close",
        "the JSON is written as json.dumps writes it, with a Content-Length", a.raw[:400])
    # HTTP/1.0 without headers, as the qemu tests and demo scripts ask
    b = raw(b"GET / HTTP/1.0\r\n\r\n")
    tap(b.status_line.startswith("HTTP/1.0 200") and b"nestbox-agent" in b.body,
        "a bare HTTP/1.0 GET / is answered in HTTP/1.0", b)


def test_status():
    expect(get("/status"), 200, "Analysis status", "GET /status")
    tap(get("/status").json()["status"] in ("init", "running"), "status starts as init")
    expect(post("/status", [("status", "complete"), ("description", "all done")]), 200,
           "Analysis status updated", "POST /status complete")
    doc = get("/status").json()
    tap(doc["status"] == "complete" and doc["description"] == "all done", "GET /status reads it back", doc)
    expect(post("/status", [("status", "2")]), 200, "Analysis status updated", "a status by number")
    doc = get("/status").json()
    tap(doc["status"] == "running" and doc["description"] is None,
        "status 2 is running; no description is null", doc)
    expect(post("/status", [("status", "bogus")]), 400, "No valid status has been provided", "a bad status")
    expect(post("/status"), 400, "No valid status has been provided", "no status")


def test_logs_system_path():
    doc = expect(get("/logs"), 200, "Agent logs", "GET /logs")
    tap("GET /status" in (doc or {}).get("stdout", ""), "the log holds the requests", doc)
    doc = expect(get("/system"), 200, "System", "GET /system")
    tap((doc or {}).get("system") == "Linux", "system is Linux", doc)
    doc = expect(get("/path"), 200, "Agent path", "GET /path")
    tap(os.path.basename((doc or {}).get("filepath", "")).startswith("nestbox-agent"), "path is the agent", doc)
    doc = expect(get("/environ"), 200, "Environment variables", "GET /environ")
    tap((doc or {}).get("environ", {}).get("TMPDIR") == TMPDIR, "environ holds the agent's TMPDIR", doc)


# ---- files ---------------------------------------------------------------------

def test_mkdir():
    d = f"{WORK}/mk/a/b"
    expect(post("/mkdir", [("dirpath", d), ("mode", "448")]), 200, "Successfully created directory",
           "POST /mkdir makes the parents")
    tap(os.path.isdir(d) and stat.S_IMODE(os.stat(d).st_mode) == 0o700, "with mode 448 = 0700")
    expect(post("/mkdir", [("dirpath", d)]), 200, "Successfully created directory", "an existing directory is fine")
    open(f"{WORK}/mk/file", "w").close()
    a = post("/mkdir", [("dirpath", f"{WORK}/mk/file")])
    expect(a, 500, None, "a file in the way is 500")
    tap(a.json()["message"].startswith("Error creating directory: ") and "traceback" in a.json(),
        "as agent.py's exception, with the reason", a)
    expect(post("/mkdir"), 400, "No dirpath has been provided", "no dirpath")
    expect(post("/mkdir", [("dirpath", d), ("mode", "0x1ff")]), 400, None, "a mode that is not decimal")


def test_mkdtemp_mktemp():
    doc = expect(post("/mkdtemp", [("dirpath", WORK), ("prefix", "pre-"), ("suffix", ".d")]), 200,
                 "Successfully created temporary directory", "POST /mkdtemp")
    path = (doc or {}).get("dirpath", "")
    name = os.path.basename(path)
    tap(os.path.dirname(path) == WORK and name.startswith("pre-") and name.endswith(".d")
        and len(name) == len("pre-") + 8 + len(".d") and stat.S_IMODE(os.stat(path).st_mode) == 0o700,
        "in dirpath, prefix + 8 characters + suffix, mode 0700", path)
    doc = expect(get("/mkdtemp"), 200, "Successfully created temporary directory", "GET /mkdtemp")
    tap(os.path.dirname((doc or {}).get("dirpath", "")) == TMPDIR, "in $TMPDIR by default", doc)
    doc = expect(post("/mktemp", [("dirpath", WORK)]), 200, "Successfully created temporary file", "POST /mktemp")
    tap(os.path.isfile((doc or {}).get("filepath", "")), "a file", doc)
    expect(post("/mkdtemp", [("dirpath", WORK), ("prefix", "../escape")]), 400, None,
           "a prefix with / is refused")
    expect(post("/mkdtemp", [("dirpath", WORK), ("suffix", "/x")]), 400, None, "a suffix with / is refused")
    expect(post("/mkdtemp", [("dirpath", f"{WORK}/missing/deeper")]), 500, None,
           "a missing dirpath is 500, as with tempfile")


def test_store_retrieve():
    name = "ünï 𝄞 名 sample.bin"
    src = f"{WORK}/upload-source.bin"
    data = os.urandom(300000)
    with open(src, "wb") as f:
        f.write(data)
    dest = f"{WORK}/store/new/dirs/{name}"
    r = curl("--form-string", f"filepath={dest}", "-F", f"file=@{src}", f"{URL}/store")
    tap(r.returncode == 0 and json.loads(r.stdout).get("message") == "Successfully stored file",
        "curl stores a file under a unicode name, making its directories", r)
    tap(os.path.isfile(dest) and open(dest, "rb").read() == data, "the bytes are there")
    tap(stat.S_IMODE(os.stat(dest).st_mode) == 0o644, "with mode 0666 & ~umask (022)",
        oct(os.stat(dest).st_mode))
    out = f"{WORK}/retrieved.bin"
    r = curl("-o", out, "-w", "%{http_code}", "--data-urlencode", f"filepath={dest}", f"{URL}/retrieve")
    tap(r.stdout == b"200" and open(out, "rb").read() == data, "curl retrieves it by its unicode name", r)
    doc = post("/list", [("pattern", f"{WORK}/store/new/dirs/*")]).json()
    tap([f["path"] for f in doc.get("files", [])] == [dest], "/list names it exactly", doc)

    # the file part before filepath: spooled, then copied
    body, ctype = multipart([], [("file", "x", b"spooled bytes")])
    body = body.replace(b"--nbxTestBoundary7--\r\n",
                        f"--nbxTestBoundary7\r\nContent-Disposition: form-data; name=\"filepath\"\r\n\r\n"
                        f"{WORK}/store/spooled.txt\r\n--nbxTestBoundary7--\r\n".encode())
    expect(request("POST", "/store", body, ctype), 200, "Successfully stored file", "file part before filepath")
    tap(open(f"{WORK}/store/spooled.txt", "rb").read() == b"spooled bytes", "stored from the spool")

    # a symbolic link at filepath is replaced, never written through
    target = f"{WORK}/store/link-target"
    open(target, "w").write("keep me")
    os.symlink(target, f"{WORK}/store/link")
    expect(post("/store", [("filepath", f"{WORK}/store/link")], [("file", "y", b"new")], form="multipart"),
           200, "Successfully stored file", "store over a symbolic link")
    tap(open(target).read() == "keep me" and not os.path.islink(f"{WORK}/store/link"),
        "the link was replaced, its target untouched")

    expect(post("/store", [("filepath", f"{WORK}/store/x")], form="multipart"), 400,
           "No file has been provided", "no file part")
    expect(post("/store", [], [("file", "y", b"1")], form="multipart"), 400,
           "No filepath has been provided", "no filepath")
    expect(post("/store", [("filepath", f"{WORK}/store/x")]), 400, "No file has been provided",
           "urlencoded has no file")
    a = post("/store", [("filepath", f"{WORK}/store/x")], [("file", "a", b"1"), ("file", "b", b"2")],
             form="multipart")
    expect(a, 400, None, "two file parts named file")
    tap(not os.path.exists(f"{WORK}/store/x"), "and nothing stored")

    a = post("/retrieve", [("filepath", f"{WORK}/nothing-here")])
    tap(a.status == 404 and a.body == b"", "a missing file is 404 with an empty body, as agent.py", a)
    a = post("/retrieve", [("filepath", WORK)])
    tap(a.status == 404 and a.body == b"", "a directory is 404 too", a)
    a = post("/retrieve", [("filepath", src), ("encoding", "base64")])
    import base64
    tap(a.status == 200 and base64.b64decode(a.body) == data, "encoding=base64", a)
    expect(post("/retrieve", [("filepath", src), ("streaming", "1")]), 400, None, "streaming=1 is refused")
    expect(post("/retrieve"), 400, "No filepath has been provided", "retrieve without filepath")


def test_large_file():
    src = f"{WORK}/big.bin"
    with open(src, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    want = sha256_file(src)
    dest = f"{WORK}/big/copy.bin"
    # curl sends "Expect: 100-continue" for a body this size
    r = curl("-F", f"filepath={dest}", "-F", f"file=@{src}", f"{URL}/store")
    tap(r.returncode == 0 and b"Successfully stored file" in r.stdout, "curl stores 50 MiB", r)
    tap(sha256_file(dest) == want, "the 50 MiB arrived whole")
    out = f"{WORK}/big-back.bin"
    r = curl("-o", out, "-w", "%{http_code}", "-d", f"filepath={dest}", f"{URL}/retrieve")
    tap(r.stdout == b"200" and sha256_file(out) == want, "and come back whole", r)
    os.unlink(out)
    os.unlink(dest)


def test_cut_upload():
    """A connection cut in the middle of a body leaves no file and no temporary file."""
    d = f"{WORK}/cut"
    os.mkdir(d)
    body, ctype = multipart([("filepath", f"{d}/half.bin")], [("file", "h", b"x" * 200000)])
    head = (f"POST /store HTTP/1.1\r\nHost: a\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((HOST, PORT), timeout=DEADLINE) as s:
        s.sendall(head + body[:len(body) // 2])
        # the temporary file exists while the body comes...
        tap(wait_for(lambda: any(n.endswith(".part") for n in os.listdir(d)), "the temporary file"),
            "an upload streams into a temporary file next to its destination")
    # ...and is gone once the agent sees the end of the connection
    tap(wait_for(lambda: os.listdir(d) == [], "the temporary file to go"),
        "a cut upload leaves nothing behind", os.listdir(d))


def test_remove():
    d = f"{WORK}/rm/tree/sub"
    os.makedirs(d)
    outside = f"{WORK}/rm-outside"
    os.mkdir(outside)
    open(f"{outside}/precious", "w").write("x")
    os.symlink(outside, f"{d}/link-to-outside")
    open(f"{d}/f", "w").write("x")
    expect(post("/remove", [("path", f"{WORK}/rm/tree")]), 200, "Successfully deleted directory", "remove a tree")
    tap(not os.path.exists(f"{WORK}/rm/tree") and os.path.exists(f"{outside}/precious"),
        "a symbolic link inside is removed, not followed")
    open(f"{WORK}/rm/file", "w").write("x")
    expect(post("/remove", [("path", f"{WORK}/rm/file")]), 200, "Successfully deleted file", "remove a file")
    expect(post("/remove", [("path", f"{WORK}/rm/file")]), 404, "Path provided does not exist", "remove it again")
    os.symlink(outside, f"{WORK}/rm/dirlink")
    expect(post("/remove", [("path", f"{WORK}/rm/dirlink")]), 500, None, "a link to a directory is refused")
    tap(os.path.exists(f"{outside}/precious"), "and its target untouched")
    expect(post("/remove"), 400, "No path has been provided", "remove without path")


# ---- execute -----------------------------------------------------------------------

def test_execute_sync():
    doc = expect(post("/execute", [("command", "sh -c 'echo out; echo err >&2; exit 3'")]), 200,
                 "Successfully executed command", "a synchronous command")
    tap(doc.get("stdout") == "out\n" and doc.get("stderr") == "err\n" and doc.get("exitcode") == 3
        and doc.get("stdout_truncated") is False, "stdout, stderr and the exit code", doc)
    doc = post("/execute", [("command", "printf '%s|' \"a b\" 'c d' e\\ f \"x\\\"y\"")]).json()
    tap(doc.get("stdout") == 'a b|c d|e f|x"y|', "the command is split like shlex.split", doc)
    doc = post("/execute", [("command", "'echo $0-$1; exit 4' zero one"), ("shell", "1")]).json()
    tap(doc.get("stdout") == "zero-one\n" and doc.get("exitcode") == 4,
        "shell: /bin/sh -c WORD1 WORD2..., as Popen(list, shell=True)", doc)
    doc = post("/execute", [("command", "pwd"), ("cwd", WORK)]).json()
    tap(doc.get("stdout") == WORK + "\n", "cwd", doc)
    doc = post("/execute", [("command", "sh -c 'kill -TERM $$'")]).json()
    tap(doc.get("exitcode") == -15, "a signal is -N, as Python's returncode", doc)
    doc = post("/execute", [("command", "printf '\\377ok'"), ("encoding", "base64")]).json()
    tap(doc.get("stdout") == "/29r", "encoding=base64 keeps the bytes", doc)
    doc = post("/execute", [("command", "printf '\\377ok'")]).json()
    tap(doc.get("stdout") == "\ufffdok", "invalid UTF-8 becomes U+FFFD", doc)
    doc = post("/execute", [("command", "head -c 2000000 /dev/zero")]).json()
    tap(doc.get("stdout_truncated") is True and len(doc.get("stdout", "")) == 1 << 20 and doc.get("exitcode") == 0,
        "output past --max-output is cut and said so; the command still ends", {k: v for k, v in doc.items() if k != "stdout"})
    doc = post("/execute", [("command", "cat")]).json()
    tap(doc.get("stdout") == "" and doc.get("exitcode") == 0, "stdin is /dev/null", doc)
    expect(post("/execute", [("command", "no-such-program-nbx")]), 500, None, "a missing program is 500")
    tap(get("/status").json()["status"] == "failed", "and the status failed, as agent.py sets it")
    expect(post("/execute", [("command", "echo 'open")]), 400, "command: No closing quotation", "an open quote")
    expect(post("/execute"), 400, "No command has been provided", "no command")
    expect(post("/execute", [("command", "   ")]), 400, None, "an empty command")
    expect(post("/execute", [("command", "true"), ("cwd", f"{WORK}/no-such-dir")]), 500, None, "a missing cwd")


def test_execute_async():
    body = b"command=sh+-c+%27echo+bg%3B+exit+5%27&async=1"
    doc = expect(request("POST", "/execute", body, "application/x-www-form-urlencoded"), 200,
                 "Successfully executed command", "an asynchronous command")
    tap(doc.get("stdout") is None and doc.get("stderr") is None and doc.get("process_id", 0) > 0,
        "answers at once with its process_id", doc)
    tap(get("/status").json()["status"] == "running", "the status is running")
    pid = doc["process_id"]
    doc = expect(post("/process", [("process_id", str(pid)), ("wait", "100")]), 200, "Process status",
                 "POST /process waits for the exit")
    tap(doc.get("status") == "exited" and doc.get("exitcode") == 5 and doc.get("stdout_size") == 3,
        "exited with 5, 3 bytes of output", doc)
    tap(open(doc["stdout_path"]).read() == "bg\n" and doc["stdout_path"].startswith(OUTPUT + "/"),
        "its stdout is in --output-dir", doc)
    # async= with an empty value is absent, as parse_qs drops it: the run is synchronous
    doc = post("/execute", [("command", "true"), ("async", "")]).json()
    tap("exitcode" in doc and "process_id" not in doc, "urlencoded async= is absent, as with agent.py", doc)
    doc = post("/execute", [("command", "true"), ("async", "")], form="multipart").json()
    tap("process_id" in doc, "multipart async='' is present", doc)
    # a running process
    gate = f"{WORK}/async-gate"
    doc = post("/execute", [("command", f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'"), ("async", "1")]).json()
    pid = doc["process_id"]
    doc = post("/process", [("process_id", str(pid))]).json()
    tap(doc.get("status") == "running" and doc.get("exitcode") is None, "a running process is running", doc)
    open(gate, "w").close()
    doc = post("/process", [("process_id", str(pid)), ("wait", "100")]).json()
    tap(doc.get("status") == "exited" and doc.get("exitcode") == 0, "and exits when let go", doc)
    expect(post("/process", [("process_id", "999999")]), 404, None, "an unknown process")
    expect(post("/process", [("process_id", "x")]), 400, None, "a process_id that is no number")
    expect(post("/process", [("process_id", str(pid)), ("colour", "red")]), 400, None,
           "an extension route refuses fields it does not know")


def test_process_table():
    """256 processes kept: with 256 running, an asynchronous /execute is refused; an exited one makes room."""
    fifo = f"{WORK}/table-gate"
    os.mkfifo(fifo)
    pids = []
    for _ in range(256):
        doc = post("/execute", [("command", f"cat {fifo}"), ("async", "1")]).json()
        pids.append(doc.get("process_id"))
    tap(all(pids), "256 asynchronous processes start")
    a = post("/execute", [("command", "true"), ("async", "1")])
    expect(a, 503, None, "the 257th is refused while all 256 run")

    def released():
        # each open for writing ends the cats already blocked in open(); repeat for the late ones
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        return not any(os.path.exists(f"/proc/{pid}") for pid in pids if pid)

    tap(wait_for(released, "the 256 processes to end"), "they end when let go")
    doc = post("/process", [("process_id", str(pids[-1])), ("wait", "100")]).json()
    tap(doc.get("status") == "exited" and doc.get("exitcode") == 0, "the last one exited 0", doc)
    expect(post("/execute", [("command", "true"), ("async", "1")]), 200, "Successfully executed command",
           "an exited process makes room for a new one")
    expect(post("/process", [("process_id", str(pids[0]))]), 404, None, "the oldest exited one is forgotten")


# ---- list and clock ----------------------------------------------------------------

def test_list():
    d = f"{WORK}/ls"
    os.makedirs(f"{d}/a")
    os.makedirs(f"{d}/b")
    for p in ["a/1.txt", "a/2.log", "b/3.txt", "b/.hidden.txt"]:
        open(f"{d}/{p}", "w").write("12345")
    os.symlink(f"{d}/a/1.txt", f"{d}/b/link.txt")
    doc = expect(post("/list", [("pattern", f"{d}/*/*.txt")]), 200, "Files matching the pattern", "POST /list")
    tap(doc.get("files") == [{"path": f"{d}/a/1.txt", "size": 5}, {"path": f"{d}/b/3.txt", "size": 5}]
        and doc.get("truncated") is False,
        "regular files only, no hidden ones, no links, sorted, with sizes", doc)
    doc = post("/list", [("pattern", f"{d}/*/*"), ("limit", "2")]).json()
    tap(len(doc.get("files", [])) == 2 and doc.get("truncated") is True, "limit, then truncated", doc)
    doc = post("/list", [("pattern", f"{d}/nothing*")]).json()
    tap(doc.get("files") == [] and doc.get("truncated") is False, "no match is an empty list", doc)
    expect(post("/list", [("pattern", "*.txt")]), 400, None, "a relative pattern")
    expect(post("/list", [("pattern", f"{d}/../*")]), 400, None, "a pattern with ..")
    expect(post("/list", [("pattern", f"{d}/*"), ("limit", "0")]), 400, None, "limit 0")


def test_clock_without_root():
    """An agent that is not root cannot set the clock: a 500 naming why (the time asked is now,
    so even an unexpected success would not move the host's clock)."""
    base = os.environ["NBA_TEST_USER_URL"]
    r = curl(f"{base}/")
    doc = json.loads(r.stdout or b"{}")
    tap(doc.get("is_user_admin") is False, "an agent run as nobody says it is not admin", r)
    r = curl("-w", "\n%{http_code}", "-d", f"time={int(time.time())}", f"{base}/clock")
    body, _, code = r.stdout.rpartition(b"\n")
    doc = json.loads(body or b"{}")
    tap(code == b"500" and doc.get("message", "").startswith("Error setting the clock: ")
        and "not permitted" in doc.get("message", ""), "POST /clock without root: 500 with the reason", r)
    r = curl(f"{base}/kill")
    tap(b"Quit the nestbox-agent" in r.stdout, "GET /kill of the agent run as nobody", r)


def test_clock():
    doc = expect(post("/clock", [("time", "1700000000.25")]), 200, "Clock not set (--dry-clock)",
                 "POST /clock (dry: the host's clock stays)")
    tap(doc.get("time") == 1700000000.25 and doc.get("set") is False and doc.get("previous", 0) > 0,
        "it reports the time, and that it did not set it", doc)
    for bad in ["yesterday", "946684799", "4102444800", "1700000000.", "1700000000.1234567891",
                "17000000001234", "-1", " 1700000000"]:
        expect(post("/clock", [("time", bad)]), 400, None, f"time {bad!r} is refused")
    expect(post("/clock"), 400, None, "no time")
    expect(post("/clock", [("time", "1700000000"), ("tz", "UTC")]), 400, None, "an unknown field")


# ---- what the agent refuses -----------------------------------------------------------

def test_paths_refused():
    for field_route in [("dirpath", "/mkdir"), ("filepath", "/retrieve"), ("path", "/remove"),
                        ("dirpath", "/mkdtemp"), ("pattern", "/list")]:
        field, route = field_route
        for bad in ["relative/path", f"{WORK}/../etc", f"{WORK}/./x", f"{WORK}/..", "/tmp/a\0b", ""]:
            # multipart: an empty urlencoded value would be absent, not empty
            a = post(route, [(field, bad)], form="multipart")
            expect(a, 400, None, f"{route} {field}={bad!r} is refused")
    a = post("/store", [("filepath", f"{WORK}/../escaped")], [("file", "x", b"1")], form="multipart")
    expect(a, 400, None, "/store filepath with .. is refused")
    tap(not os.path.exists(os.path.dirname(WORK) + "/escaped"), "and nothing was written")
    expect(post("/execute", [("command", "true"), ("cwd", "tmp")]), 400, None, "a relative cwd")
    expect(post("/execute", [("command", "true\0x")]), 400, None, "a command with a NUL")


def test_malformed():
    a = raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    expect(a, 414, None, "a request line over 8192 bytes")
    a = raw(b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    expect(a, 431, None, "a header line over 8192 bytes")
    a = raw(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(65)) + b"\r\n")
    expect(a, 431, None, "65 headers")
    a = raw(b"POST /mkdir HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    expect(a, 411, None, "a chunked body")
    a = raw(b"POST /mkdir HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", shut=True)
    expect(a, 413, None, "a body over 1 MiB announced")
    a = raw(b"POST /store HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000000\r\n\r\n", shut=True)
    expect(a, 413, None, "a /store body over --max-upload, refused before it is sent")
    expect(post("/mkdir", [(f"f{i}", "1") for i in range(33)]), 413, None, "33 fields")
    expect(post("/mkdir", [("dirpath", "/" + "a" * 70000)]), 413, None, "a field over 64 KiB")
    expect(request("POST", "/mkdir", b"dirpath=/a&dirpath=/b", "application/x-www-form-urlencoded"), 400,
           None, "a field given twice")
    expect(request("POST", "/mkdir", b'{"dirpath": "/a"}', "application/json"), 415, None, "a JSON body")
    expect(request("POST", "/mkdir", b"dirpath=%zz", "application/x-www-form-urlencoded"), 400, None,
           "a bad %-escape")
    expect(request("POST", "/mkdir", b"--x\r\n", "multipart/form-data"), 400, None, "multipart without boundary")
    body, ctype = multipart([("dirpath", f"{WORK}/never")])
    expect(request("POST", "/mkdir", body[:-10], ctype), 400, None, "a multipart body cut before its end")
    tap(not os.path.exists(f"{WORK}/never"), "and nothing done")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"dirpath\"\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\nL3RtcA==\r\n--b--\r\n")
    expect(request("POST", "/mkdir", body, "multipart/form-data; boundary=b"), 400, None, "a base64 part")
    expect(raw(b"GET / HTTP/2.0\r\n\r\n"), 505, None, "HTTP/2.0")
    expect(raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"), 400, None, "a TLS hello")
    expect(raw(b"GET  /  HTTP/1.1\r\n\r\n"), 400, None, "double spaces")
    expect(raw(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), 400, None, "a folded header")
    expect(raw(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), 400, None,
           "two Content-Length headers")
    expect(raw(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400, None, "a negative Content-Length")
    expect(raw(b"GET /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 400, None, "a GET with a body")
    expect(raw(b"PUT /store HTTP/1.1\r\n\r\n"), 501, None, "an unknown method")
    expect(get("/nope"), 404, "Route not found", "an unknown route")
    expect(get("/status?x=1"), 404, "Route not found", "a query string is no route, as with agent.py")
    expect(get("/store"), 404, "Route not found", "a route with the other method")
    expect(raw(b"GET / HTTP/1.1\r\nExpect: something\r\n\r\n"), 417, None, "an unknown Expect")
    a = post("/execpy", [("filepath", "/x.py")])
    expect(a, 404, None, "/execpy is not provided")
    tap("no Python" in a.json().get("message", ""), "and says why", a)
    expect(post("/extract", [("dirpath", "/x")]), 404, None, "/extract is not provided")
    a = raw(b"", shut=True)
    tap(a.raw == b"", "a connection that says nothing is closed without an answer", a)


def test_slow_clients():
    """An idle connection and a slow head are cut by --timeout (10 s); waited for generously."""
    with socket.create_connection((HOST, PORT), timeout=DEADLINE) as s:
        data = s.recv(4096)
        tap(Answer(data).status == 408 or data == b"", "an idle connection gets 408 and is closed", data)
    with socket.create_connection((HOST, PORT), timeout=DEADLINE) as s:
        got = b""
        ended = False
        for _ in range(DEADLINE):
            try:
                s.sendall(b"G")
            except OSError:
                ended = True
                break
            s.settimeout(1)
            try:
                chunk = s.recv(4096)
                if not chunk:
                    ended = True
                    break
                got += chunk
            except socket.timeout:
                continue
            except OSError:
                ended = True
                break
        tap(ended or b"408" in got, "a head sent a byte a second is cut at its deadline", got)


def test_concurrency():
    """--max-connections 12: 12 commands blocked at once inside the agent, the 13th client refused."""
    gate = f"{WORK}/conc-gate"
    answers = {}

    def run(i):
        answers[i] = post("/execute", [("command", f"sh -c 'touch {WORK}/conc-{i}; "
                                                    f"while [ ! -e {gate} ]; do sleep 0.05; done; echo {i}'")])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    all_in = wait_for(lambda: all(os.path.exists(f"{WORK}/conc-{i}") for i in range(12)), "12 commands")
    tap(all_in, "12 requests run at the same time")
    if all_in:
        expect(get("/"), 503, None, "a 13th connection gets 503 at once")
    open(gate, "w").close()
    for t in threads:
        t.join(DEADLINE)
    tap(all(answers.get(i) is not None and answers[i].status == 200 and answers[i].json()["stdout"] == f"{i}\n"
            for i in range(12)), "each got its own answer", answers)
    # once they are done, the agent serves again (its threads are released after each answer)
    tap(wait_for(lambda: get("/").status == 200, "the agent to serve again"), "and the agent serves again")


def test_local_clients():
    """From the agent's own namespace: loopback and its own address are the guest itself."""
    for addr in ["127.0.0.1", HOST]:
        base = f"http://{addr}:{PORT}"
        r = curl("-w", "\n%{http_code}", f"{base}/", ns=AGENT_NS)
        tap(r.stdout.endswith(b"\n200") and b"nestbox-agent" in r.stdout, f"GET / from {addr} (local)", r)
        r = curl("-w", "\n%{http_code}", "-d", "status=running", f"{base}/status", ns=AGENT_NS)
        tap(r.stdout.endswith(b"\n200"), f"POST /status from {addr} (local)", r)
        r = curl("-w", "\n%{http_code}", "-d", f"command=touch {WORK}/local-exec", f"{base}/execute", ns=AGENT_NS)
        tap(r.stdout.endswith(b"\n500") and b"Not allowed to execute commands" in r.stdout,
            f"/execute from {addr} is refused as agent.py refuses it", r)
        r = curl("-w", "\n%{http_code}", "--form-string", f"filepath={WORK}/local-store", "-F", "file=@/dev/null",
                 f"{base}/store", ns=AGENT_NS)
        tap(r.stdout.endswith(b"\n403") and not os.path.exists(f"{WORK}/local-store"),
            f"/store from {addr} is refused", r)
        r = curl("-w", "\n%{http_code}", "-d", "pattern=/*", f"{base}/list", ns=AGENT_NS)
        tap(r.stdout.endswith(b"\n403"), f"/list from {addr} is refused", r)
    tap(not os.path.exists(f"{WORK}/local-exec"), "nothing ran")


def test_pinning_and_kill():
    doc = expect(get("/pinning"), 200, "Successfully pinned Agent", "GET /pinning")
    tap((doc or {}).get("client_ip") == "10.251.0.2", "pinned to this client", doc)
    expect(get("/pinning"), 500, "Agent has already been pinned to an IP!", "a second pin")
    other = raw(b"GET / HTTP/1.0\r\n\r\n", source="10.251.0.3")
    tap(other.raw == b"", "another client gets no answer at all", other)
    r = curl("-w", "\n%{http_code}", "-d", "status=complete", f"http://127.0.0.1:{PORT}/status", ns=AGENT_NS)
    tap(r.stdout.endswith(b"\n200"), "127.0.0.1 may still POST /status", r)
    r = curl("-w", "\n%{http_code}", f"http://127.0.0.1:{PORT}/status", ns=AGENT_NS)
    tap(r.stdout == b"" or not r.stdout.endswith(b"200"), "but not GET /status", r)
    expect(get("/status"), 200, "Analysis status", "the pinned client is served")
    expect(get("/kill"), 200, "Quit the nestbox-agent", "GET /kill")


def main():
    # the agent may still be starting
    if not wait_for(lambda: _answers(), "the agent to listen"):
        print("Bail out! the agent does not answer")
        return 1
    for test in [test_index, test_status, test_logs_system_path, test_mkdir, test_mkdtemp_mktemp,
                 test_store_retrieve, test_large_file, test_cut_upload, test_remove, test_execute_sync,
                 test_execute_async, test_process_table, test_list, test_clock, test_clock_without_root, test_paths_refused, test_malformed,
                 test_slow_clients, test_concurrency, test_local_clients, test_pinning_and_kill]:
        try:
            test()
        except Exception as e:  # a crash of the test is a failure, not a stop
            import traceback
            tap(False, f"{test.__name__} raised {e!r}", traceback.format_exc())
    print(f"1..{count}")
    return 1 if failed else 0


def _answers():
    try:
        return get("/").status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
