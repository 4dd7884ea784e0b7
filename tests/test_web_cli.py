"""socklab web as a command: the URL it prints answers, a port in use is one line,
any address but loopback is warned about, and Ctrl-C / SIGTERM end it."""

from __future__ import annotations

import re
import selectors
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from helpers import start_cli

from socklab.ui.web import is_loopback, url_for


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "socklab", "web", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    chooser = selectors.DefaultSelector()
    chooser.register(process.stdout, selectors.EVENT_READ)
    assert chooser.select(timeout=30), "socklab web printed nothing in 30 s"
    return process.stdout.readline()


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, as a service manager stops it; returns (status, what it said on stderr)."""
    process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate(timeout=5)
    return process.returncode, err


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.5.5", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.7", False), ("example.org", False),
])
def test_only_loopback_counts_as_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback


def test_the_url_is_printed_and_serves_the_page_with_nothing_from_elsewhere():
    server = _start("--port", "0")
    try:
        line = _first_line(server)
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=10) as page:
            html = page.read().decode()
        assert "textual-terminal" in html
        # Every address the page names is this server's (no web font service).
        assert set(re.findall(r"(?:https?|wss?)://([^/\"']+)", html)) - {"www.w3.org"} == {
            url.group(0).split("/")[2]}
        token = url.group(0).split("token=")[1]
        assert f"/ws/{token}" in html  # the websocket's address carries the token
        for wrong in (url.group(0).split("?")[0], url.group(0)[:-1]):  # none, or wrong
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(wrong, timeout=10)
            assert refused.value.code == 403
            assert "needs the token" in refused.value.read().decode()
    finally:
        status, said = _stop(server)
    assert (status, said) == (0, "")


def test_a_port_in_use_is_one_line_and_status_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "socklab", "web", "--port", str(port)],
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"socklab: cannot serve on 127.0.0.1 port {port}: Address already in use"]


def test_another_address_is_an_explicit_choice_with_a_warning():
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        reason = "needs a network namespace of its own (root) to serve on 0.0.0.0 safely"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    # In a namespace of the test's own, 0.0.0.0 is reachable from nowhere else.  It
    # serves until stopped: read until it says where (no fixed time: a loaded
    # machine took more than the 5 s a `timeout` gave it to start).
    inside = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    live = start_cli("web", "--host", "0.0.0.0", "--port", "0", prefix=inside)
    try:
        for _ in range(100):
            line = live.next_line()
            assert line is not None, "".join(live.seen) + "".join(live.errors)
            if re.search(r"open http://0\.0\.0\.0:\d+/", line):
                break
        assert live.proc.poll() is None  # still serving
        live.proc.terminate()
        _status, _out, err = live.finish()
    finally:
        live.stop()
    assert "warning: serving on 0.0.0.0: whoever reaches this address drives real sockets " \
           "on this machine" in err


def test_an_ipv6_url_is_bracketed():
    assert url_for("::1", 8000) == "http://[::1]:8000/"


def test_an_unknown_host_is_one_line_and_status_2():
    done = subprocess.run([sys.executable, "-m", "socklab", "web", "--host", "bogus.invalid",
                           "--port", "0"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "socklab: error: cannot serve on 'bogus.invalid': no such address "
        "(Name or service not known)"] or "no such address" in done.stderr


def test_a_full_server_says_so_on_a_page_and_refuses_the_websocket():
    server = _start("--port", "0", "--max-sessions", "1")
    try:
        url = re.search(r"http://\S+", _first_line(server)).group(0)  # type: ignore[union-attr]
        ws = "ws://" + url.split("/")[2] + "/ws/" + url.split("token=")[1]
        import asyncio

        import aiohttp

        async def probe() -> tuple[int, int]:
            async with aiohttp.ClientSession() as session:
                origin = {"Origin": url.split("/?")[0]}
                async with session.ws_connect(ws, headers=origin) as first:
                    await first.receive(timeout=60)  # the lab started
                    try:
                        async with session.ws_connect(ws, headers=origin):
                            second = 101
                    except aiohttp.WSServerHandshakeError as exc:
                        second = exc.status
                    async with session.get(url) as page:
                        text = await page.text()
                        assert "socklab web is full" in text and "--max-sessions 1" in text
                        return second, page.status

        assert asyncio.run(probe()) == (503, 503)
    finally:
        _stop(server)


def test_hostile_host_and_origin_headers_are_refused():
    """What a browser cannot forge, a script can: both checks hold for raw requests."""
    from socklab.ui.web import host_allowed, same_origin

    assert host_allowed("127.0.0.1:8000") and host_allowed("[::1]:8000")
    assert host_allowed("localhost:8000") and host_allowed("10.0.0.5:8000")
    assert not host_allowed("evil.example:8000") and not host_allowed("")
    assert host_allowed("lab.school.example", frozenset({"lab.school.example"}))
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not same_origin("http://evil.example", "127.0.0.1:8000")
    assert not same_origin(None, "127.0.0.1:8000")
    assert not same_origin("null", "127.0.0.1:8000")
