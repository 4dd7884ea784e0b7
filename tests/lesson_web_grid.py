"""The terminal grid ``socklab web`` gets in a real Chromium at each font size.

``python tests/lesson_web_grid.py CHROMIUM EMPTY_DIR SIZE...`` (in a network
namespace of its own, as tests/web_browser.py runs): for each ``?fontsize=SIZE``
the page is opened in the harness's window (`WINDOW`, web_browser's viewport)
and the size the browser's terminal asks the lab for (textual.js's ``resize``
message on the websocket, in cells) is printed as JSON: ``{"28": [80, 21]}``.
"""

from __future__ import annotations

import json
import sys

from web_browser import _end, start_server, wait_until

#: The browser window of tests/web_browser.py.
WINDOW = {"width": 1280, "height": 800}


def _grid(frames: list[str]) -> list[int] | None:
    for frame in reversed(frames):
        message = json.loads(frame) if frame.startswith("[") else None
        if message and message[0] == "resize":
            return [message[1]["width"], message[1]["height"]]
    return None


def main(chromium: str, cwd: str, sizes: list[str]) -> dict[str, list[int] | None]:
    from playwright.sync_api import sync_playwright
    server, url = start_server(cwd)
    grids: dict[str, list[int] | None] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            try:
                for size in sizes:
                    context = browser.new_context(viewport=WINDOW)
                    page = context.new_page()
                    sent: list[str] = []
                    page.on("websocket", lambda ws, sent=sent: ws.on(
                        "framesent", lambda payload: sent.append(str(payload))))
                    page.goto(f"{url}&fontsize={size}", wait_until="load", timeout=20_000)
                    page.wait_for_selector("body.-first-byte", timeout=30_000)
                    wait_until(page, lambda sent=sent: _grid(sent) is not None, 20)
                    grids[size] = _grid(sent)
                    context.close()
            finally:
                browser.close()
    finally:
        _end(server)
    return grids


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3:])), flush=True)
