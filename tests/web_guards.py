"""Drive ``socklab web``'s guards from a real headless Chromium; print one JSON report.

Run by tests/test_web.py in a network namespace of its own (``unshare --net``,
loopback up): ``python tests/web_guards.py CHROMIUM EMPTY_DIR``.

- The page with the printed URL (its token) works: the lab paints.
- The websocket refuses, as a browser would ask: no token (the page's own
  origin), a foreign Origin (a page at http://evil.example/, routed by
  Playwright, opening the lab's websocket with the right token), a foreign
  Host (DNS rebinding: Chromium resolves rebind.example to 127.0.0.1).
- A fourth lab is frozen (SIGSTOP: it never reads the quit message) and its
  page closed: the report says whether the server killed it (after
  ``LEAVE_WAIT``) while the other labs stayed.
- Then three labs are open (three pages), the server is SIGKILLed, and the
  report says how many lab processes are left 5 s later (their PDEATHSIG).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from web_browser import _shows, start_server, wait_until

#: What a page's script reports of one websocket: "open", or "refused".
PROBE = """async (url) => await new Promise((done) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); done("open"); };
    ws.onerror = () => done("refused");
    setTimeout(() => done("timeout"), 10000);
})"""


def lab_pids(server_pid: int) -> list[int]:
    """The server's labs: its children running ``python -m socklab`` (the machine is
    shared: other people's labs are not this server's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent = next((line.split()[1] for line in status.splitlines()
                       if line.startswith("PPid:")), "")
        if parent == str(server_pid) and b"socklab" in argv and b"-m" in argv:
            found.append(int(entry.name))
    return found


def still_running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()
            and b"socklab" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _a_frozen_lab_ends_when_its_page_leaves(context, url: str, server, labs: list[int]
                                            ) -> dict[str, object]:
    """Open one more lab, freeze it (SIGSTOP), close its page: the server must
    kill it (it cannot read the quit message); the other labs stay."""
    page = context.new_page()
    page.goto(url, wait_until="load", timeout=20_000)
    wait_until(page, lambda: len(lab_pids(server.pid)) == len(labs) + 1, 30)
    frozen = [pid for pid in lab_pids(server.pid) if pid not in labs]
    if len(frozen) != 1:
        return {"frozen_lab": frozen}
    os.kill(frozen[0], signal.SIGSTOP)
    page.close()
    began = time.monotonic()
    while still_running(frozen) and time.monotonic() - began < 30:
        time.sleep(0.1)
    return {"frozen_lab_left": still_running(frozen),
            "frozen_lab_gone_in_s": round(time.monotonic() - began, 1),
            "labs_kept_after_freeze": sorted(still_running(labs)) == sorted(labs)}


def main(chromium: str, cwd: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    report: dict[str, object] = {}
    server, url = start_server(cwd)
    parts = urlsplit(url)
    token = parts.query.removeprefix("token=")
    ws_base = f"ws://{parts.netloc}/ws"
    report["token_in_url"] = bool(token)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu",
                  "--host-resolver-rules=MAP rebind.example 127.0.0.1"])
        try:
            context = browser.new_context(viewport={"width": 1024, "height": 700})
            pages = []
            for _ in range(3):
                page = context.new_page()
                frames: list[str] = []
                page.on("websocket", lambda ws, f=frames: ws.on(
                    "framereceived", lambda payload, f=f: f.append(
                        payload.decode("utf-8", "replace") if isinstance(payload, bytes)
                        else payload)))
                page.goto(url, wait_until="load", timeout=20_000)
                pages.append((page, frames))
            page, frames = pages[0]
            report["painted"] = wait_until(page, lambda: _shows(frames, "Server", "Client"), 60)
            # The probes run on a page of their own (the server's origin, no lab of its own),
            # so the three labs stay open.
            page = context.new_page()
            page.goto(f"http://{parts.netloc}/static/css/xterm.css", wait_until="load")
            report["no_token"] = page.evaluate(PROBE, ws_base)
            report["wrong_token"] = page.evaluate(PROBE, f"{ws_base}/{'x' * len(token)}")
            report["with_token"] = page.evaluate(PROBE, f"{ws_base}/{token}")
            page.route("http://evil.example/**", lambda route: route.fulfill(
                status=200, content_type="text/html", body="<p>a page elsewhere</p>"))
            page.goto("http://evil.example/", wait_until="load")
            report["foreign_origin"] = page.evaluate(PROBE, f"{ws_base}/{token}")
            rebind = f"http://rebind.example:{parts.port}"
            answer = page.goto(f"{rebind}/?{parts.query}", wait_until="load")
            report["foreign_host_page"] = answer.status if answer else None
            report["foreign_host_ws"] = page.evaluate(
                PROBE, f"ws://rebind.example:{parts.port}/ws/{token}")
            page.goto(f"http://{parts.netloc}/", wait_until="load")
            report["page_without_token"] = page.evaluate("document.title")
            for other, other_frames in pages[1:]:
                wait_until(other, lambda f=other_frames: _shows(f, "Server"), 60)
            # The probe's own lab (opened "with_token", then closed) ends first.
            wait_until(page, lambda: len(lab_pids(server.pid)) == 3, 20)
            labs = lab_pids(server.pid)
            report["labs_open"] = len(labs)
            report.update(_a_frozen_lab_ends_when_its_page_leaves(context, url, server, labs))
            os.kill(server.pid, signal.SIGKILL)  # however it ends: here, the hardest way
            server.wait(timeout=10)
            time.sleep(5)
            report["labs_left_after_5s"] = still_running(labs)
        finally:
            browser.close()
            for pid in still_running(lab_pids(server.pid)):
                os.kill(pid, signal.SIGKILL)
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
