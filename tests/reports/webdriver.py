"""Just enough of the W3C WebDriver protocol to click in a page: chromedriver on a local port,
spoken to with :mod:`urllib` (no Selenium). For the HTML report's filters, which react to
clicks, not only to the URL."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: the key under which WebDriver returns an element's reference
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(RuntimeError):
    pass


class Session:
    def __init__(self, base: str, session_id: str, timeout: float) -> None:
        self.base = f"{base}/session/{session_id}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _call(method, self.base + path, body, self.timeout)

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def click(self, css: str) -> None:
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        self.call("POST", f"/element/{found[ELEMENT]}/click", {})

    def run(self, script: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def until(self, script: str, *args: Any) -> Any:
        """The first truthy value of ``script``, polled: what a click starts may finish in a
        later task (a link's ``hashchange``)."""
        deadline = time.monotonic() + self.timeout
        while True:
            value = self.run(script, *args)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)


def _call(method: str, url: str, body: dict[str, Any] | None, timeout: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["value"]
    except urllib.error.HTTPError as exc:
        raise WebDriverError(f"{method} {url}: {exc.read()[:2000]!r}") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def chromium_session(
    driver: str, browser: str, args: Sequence[str], *, log: Path, timeout: float
) -> Iterator[Session]:
    """A browser session through ``driver`` (chromedriver), closed and stopped afterwards."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen([driver, f"--port={port}"], stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if _call("GET", f"{base}/status", None, timeout)["ready"]:
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise WebDriverError(f"chromedriver did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        options = {"binary": browser, "args": list(args)}
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        created = _call("POST", f"{base}/session", {"capabilities": capabilities}, timeout)
        session = Session(base, created["sessionId"], timeout)
        try:
            yield session
        finally:
            with contextlib.suppress(OSError, WebDriverError):
                session.call("DELETE", "")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
