"""Huge files, many clients, long-running servers (issue 15 items 5-9), as counts.

The full-size figures (a 4 GiB file, 50,000 connect/close cycles) are in
tests/benchmarks/bulk.py; these are the same checks, smaller, on real
processes and real loopback sockets.  Nothing here asserts a time.
"""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LIMIT, VIEW_OPS, Live, cli_command, cli_env, listening, start_cli

from socklab.engine import Lab
from socklab.engine.server import KEEP_CLOSED
from socklab.modes import Service

#: The file the tests send: sparse, so it costs no disk.
SIZE = 256 * 1024 * 1024
#: The sender's memory must stay under this, whatever the file's size.
RSS_LIMIT = 64 * 1024 * 1024
CLIENTS = 1000
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(SIZE)
    return path


@pytest.fixture
def serving() -> Iterator[list[Live]]:
    started: list[Live] = []
    yield started
    for live in started:
        live.stop()


def _serve(started: list[Live], *args: str) -> int:
    live = start_cli("serve", "--port", "0", "--json", *args)
    started.append(live)
    port = live.wait_event(lambda e: e["op"] == "bind")["result"][1]
    assert live.wait_event(lambda e: e["op"] == "listen")["ok"]
    return port


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _send_file(port: int, path: str, *extra: str) -> tuple[int, list[dict], int]:
    """Run ``socklab connect --send-file``; (status, events, peak RSS of the sender)."""
    proc = subprocess.Popen(
        cli_command("connect", "127.0.0.1", str(port), "--send-file", path, "--json",
                    "--half-close", *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=REPO, text=True)
    peak = [0]
    done = threading.Event()

    def watch() -> None:  # sample the peak while it runs (VmHWM is gone at exit)
        while not done.wait(0.05):
            try:
                peak[0] = max(peak[0], _peak_rss(proc.pid))
            except (OSError, AssertionError):
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=LIMIT * 8)
    finally:
        done.set()
        watcher.join(LIMIT)
    assert "Traceback" not in err, err
    return proc.returncode, [json.loads(line) for line in out.splitlines()], peak[0]


@pytest.mark.parametrize("mode", ["discard", "echo"])
def test_send_file_streams_in_constant_memory(serving: list[Live], big_file: Path,
                                              mode: str) -> None:
    port = _serve(serving, "--mode", mode, "--count", "1")
    status, events, peak = _send_file(port, str(big_file))
    assert status == 0, events[-3:]
    sends = [e for e in events if e["op"] in ("sendfile", "send")]
    assert len(sends) == 1, sends  # one coalesced event ...
    assert sends[0]["op"] == "sendfile" and sends[0]["nbytes"] == SIZE  # ... the true count
    assert sends[0]["count"] >= 1
    if mode == "echo":  # every byte came back: read while sending, then after
        back = sum(e["nbytes"] or 0 for e in events if e["op"] == "recv" and e["ok"])
        assert back == SIZE
    assert 0 < peak < RSS_LIMIT, f"the sender peaked at {peak / 2**20:.1f} MiB"


def test_send_file_from_dev_zero_runs_until_ctrl_c(serving: list[Live]) -> None:
    port = _serve(serving, "--mode", "discard")
    proc = subprocess.Popen(
        cli_command("connect", "127.0.0.1", str(port), "--send-file", "/dev/zero", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=REPO, text=True)
    try:
        served = serving[0]
        # The server has read a good 64 MiB: the sender is streaming, not loading.
        for _ in range(100_000):
            event = served.wait_event(lambda e: e["op"] == "recv")
            if (event["nbytes"] or 0) and sum(
                    json.loads(line)["nbytes"] or 0 for line in served.seen
                    if '"recv"' in line) > 64 * 2**20:
                break
        peak = _peak_rss(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=LIMIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    sends = [e for e in events if e["op"] == "send" and e["ok"]]
    assert len(sends) == 1 and sends[0]["nbytes"] > 64 * 2**20  # counted up to Ctrl-C
    calls = [e for e in events if e["op"] not in VIEW_OPS]  # the kernel's view may follow
    assert calls[-1]["op"] == "close" and calls[-1]["ok"]  # nothing left open
    assert peak < RSS_LIMIT


def test_send_file_to_a_peer_that_never_reads_fails_after_timeout(
        serving: list[Live], big_file: Path) -> None:
    port = _serve(serving, "--mode", "manual")  # accepts, never reads
    status, events, _peak = _send_file(port, str(big_file), "--timeout", "1")
    assert status == 1
    failed = [e for e in events if not e["ok"]]
    assert failed[0]["op"] == "sendfile" and failed[0]["error"] == "TimeoutError"
    assert "made no progress for 1 s" in failed[0]["lesson"]


def test_serve_echo_with_defaults_holds_a_thousand_clients(serving: list[Live]) -> None:
    """1,000 clients connect at once (none talks until all are in), then each is echoed.

    The server starts under the common soft limit of 1,024 descriptors: it must
    raise it, and its default backlog must queue the burst."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * CLIENTS + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"needs {need} descriptors; the hard limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
    try:
        port = _serve(serving, "--mode", "echo")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    clients: list[socket.socket] = []
    try:
        for _ in range(CLIENTS):  # connect only: the server must hold them all
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            clients.append(sock)
        lost = 0
        for i, sock in enumerate(clients):
            sock.settimeout(LIMIT * 2)
            try:
                message = b"client %04d\n" % i
                sock.sendall(message)
                lost += sock.recv(64) != message
            except OSError:
                lost += 1
        assert lost == 0, f"{lost} of {CLIENTS} clients were not served"
        refusals = [line for line in serving[0].seen if '"refuse"' in line]
        assert refusals == []
    finally:
        for sock in clients:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_long_running_server_forgets_what_closed(lab: Lab) -> None:
    """3,000 connect/close cycles: the server lists only the newest closed
    connections and the lab keeps no finished thread."""
    server = listening(lab, backlog=128)
    service = Service(lab, server, "echo").start()
    for i in range(3000):
        with socket.create_connection(server.local, timeout=LIMIT) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x", i
    for _ in range(int(LIMIT / 0.05)):  # the last handlers finish on their own
        if server.open_connections == 0 and len(lab.threads()) <= 1:
            break
        threading.Event().wait(0.05)
    assert server.open_connections == 0
    assert len(server.connections) <= KEEP_CLOSED
    assert len(lab.threads()) <= 1  # the accept loop only
    assert len(service._handlers) == 0
