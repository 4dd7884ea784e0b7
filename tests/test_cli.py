"""The headless commands as a user runs them: ``python -m socklab ...`` subprocesses.

Servers always get ``--port 0``; their chosen port is read from the bind event
as the JSON line arrives (which also proves each event is flushed live).
"""

from __future__ import annotations

import http.server
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    LIMIT,
    VIEW_OPS,
    WELCOME_DONE,
    Live,
    assert_seq_increasing,
    cli_command,
    cli_env,
    closed_port,
    json_events,
    no_traceback,
    run_cli,
    start_cli,
)

from socklab import __version__
from socklab.demos import DEMOS, HOSTS_DEMOS, ipv6_available
from socklab.engine import GREETING
from socklab.hosts import why_unavailable
from socklab.modes import ROMEO

SPEC_KEYS = {
    "seq", "t", "side", "conn", "op", "phase", "args", "ok", "result", "error",
    "lesson", "nbytes", "data",
}
#: urllib without any proxy from the environment: loopback stays loopback.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def serve() -> Iterator[list[Live]]:
    """Start ``socklab serve`` processes through this list; all are stopped after."""
    started: list[Live] = []
    yield started
    for live in started:
        live.stop()


def _start_serve(started: list[Live], *args: str, dev: bool = False) -> tuple[Live, int]:
    live = start_cli("serve", "--port", "0", "--json", *args, dev=dev)
    started.append(live)
    bound = live.wait_event(lambda e: e["op"] == "bind")
    assert bound["ok"], bound
    port = bound["result"][1]
    assert port != 0
    if "dgram" not in args:  # a stream server takes connections only once it listens
        assert live.wait_event(lambda e: e["op"] == "listen")["ok"]
    return live, port


def _done(events: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    return [(e["side"], e["conn"], e["op"]) for e in events
            if e["phase"] == "done" and e["op"] not in VIEW_OPS]


# -- basics ---------------------------------------------------------------------------


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"socklab {__version__}"


def test_help_lists_the_commands() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("serve", "connect", "demo"):
        assert command in done.stdout
    for command in ("serve", "connect", "demo"):
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "--json" in sub.stdout


# -- demo ---------------------------------------------------------------------------------


def test_demo_welcome_json_is_the_lecture_exchange() -> None:
    done = run_cli("demo", "welcome", "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    events = json_events(done.stdout)
    for event in events:
        assert SPEC_KEYS <= event.keys()
        assert isinstance(event["seq"], int) and isinstance(event["t"], float)
        assert isinstance(event["args"], list) and isinstance(event["ok"], bool)
    assert_seq_increasing(events)
    assert _done(events) == WELCOME_DONE
    by_op = {e["op"]: e for e in events if e["phase"] == "done"}
    assert by_op["socket"]["args"] == ["AF_INET", "SOCK_STREAM"]
    assert by_op["bind"]["args"] == [["127.0.0.1", 0]] and by_op["bind"]["result"][1] != 0
    assert by_op["listen"]["args"] == [5]
    # accept's peer port is the client's real local port, from connect's result
    assert by_op["accept"]["result"] == by_op["connect"]["result"]
    assert by_op["send"]["nbytes"] == 40 == by_op["recv"]["nbytes"]
    assert by_op["send"]["data"] == by_op["recv"]["data"] == GREETING.decode()
    assert all(e["ok"] and e["error"] is None for e in events)


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_every_demo_exits_0_and_leaks_nothing_under_dev_mode(name: str) -> None:
    if name in HOSTS_DEMOS and why_unavailable() is not None:
        pytest.skip(f"two hosts unavailable here: {why_unavailable()}")
    done = run_cli("demo", name, dev=True)
    assert done.returncode == 0, done.stdout + done.stderr
    no_traceback(done.stderr)
    assert "Warning" not in done.stderr, done.stderr
    if name == "ipv6" and not ipv6_available():
        assert "skipped" in done.stderr and "::1" in done.stderr
    else:
        assert done.stdout.startswith("#1")
        assert "socket(" in done.stdout


def test_demo_udp_shows_sendto_recvfrom_without_listen_or_accept() -> None:
    done = run_cli("demo", "udp", "--json")
    assert done.returncode == 0
    ops = [e["op"] for e in json_events(done.stdout)]
    assert "sendto" in ops and "recvfrom" in ops
    assert not {"listen", "accept", "connect"} & set(ops)


# -- serve ------------------------------------------------------------------------------------


def test_serve_http_answers_a_real_http_client(serve: list[Live]) -> None:
    live, port = _start_serve(serve, "--mode", "http", "--count", "1")
    with DIRECT.open(f"http://127.0.0.1:{port}/romeo.txt", timeout=LIMIT) as response:
        assert response.status == 200
        assert response.read().decode() == ROMEO
    status, out, err = live.finish()
    assert status == 0, err
    no_traceback(err)
    events = json_events(out)
    assert_seq_increasing(events)
    ops = [e["op"] for e in events if e["phase"] == "done"]
    assert ops[:3] == ["socket", "bind", "listen"] and "accept" in ops and "send" in ops


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_serve_http_answers_curl(serve: list[Live]) -> None:
    live, port = _start_serve(serve, "--mode", "http", "--count", "1")
    curl = subprocess.run(
        ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", str(LIMIT),
         f"http://127.0.0.1:{port}/romeo.txt"],
        capture_output=True, text=True, timeout=LIMIT * 2, check=False,
    )
    assert curl.returncode == 0, curl.stderr
    assert curl.stdout.startswith("But soft what light through yonder window breaks")
    assert live.finish()[0] == 0


def test_serve_echo_echoes_a_plain_python_client(serve: list[Live]) -> None:
    live, port = _start_serve(serve, "--mode", "echo", "--count", "1", dev=True)
    payload = b"hello, echo\r\n" * 100 + bytes(range(256))
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        back = b""
        for _ in range(10_000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            back += chunk
    assert back == payload
    status, out, err = live.finish()
    assert status == 0
    no_traceback(err)
    assert "Warning" not in err


def test_serve_datagram_count_stops_after_n_datagrams(serve: list[Live]) -> None:
    live, port = _start_serve(serve, "--type", "dgram", "--mode", "echo", "--count", "2")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(LIMIT)
        for word in (b"one", b"two"):
            sock.sendto(word, ("127.0.0.1", port))
            assert sock.recvfrom(1024)[0] == word
    status, out, _ = live.finish()
    assert status == 0
    ops = [e["op"] for e in json_events(out)]
    assert "listen" not in ops and ops.count("sendto") == 2


def test_serve_on_all_interfaces_warns(serve: list[Live]) -> None:
    # UDP and gone after one datagram: warned, but nothing can connect meanwhile.
    live, port = _start_serve(serve, "--host", "0.0.0.0", "--type", "dgram",
                              "--mode", "discard", "--count", "1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"bye", ("127.0.0.1", port))
    status, out, err = live.finish()
    assert status == 0
    assert "warning" in err and "every interface" in err
    bind = next(e for e in json_events(out) if e["op"] == "bind")
    assert "every interface" in bind["lesson"]


def test_ctrl_c_stops_serve_cleanly(serve: list[Live]) -> None:
    live, _ = _start_serve(serve, "--mode", "welcome", dev=True)
    live.wait_event(lambda e: e["op"] == "accept" and e["phase"] == "wait")
    live.proc.send_signal(signal.SIGINT)
    status, out, err = live.finish()
    assert status == 0
    no_traceback(err)
    assert "Ctrl-C" in err
    events = json_events(out)
    # The lab's own close is in the log, saying why; the accept it ended says
    # the lab closed the socket, not that the learner should make a new one.
    close = next(e for e in events if e["op"] == "close")
    assert close["ok"] and close["by"] == "lab" and "Ctrl-C" in close["lesson"], close
    ended = next(e for e in events if e["op"] == "accept" and e["phase"] == "done")
    assert ended["seq"] > close["seq"] and "the lab closed" in ended["lesson"], ended
    assert "socket()" not in ended["lesson"]


# -- connect -----------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[int]:
    """Python's own http.server on 127.0.0.1, port 0, serving romeo.txt."""
    (tmp_path / "romeo.txt").write_text(ROMEO)
    handler = lambda *a: _QuietHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(LIMIT)
        server.server_close()


def test_connect_sends_a_raw_get_like_socket1_py(http_server: int) -> None:
    done = run_cli("connect", "127.0.0.1", str(http_server),
                   "--send", r"GET /romeo.txt HTTP/1.0\r\n\r\n", dev=True)
    assert done.returncode == 0, done.stdout + done.stderr
    no_traceback(done.stderr)
    assert "connect(('127.0.0.1', " in done.stdout
    assert r"send(b'GET /romeo.txt HTTP/1.0\r\n\r\n')" in done.stdout
    assert "HTTP/1.0 200 OK" in done.stdout
    assert "But soft what light through yonder window breaks" in done.stdout
    assert "b'' (EOF)" in done.stdout  # the server closed: the end of the page


def test_connect_json_has_the_response_bytes(http_server: int) -> None:
    done = run_cli("connect", "127.0.0.1", str(http_server), "--json",
                   "--send", r"GET /romeo.txt HTTP/1.0\r\n\r\n")
    assert done.returncode == 0
    events = json_events(done.stdout)
    received = sum(e["nbytes"] for e in events if e["op"] == "recv" and e["phase"] == "done")
    assert received > len(ROMEO)
    assert _done(events)[-1][2] == "close"


def test_send_escapes_reach_the_peer_as_bytes() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(LIMIT)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            cli_command("connect", "127.0.0.1", str(port), "--half-close",
                        "--send", r"GET / HTTP/1.0\r\n", "--send", r"a\tb\x00\xff\\"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
        )
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(LIMIT)
                got = b""
                for _ in range(1000):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            out, err = proc.communicate(timeout=LIMIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert got == b"GET / HTTP/1.0\r\na\tb\x00\xff\\"
    assert proc.returncode == 0, err


def test_connect_to_a_closed_port_exits_1_with_the_lesson() -> None:
    done = run_cli("connect", "127.0.0.1", str(closed_port()), "--json")
    assert done.returncode == 1
    no_traceback(done.stderr)
    connect = next(e for e in json_events(done.stdout) if e["op"] == "connect"
                   and e["phase"] == "done")
    assert connect["error"] == "ECONNREFUSED" and connect["lesson"]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "70000"],
        ["serve", "--port", "abc"],
        ["serve", "--port", "-1"],
        ["serve", "--backlog", "-1"],
        ["serve", "--family", "inet7"],
        ["serve", "--type", "raw"],
        ["serve", "--mode", "http", "--type", "dgram"],
        ["serve", "--mode", "telnet"],
        ["serve", "--count", "0"],
        ["connect", "--", "-no-such-host.invalid", "80"],
        ["connect", "127.0.0.1", "70000"],
        ["connect", "127.0.0.1", "0"],
        ["connect", "127.0.0.1", "80", "--send", r"bad \q escape"],
        ["connect", "127.0.0.1", "80", "--send", "trailing \\"],
        ["connect", "127.0.0.1", "80", "--family", "ipx"],
        ["demo", "nosuchdemo"],
        ["frobnicate"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    done = run_cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    no_traceback(done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("socklab: error:")
    assert done.stdout == ""
