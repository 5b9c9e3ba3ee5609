"""Debian's Chromium, headless, driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ending in a NUL byte, the browser reading fd 3 and writing fd 4), with the standard library only: no
browser download, no websocket client, no Playwright.

    with Chromium(tmp_path, "--use-fake-ui-for-media-stream") as browser:
        page = browser.open("http://127.0.0.1:8000/?wav=x.wav")
        page.wait_for("document.body.dataset.state === 'done'")
        text = page.evaluate("document.getElementById('detections').textContent")
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

EXECUTABLE = "chromium"
# Root in a container has no user namespace for the sandbox; the pages here are our own.
BASE_FLAGS = ("--headless", "--no-sandbox", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
              "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage", "--mute-audio",
              "--autoplay-policy=no-user-gesture-required", "--window-size=1000,820")  # fmt: skip


class DevToolsError(RuntimeError):
    pass


def executable() -> str | None:
    return shutil.which(EXECUTABLE)


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        return self.browser.call(method, params, self.session, timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:  # noqa: ANN401 - any JSON value
        """The value of a JavaScript expression (a promise is awaited); a thrown error raises DevToolsError."""
        r = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                      timeout)  # fmt: skip
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise DevToolsError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while not self.evaluate(f"(() => {{ try {{ return Boolean({condition}); }} catch {{ return false; }} }})()"):
            if time.monotonic() > end:
                state = self.evaluate("document.body && [document.body.dataset.state, "
                                      "(document.getElementById('status') || {}).textContent]")  # fmt: skip
                raise DevToolsError(f"timed out after {timeout} s waiting for {condition} (page: {state})")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))


class Chromium:
    """One headless browser with its own profile in `profile_dir`; a context manager that always ends it."""

    def __init__(self, profile_dir: Path, *flags: str) -> None:
        self.profile_dir = profile_dir
        self.flags = flags
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._done = threading.Condition()
        self.console: list[str] = []

    def __enter__(self) -> Chromium:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def pipes_at_3_and_4() -> None:
            # Out of the way first (either end may already be 3 or 4), then onto 3 and 4, which pass_fds keeps.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        cmd = [EXECUTABLE, *BASE_FLAGS, f"--user-data-dir={self.profile_dir}", "--remote-debugging-pipe",
               *self.flags, "about:blank"]  # fmt: skip
        self.log = open(self.profile_dir.parent / f"{self.profile_dir.name}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=pipes_at_3_and_4, pass_fds=(3, 4))  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (DevToolsError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self.log.close()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                break
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if msg.get("method") == "Runtime.consoleAPICalled":
                    args = msg["params"]["args"]
                    self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
                elif msg.get("method") == "Runtime.exceptionThrown":
                    self.console.append(str(msg["params"]["exceptionDetails"]))
                if "id" in msg:
                    with self._done:
                        self._replies[msg["id"]] = msg
                        self._done.notify_all()
        os.close(self._from_browser)
        with self._done:
            self._done.notify_all()

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        with self._done:
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        with self._done:
            while mid not in self._replies:
                left = end - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise DevToolsError(f"{method}: no reply within {timeout} s (see {self.log.name})")
                self._done.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def open(self, url: str, width: int = 1000, height: int = 820) -> Page:
        """A new tab at `url`, its console collected, sized for screenshots."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call("Runtime.enable")
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        page.call("Page.navigate", {"url": url})
        return page
