#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives headless Chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: no WebSocket library needed) against the status
page of a running nestboxd.

  page_browser.py CHROMIUM URL TOKEN_FILE TASK_ID READY_FILE GO_FILE RUNNING_FILE SCREENSHOT

Signs in with the token, checks the session cookie (HttpOnly,
SameSite=Strict, unreadable from the page), waits until the page shows
task TASK_ID queued, marks the page, creates READY_FILE and waits for
GO_FILE (the test then lets the task run up to its machine's stop, where
the fake machinery holds it), waits until the same page, not reloaded,
shows the task running with its ended steps (restore_start, run), creates
RUNNING_FILE (the test then lets the stop go), waits until it shows the
task reported with its stop step, and takes a screenshot. Then loads the
page again with JavaScript off: the server's tables show the same. Every
wait has a deadline that only a hang reaches.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 300


class Browser:
    def __init__(self, chromium, profile):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def child():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "--window-size=1200,900", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        os.write(self.to_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self):
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Network.enable")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, what, expression):
        give_up = time.monotonic() + DEADLINE_S
        while True:
            if self.evaluate(expression):
                return
            if time.monotonic() > give_up:
                html = self.evaluate("document.documentElement.outerHTML")
                raise SystemExit(f"FAIL: {what}: not so after {DEADLINE_S} s\n{html}")
            time.sleep(0.05)

    def close(self):
        # Chromium's helpers (renderer, crashpad) outlive its main process and
        # still write into the profile: end the whole group it leads, which we
        # started, and wait until none of it is left before the profile goes.
        group = self.proc.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait()
        give_up = time.monotonic() + DEADLINE_S
        while live_members(group):
            if time.monotonic() > give_up:
                raise SystemExit("FAIL: chromium's processes did not end")
            time.sleep(0.05)


def live_members(group):
    """Processes of process group @group that still run (zombies do not write)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry))
    return found


def task_state(task_id):
    return (f"(() => {{ const c = document.querySelector('#task-{task_id} "
            f"[data-field=state]'); return c ? c.textContent : null; }})()")


def task_steps(task_id):
    """The task's ended steps as the page shows them, a list of names."""
    return (f"(() => {{ const c = document.querySelector('#task-{task_id} "
            f"[data-field=steps]'); return c ? c.textContent.split(', ') : []; }})()")


def wait_for_file(path):
    give_up = time.monotonic() + DEADLINE_S
    while not os.path.exists(path):
        if time.monotonic() > give_up:
            raise SystemExit(f"FAIL: the test never created {path}")
        time.sleep(0.05)


def check_without_javascript(browser, url, task_id):
    """The same page with scripts off: the server's tables alone."""
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    browser.call("Page.navigate", url=url)
    browser.wait_for("the page again without JavaScript",
                     f"document.readyState === 'complete' && {task_state(task_id)} === 'reported'"
                     " && !window.nestboxTestMark")
    steps = browser.evaluate(task_steps(task_id))
    if "run" not in steps or "stop" not in steps:
        raise SystemExit(f"FAIL: without JavaScript the steps are {steps}")
    if browser.evaluate("document.getElementById('live').textContent") != "static":
        raise SystemExit("FAIL: page.js ran with JavaScript off")
    for table in ("machines", "queue", "tasks", "snapshots"):
        if not browser.evaluate(f"!!document.getElementById('{table}')"):
            raise SystemExit(f"FAIL: without JavaScript there is no {table} table")


def main():
    chromium, url, token_file, task_id, ready, go, running, screenshot = sys.argv[1:9]
    token = open(token_file).read().strip()
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(chromium, profile)
        try:
            browser.open_page()
            browser.call("Page.navigate", url=url)
            browser.wait_for("the sign-in form", "!!document.querySelector('form#login')")
            browser.evaluate(f"document.getElementById('token').value = {json.dumps(token)};"
                             "document.getElementById('login').submit(); true")
            browser.wait_for("the tables after signing in",
                             "!!document.getElementById('tasks')")
            cookies = browser.call("Network.getCookies", urls=[url])["cookies"]
            session = [c for c in cookies if c["name"] == "nbx_session"]
            if len(session) != 1 or not session[0]["httpOnly"] or \
                    session[0].get("sameSite") != "Strict":
                raise SystemExit(f"FAIL: the session cookie: {cookies}")
            if browser.evaluate("document.cookie") != "":
                raise SystemExit("FAIL: the page can read the session cookie")
            browser.wait_for(f"task {task_id} queued",
                             f"{task_state(task_id)} === 'queued'")
            browser.wait_for("the event stream open",
                             "document.getElementById('live').textContent === 'live'")
            # A reload would lose this: the change must come live.
            browser.evaluate("window.nestboxTestMark = 42; true")
            open(ready, "w").close()
            wait_for_file(go)
            # Held at its machine's stop: running, its steps so far ended.
            browser.wait_for(f"task {task_id} running with its steps up to run",
                             f"{task_state(task_id)} === 'running' && "
                             f"{task_steps(task_id)}.includes('restore_start') && "
                             f"{task_steps(task_id)}.includes('run')")
            if "stop" in browser.evaluate(task_steps(task_id)):
                raise SystemExit("FAIL: the stop step shown before the stop ended")
            open(running, "w").close()
            browser.wait_for(f"task {task_id} reported with its stop step",
                             f"{task_state(task_id)} === 'reported' && "
                             f"{task_steps(task_id)}.includes('stop')")
            if browser.evaluate("window.nestboxTestMark") != 42:
                raise SystemExit("FAIL: the page was reloaded, not updated live")
            if browser.evaluate(f"!!document.getElementById('queued-{task_id}')"):
                raise SystemExit("FAIL: the reported task is still in the queue table")
            shot = browser.call("Page.captureScreenshot", format="png")["data"]
            import base64
            with open(screenshot, "wb") as out:
                out.write(base64.b64decode(shot))
            check_without_javascript(browser, url, task_id)
        finally:
            browser.close()
    print("ok: the page showed task", task_id, "go from queued through its steps to reported")


if __name__ == "__main__":
    main()
