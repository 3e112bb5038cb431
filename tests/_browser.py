"""Open a local HTML page in headless Chromium (Debian's `chromium`) and report what a person
would see: console errors, every network request the page made, the DOM's `data-k` numbers, and a
screenshot. Talks the DevTools protocol over a pipe (`--remote-debugging-pipe`: JSON messages
ended by NUL on file descriptors 3 and 4), so it needs no websocket library and no Playwright.

    with Browser() as b:
        seen = b.open(path)      # Seen(console_errors, requests, data, png)
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")

# the page's numbers: every element with data-k, as {k, artifact, text}
DATA_JS = """JSON.stringify(Array.from(document.querySelectorAll('[data-k]')).map(e => (
  {k: e.dataset.k, artifact: e.dataset.artifact || null, text: e.textContent.trim()})))"""


def find_chromium() -> Optional[str]:
    for name in CANDIDATES:
        p = shutil.which(name)
        if p:
            return p
    return None


@dataclass
class Seen:
    console_errors: list = field(default_factory=list)
    requests: list = field(default_factory=list)       # every URL the page asked for
    data: list = field(default_factory=list)           # [{k, artifact, text}]
    png: bytes = b""
    title: str = ""

    @property
    def external_requests(self) -> list:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


class Browser:
    def __init__(self, executable: Optional[str] = None, width: int = 1200, height: int = 900, timeout: float = 60.0):
        self.exe = executable or find_chromium()
        if self.exe is None:
            raise FileNotFoundError("no chromium executable on PATH")
        self.width, self.height, self.timeout = width, height, timeout
        self._id = 0
        self._buf = b""
        self._events: list = []

    def __enter__(self) -> "Browser":
        self._profile = tempfile.mkdtemp(prefix="edgekit-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds():  # the protocol's descriptors in the child: it reads 3, writes 4
            import fcntl

            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]  # clear of 3 and 4
            os.dup2(high[0], 3)  # inheritable
            os.dup2(high[1], 4)

        args = [self.exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--force-color-profile=srgb", f"--window-size={self.width},{self.height}",
                f"--user-data-dir={self._profile}", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._send("Browser.close", {}, wait=False)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    # --- the protocol ---------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise ConnectionError(f"chromium closed the protocol pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _send(self, method: str, params: dict, session: Optional[str] = None, wait: bool = True) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        if not wait:
            return {}
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self._events.append(m)

    def _wait_event(self, method: str, session: str, seconds: float) -> Optional[dict]:
        deadline = time.monotonic() + seconds
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method and m.get("sessionId") == session:
                    return self._events.pop(i)
            try:
                self._events.append(self._read_message(deadline))
            except TimeoutError:
                return None

    def _drain(self, seconds: float) -> None:
        """Collect events for `seconds` more (late console errors, late requests)."""
        deadline = time.monotonic() + seconds
        import select

        while time.monotonic() < deadline:
            r, _, _ = select.select([self._from_child], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            self._buf += os.read(self._from_child, 1 << 20)
            while b"\0" in self._buf:
                msg, self._buf = self._buf.split(b"\0", 1)
                self._events.append(json.loads(msg))

    # --- one page -------------------------------------------------------------------------------
    def open(self, path, settle: float = 0.5) -> Seen:
        """Load a local file, wait for its load event, and report what it did."""
        url = Path(path).resolve().as_uri()
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable", {}, session)
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}, session)
        self._events = [m for m in self._events if m.get("sessionId") != session]
        self._send("Page.navigate", {"url": url}, session)
        if self._wait_event("Page.loadEventFired", session, self.timeout) is None:
            raise TimeoutError(f"{url} did not finish loading")
        self._drain(settle)
        seen = Seen()
        for m in [m for m in self._events if m.get("sessionId") == session]:
            p = m.get("params", {})
            if m["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                seen.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m["method"] == "Runtime.exceptionThrown":
                seen.console_errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif m["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                seen.console_errors.append(p["entry"].get("text", ""))
            elif m["method"] == "Network.requestWillBeSent":
                seen.requests.append(p["request"]["url"])
        seen.data = json.loads(self._send("Runtime.evaluate", {"expression": DATA_JS, "returnByValue": True},
                                          session)["result"]["value"])
        seen.title = self._send("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                                session)["result"]["value"]
        size = self._send("Page.getLayoutMetrics", {}, session)["cssContentSize"]
        shot = self._send("Page.captureScreenshot",
                          {"format": "png", "captureBeyondViewport": True,
                           "clip": {"x": 0, "y": 0, "width": self.width, "height": min(size["height"], 6000), "scale": 1}},
                          session)
        seen.png = base64.b64decode(shot["data"])
        self._send("Target.closeTarget", {"targetId": target})
        self._events = [m for m in self._events if m.get("sessionId") != session]
        return seen


def pixel_std(png: bytes) -> float:
    """Standard deviation of the screenshot's grey levels (0 for a blank page)."""
    import io

    import numpy as np
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64).std())
