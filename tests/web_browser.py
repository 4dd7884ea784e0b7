"""Drive ``socklab web`` from a real headless Chromium; print one JSON report.

Run by tests/test_web.py inside a network namespace of its own (``unshare
--net``, loopback up), so the lab's default server port (1024) is free and no
other program's sockets are seen:
``python tests/web_browser.py CHROMIUM PNG EMPTY_DIR`` (the server runs in
EMPTY_DIR, which must stay empty: a save goes to the browser).

What it checks, as a person would: the page loads, every request it makes
stays on this machine, the lab paints into the browser's terminal (its
output, read off the websocket, names both panes), a key press reaches the
lab (Enter on the focused Run button) and Run server makes a real listener —
seen in this namespace's /proc/net/tcp, outside the browser — and it saves a
screenshot.  Every process it starts is ended in ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Download, Page

#: The lab's default server port (the server pane's port field).
LAB_PORT = 1024
DEADLINE = 60.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def listening(port: int) -> bool:
    """A TCP socket in LISTEN on 127.0.0.1:``port`` in this namespace."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            return True
    return False


def wait_until(page: Page, check: Callable[[], bool], seconds: float) -> bool:
    """Poll ``check`` for up to ``seconds``, letting Playwright deliver its events
    meanwhile (its sync API dispatches them only inside its own calls)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        page.wait_for_timeout(100)
    return check()


def start_server(cwd: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, "-m", "socklab", "web", "--port", "0"], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    assert server.stdout is not None
    chooser = selectors.DefaultSelector()
    chooser.register(server.stdout, selectors.EVENT_READ)
    if not chooser.select(timeout=20):
        raise RuntimeError("socklab web printed no URL in 20 s")
    line = server.stdout.readline()
    match = re.search(r"http://\S+/\S*", line)  # with its ?token=
    if not match:
        raise RuntimeError(f"no URL in socklab web's first line: {line!r}")
    return server, match.group(0)


def main(chromium: str, png: str, cwd: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    report: dict[str, object] = {"listening_before": listening(LAB_PORT)}
    server, url = start_server(cwd)
    report["url"] = url
    frames: list[str] = []
    requests: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800},
                                              accept_downloads=True)
                downloads: list[Download] = []
                # textual.js opens each delivered file's one-use URL in a new tab.
                def keep(download: Download) -> None:
                    downloads.append(download)

                context.on("page", lambda tab: tab.on("download", keep))
                page = context.new_page()
                page.on("download", keep)
                page.on("request", lambda request: requests.append(request.url))
                page.on("websocket", lambda ws: ws.on(
                    "framereceived", lambda payload: frames.append(
                        payload.decode("utf-8", "replace") if isinstance(payload, bytes)
                        else payload)))
                page.goto(url, wait_until="load", timeout=20_000)
                page.wait_for_selector("body.-first-byte", timeout=30_000)
                painted = wait_until(page, lambda: _shows(frames, "Server", "Client", "Event"),
                                     30)
                report["painted"] = painted
                # Keys go where a person's would: the terminal's input (no click: a
                # click would focus whatever widget is under the mouse).  F5 is Run server.
                page.locator(".xterm-helper-textarea").focus()
                page.keyboard.press("F5")
                report["listening_after"] = wait_until(page, lambda: listening(LAB_PORT), 20)
                wait_until(page, lambda: _shows(frames, "listen(5)"), 10)
                page.wait_for_timeout(1000)
                page.screenshot(path=png)
                report["screenshot"] = png
                page.keyboard.press("j")  # save the log as JSON Lines: a download here
                if wait_until(page, lambda: bool(downloads), 20):
                    report["download"] = downloads[0].suggested_filename
                    report["download_text"] = Path(downloads[0].path()).read_text()
                # Export from the Code tab: a mouse click on the tab, then on Export
                # (at 1280x800 and 16 px cells: the tab bar's second tab, the bar's button).
                page.mouse.click(72, 32)
                page.wait_for_timeout(1500)
                page.mouse.click(72, 95)
                if wait_until(page, lambda: any(d.suggested_filename.endswith(".zip")
                                                for d in downloads), 20):
                    archive = next(d for d in downloads if d.suggested_filename.endswith(".zip"))
                    with zipfile.ZipFile(archive.path()) as programs:
                        report["exported"] = programs.namelist()
            finally:
                browser.close()
    finally:
        _end(server)
    hosts = {urlsplit(u).hostname for u in requests if not u.startswith("data:")}
    report["hosts"] = sorted(h or "" for h in hosts)
    report["shows_listen"] = _shows(frames, "listen(5)")
    report["server_ended"] = server.returncode is not None
    report["left_in_cwd"] = sorted(os.listdir(cwd))
    return report


def _shows(frames: list[str], *words: str) -> bool:
    text = _ANSI.sub("", "".join(frames))
    return all(word in text for word in words)


def _end(server: subprocess.Popen[str]) -> None:
    """Ask the server to stop (its labs quit and close their sockets), then make sure."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=5)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])), flush=True)
