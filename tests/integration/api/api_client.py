#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Clients of nestboxd's control API that a test needs in numbers, or that
misbehave on purpose: raw sockets, so nothing is retried or fixed for them.

  api_client.py keepalive SOCKET N [TCP_ADDRESS TOKEN_FILE SHARE]
      N health requests, each on a new HTTP/1.1 (keep-alive) connection the
      client closes after the answer; SHARE in 100 of them over TCP
  api_client.py parallel SOCKET THREADS EACH
      THREADS clients at once, EACH submissions each, a new connection per
      request; fails on any refused connect or missing answer
  api_client.py fill SOCKET READY_FILE
      connects until the listen backlog is full (EAGAIN), creates READY_FILE,
      holds the connections until its stdin closes
  api_client.py soak SOCKET N THREADS SEED
      N requests of mixed kinds (valid, invalid, cut short); prints a JSON
      summary with "created": the submissions answered 201
  api_client.py count-tasks STORE
      tasks in the store (SQLite), and uploads left in its samples directory
"""
import errno
import json
import os
import random
import socket
import sqlite3
import sys
import threading
import urllib.parse

TIMEOUT = 120  # a hang, not a measure


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def connect_tcp(address):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return s


def read_answer(s):
    """The status and body of one answer; (0, b"") when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return 0, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            return 0, b""
        body += chunk
    return status, body[:length]


def request(method, path, headers=(), body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
    for name, value in headers:
        head += f"{name}: {value}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def exchange(connect, data):
    s = connect()
    try:
        s.sendall(data)
        return read_answer(s)
    finally:
        s.close()


def keepalive(sock, n, tcp=None, token_file=None, share=0):
    token = open(token_file).read().strip() if token_file else None
    ok = 0
    for i in range(n):
        if tcp and i % 100 < share:
            status, _ = exchange(lambda: connect_tcp(tcp), request(
                "GET", "/api/v1/health", [("Authorization", f"Bearer {token}")]))
        else:
            status, _ = exchange(lambda: connect_unix(sock),
                                 request("GET", "/api/v1/health"))
        ok += status == 200
    print(f"{ok} of {n} answered 200")
    return 0 if ok == n else 1


def parallel(sock, threads, each):
    failures = []
    body = json.dumps({"platform": "no-such-platform"}).encode()

    def client():
        for _ in range(each):
            try:
                status, _ = exchange(lambda: connect_unix(sock), request(
                    "POST", "/api/v1/tasks", [("Content-Type", "application/json")], body))
                if status != 201:
                    failures.append(f"status {status}")
            except OSError as e:
                failures.append(f"{e.__class__.__name__}: {e}")

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"{threads * each - len(failures)} of {threads * each} submissions answered 201")
    for f in sorted(set(failures)):
        print(f"  {failures.count(f)} x {f}")
    return 0 if not failures else 1


def fill(sock, ready_file):
    held = []
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(sock)
        except BlockingIOError:
            s.close()
            break
        held.append(s)
    open(ready_file, "w").write(f"{len(held)}\n")
    sys.stdin.read()
    for s in held:
        s.close()
    return 0


# ---- soak: requests of every kind, some of them cut short ----

def multipart(task, name, data):
    boundary = "soak-%016x" % random.getrandbits(64)
    parts = []
    if task is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="task"\r\n'
                     f'Content-Type: application/json\r\n\r\n{task}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                 + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def raw_path(task):
    return "/api/v1/tasks?task=" + urllib.parse.quote(json.dumps(task), safe="")


JSON = [("Content-Type", "application/json")]
NOWHERE = json.dumps({"platform": "no-such-platform"}).encode()


def soak_valid(rng, seed):
    kind = rng.randrange(7)
    sample = rng.randbytes(rng.randrange(1, 4096))
    if kind == 0:
        return "valid", request("GET", "/api/v1/health"), 200
    if kind == 1:
        return "valid", request("GET", "/api/v1/tasks?limit=5"), 200
    if kind == 2:
        return "valid", request("GET", "/api/v1/machines"), 200
    if kind == 3:
        return "submit", request("POST", "/api/v1/tasks", JSON, NOWHERE), 201
    if kind == 4:
        ctype, body = multipart(NOWHERE.decode(), "s.bin", sample)
        return "submit", request("POST", "/api/v1/tasks", [("Content-Type", ctype)], body), 201
    if kind == 5:
        path = raw_path({"file_name": "r.bin", "platform": "no-such-platform"})
        return "submit", request("POST", path, [("Content-Type", "application/octet-stream")],
                                 sample), 201
    key = f"soak-{seed}-{rng.randrange(50)}"
    return "submit", request("POST", "/api/v1/tasks", JSON + [("Idempotency-Key", key)],
                             NOWHERE), 201


def soak_invalid(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return request("POST", "/api/v1/tasks", JSON, b'{"platform": '), 400
    if kind == 1:
        return request("POST", "/api/v1/tasks", JSON, b'{"colour": "red"}'), 400
    if kind == 2:
        deep = b'{"options": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        return request("POST", "/api/v1/tasks", JSON, deep), 400
    if kind == 3:
        return request("GET", "/api/v1/nothing"), 404
    if kind == 4:
        return request("DELETE", "/api/v1/tasks"), 405
    if kind == 5:
        return request("GET", "/api/v1/health", [("X-Big", "a" * 20000)]), 431
    return request("POST", "/api/v1/tasks", JSON, b'{}{}'), 400


def soak_cut(rng):
    """A request cut short: the client goes away before it is whole."""
    kind = rng.randrange(4)
    if kind == 0:
        whole = request("POST", "/api/v1/tasks", JSON, NOWHERE)
    elif kind == 1:
        ctype, body = multipart(NOWHERE.decode(), "c.bin", rng.randbytes(8192))
        whole = request("POST", "/api/v1/tasks", [("Content-Type", ctype)], body)
    elif kind == 2:
        path = raw_path({"file_name": "c.bin", "platform": "no-such-platform"})
        whole = request("POST", path, [("Content-Type", "application/octet-stream")],
                        rng.randbytes(8192))
    else:
        whole = request("POST", "/api/v1/machines/f1/disable", JSON, b'{"reason": "cut"}')
    return whole[:rng.randrange(1, len(whole) - 1)]


def soak_one(sock, rng, seed, counts):
    roll = rng.random()
    if roll < 0.2:
        s = connect_unix(sock)
        s.sendall(soak_cut(rng))
        s.close()
        counts["cut"] += 1
        return
    if roll < 0.5:
        kind = "invalid"
        data, want = soak_invalid(rng)
    else:
        kind, data, want = soak_valid(rng, seed)
    status, body = exchange(lambda: connect_unix(sock), data)
    if status != want:
        counts["unexpected"].append(f"{kind}: {status}, wanted {want}: {body[:200]!r}")
    if kind == "submit" and status == 201:
        counts["created_ids"].add(json.loads(body)["id"])
    counts[kind] += 1


def soak(sock, n, threads, seed):
    counts = {"valid": 0, "submit": 0, "invalid": 0, "cut": 0, "unexpected": [],
              "created_ids": set()}
    lock = threading.Lock()

    def worker(index):
        rng = random.Random(seed * 1000 + index)
        mine = {"valid": 0, "submit": 0, "invalid": 0, "cut": 0, "unexpected": [],
                "created_ids": set()}
        for _ in range(n // threads + (index < n % threads)):
            soak_one(sock, rng, seed, mine)
        with lock:
            for key in ("valid", "submit", "invalid", "cut"):
                counts[key] += mine[key]
            counts["unexpected"] += mine["unexpected"]
            counts["created_ids"] |= mine["created_ids"]

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    summary = {key: counts[key] for key in ("valid", "submit", "invalid", "cut")}
    summary["created"] = len(counts["created_ids"])
    summary["unexpected"] = counts["unexpected"][:20]
    print(json.dumps(summary))
    return 0 if not counts["unexpected"] else 1


def count_tasks(store):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    tasks = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
    samples = os.path.join(os.path.dirname(store), "samples")
    uploads = [n for n in os.listdir(samples) if n.startswith(".upload-")] \
        if os.path.isdir(samples) else []
    print(json.dumps({"tasks": tasks, "uploads_left": len(uploads)}))
    return 0


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "keepalive":
        tcp = args[2:] if len(args) > 2 else (None, None, 0)
        return keepalive(args[0], int(args[1]), tcp[0], tcp[1], int(tcp[2]))
    if command == "parallel":
        return parallel(args[0], int(args[1]), int(args[2]))
    if command == "fill":
        return fill(args[0], args[1])
    if command == "soak":
        return soak(args[0], int(args[1]), int(args[2]), int(args[3]))
    if command == "count-tasks":
        return count_tasks(args[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
