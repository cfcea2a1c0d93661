"""Headless Chromium (Debian ``chromium``, installed by ``make test``) driven over the DevTools protocol.

A small client of our own over ``websockets`` rather than Playwright or Selenium: those download their
own browser builds (not reachable here) or need a driver binary Debian does not package with chromium.
It opens one page, evaluates JavaScript in it, records every request the page made, and takes
screenshots. The browser gets a fresh profile and is killed by ``close()``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from service import processes

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--window-size=1280,1000"]


def binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium not found: `make test` installs Debian's chromium (apt-get)")
    return found


class Page:
    """One Chromium with one page; ``requests`` lists every request the page sent or tried."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="userservice-chromium-")
        self.process = subprocess.Popen(
            [binary(), *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True)  # its helper processes (renderer, crashpad) are stopped with it, as a group
        self._next_id = 0
        #: (url, blocked reason or "") of every request the page made, in order.
        self.requests: list[tuple[str, str]] = []
        self._blocked: dict[str, str] = {}
        self._ids: dict[str, int] = {}
        self._stack = ExitStack()
        try:
            self._ws = self._connect(timeout)
            self.call("Network.enable")
            self.call("Page.enable")
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout: float) -> ClientConnection:
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                port = int(port_file.read_text().splitlines()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
                    pages = [t for t in json.load(reply) if t["type"] == "page"]
                if pages:
                    return self._stack.enter_context(
                        connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10))
            time.sleep(0.1)
        raise RuntimeError("chromium's DevTools did not come up in time")

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            self._ids[params["requestId"]] = len(self.requests)
            self.requests.append((params["request"]["url"], ""))
        elif message.get("method") == "Network.loadingFailed" and params.get("blockedReason"):
            index = self._ids.get(params["requestId"])
            if index is not None:
                self.requests[index] = (self.requests[index][0], params["blockedReason"])

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"not true within {timeout}s: {expression}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self._stack.close()
        processes.stop(self.process, 5.0)
        with contextlib.suppress(ProcessLookupError):  # helpers that outlived the browser write into the profile
            os.killpg(self.process.pid, signal.SIGKILL)
        for _ in range(20):
            try:
                self._profile.cleanup()
                return
            except OSError:  # a helper was still writing as the directory went: once more
                time.sleep(0.1)
        self._profile.cleanup()
