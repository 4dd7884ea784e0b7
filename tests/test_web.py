"""socklab web in a real headless Chromium (Debian's, driven by Playwright).

The browser, the web server and every lab it starts run in a network namespace
made for the test (``unshare --net``, loopback up): the lab's Run server binds
its default port 1024 there, whatever else this machine runs.  The whole run is
bounded (`LIMIT`), and its process group is killed whatever happens.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "screenshots" / "web-lab.png"
LIMIT = 150


def _why_not() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if _chromium() is None:
        return "no chromium on PATH (Debian: apt-get install chromium; .ci/run does it as root)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) missing: no network namespace"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a network namespace (needs root): {probe.stderr.decode().strip()}"
    return None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_browser_shows_the_lab_and_run_server_makes_a_real_listener(tmp_path):
    reason = _why_not()
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    png = tmp_path / "web-lab.png"
    served_from = tmp_path / "server-cwd"
    served_from.mkdir()
    script = (f"ip link set lo up && exec {sys.executable} {ROOT / 'tests' / 'web_browser.py'} "
              f"{_chromium()} {png} {served_from}")
    run = subprocess.Popen(["unshare", "--net", "sh", "-c", script], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        out, err = run.communicate(timeout=LIMIT)
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the server and its labs, if still there
        except ProcessLookupError:
            pass
        run.wait(timeout=10)
    assert run.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["listening_before"] is False
    assert report["painted"], "the lab's output never named both panes and the log"
    assert report["listening_after"], "F5 in the browser made no listener on 127.0.0.1:1024"
    assert report["shows_listen"], "the browser's lab never logged listen(5)"
    assert report["hosts"] == ["127.0.0.1"], f"the page asked other hosts: {report['hosts']}"
    assert report["server_ended"]
    # Saving (j) delivered the whole session to the browser, nothing to the server's disk.
    assert report.get("download", "").endswith(".jsonl"), report
    ops = [json.loads(line)["op"] for line in report["download_text"].splitlines()]
    assert ops[:3] == ["socket", "bind", "listen"]
    assert report.get("exported") == ["sockets_server.py", "sockets_client.py"], report
    assert report["left_in_cwd"] == []
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SOCKLAB_SCREENSHOTS"):  # a test run leaves the checkout as it was
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(png, SCREENSHOT)


def _run_in_namespace(script_name: str, *args: str) -> dict[str, object]:
    """Run tests/SCRIPT in a network namespace of its own; its JSON report."""
    script = (f"ip link set lo up && exec {sys.executable} {ROOT / 'tests' / script_name} "
              + " ".join(args))
    run = subprocess.Popen(["unshare", "--net", "sh", "-c", script], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        out, err = run.communicate(timeout=LIMIT)
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        run.wait(timeout=10)
    assert run.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_the_websocket_needs_the_token_the_origin_and_the_host_and_labs_end_with_the_server(
        tmp_path):
    """Issue 23: a page with the printed URL works; the websocket refuses no token, a
    wrong one, a page elsewhere (Origin) and a name rebound to this machine (Host);
    a frozen lab whose page closes is killed (it cannot hear the quit) and the
    others stay; SIGKILL of socklab web with 3 labs open leaves 0 lab processes
    5 s later."""
    reason = _why_not()
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    served_from = tmp_path / "server-cwd"
    served_from.mkdir()
    report = _run_in_namespace("web_guards.py", str(_chromium()), str(served_from))
    assert report["token_in_url"] and report["painted"], report
    assert report["with_token"] == "open", report
    for refused in ("no_token", "wrong_token", "foreign_origin", "foreign_host_ws"):
        assert report[refused] == "refused", (refused, report)
    assert report["foreign_host_page"] == 403, report
    assert report["page_without_token"] == "socklab: not allowed", report
    assert report["labs_open"] == 3, report
    assert report["frozen_lab_left"] == [] and report["labs_kept_after_freeze"], report
    assert report["labs_left_after_5s"] == [], report
