"""The engine's cost per data call, counted in instructions (load-independent).

Figures 1, 2 and 11 are wall-clock ratios: on a shared 2-core machine they move
by 0.2 from run to run.  This counts what the engine adds to one call in user
space, which the load does not change: each path makes one call N times in one
thread on a real loopback connection (the other end drained or filled by plain
calls, so only the measured side differs), under valgrind's callgrind, at N and
3N calls; the difference over 2N is the instructions of one call.  The same
path with plain socket calls is the baseline.

    python -m tests.benchmarks.datapath            # every path, engine and plain
    python -m tests.benchmarks.datapath tcp-send   # one path
    python -m tests.benchmarks.datapath run tcp-send-engine 1000   # (what is timed)

Without valgrind it says so.  Nothing here asserts; it prints.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from socklab.engine import Endpoint, Lab
from tests.helpers import stream_pair

CHUNK = 64 * 1024
#: What the discard server asks of each recv (modes.DISCARD_RECV_SIZE).
BIG = 1 << 20
DATAGRAM = 1024
#: Datagrams sent, then received, per step of the UDP paths.
BATCH = 64
#: Calls made before counting: each socket is inside its flood by then.
WARM = 200
CALLS = 1024

PATHS = ("tcp-send", "tcp-recv", "tcp-recv-drop", "udp-sendto", "udp-recvfrom")


def _tcp(lab: Lab) -> tuple[Endpoint, Endpoint]:
    _server, conn, client = stream_pair(lab)
    return client, conn


def _udp(lab: Lab) -> tuple[Endpoint, Endpoint]:
    server = lab.server(socket.AF_INET, socket.SOCK_DGRAM)
    server.socket()
    assert server.sock is not None
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    server.bind("127.0.0.1", 0)
    client = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
    client.socket()
    return client, server


def _tcp_step(path: str, engine: bool, client: Endpoint, conn: Endpoint) -> Callable[[], None]:
    """One 64 KiB send and its recvs; only ``path``'s side is the engine's."""
    data = b"x" * CHUNK
    csock, ssock = client.sock, conn.sock
    assert csock is not None and ssock is not None
    buffer = memoryview(bytearray(BIG))

    def fill() -> None:
        if engine and path == "tcp-send":
            client.send(data)
            return
        view, sent = memoryview(data), 0
        while sent < CHUNK:
            sent += csock.send(view[sent:])

    def drain() -> None:
        got = 0
        while got < CHUNK:
            if not engine or path == "tcp-send":
                got += ssock.recv_into(buffer) if path != "tcp-recv" else len(ssock.recv(BIG))
            elif path == "tcp-recv":
                got += len(conn.recv(BIG).data)
            else:
                got += len(conn.recv(BIG, keep=False).data)

    def step() -> None:
        fill()
        drain()
    return step


def _udp_step(path: str, engine: bool, client: Endpoint,
              server: Endpoint) -> Callable[[], None]:
    """``BATCH`` datagrams sent, then received; only ``path``'s side is the engine's."""
    data = b"u" * DATAGRAM
    csock, ssock = client.sock, server.sock
    assert csock is not None and ssock is not None
    port = server.local[1]
    to = ("127.0.0.1", port)

    def step() -> None:
        for _ in range(BATCH):
            if engine and path == "udp-sendto":
                client.sendto(data, "127.0.0.1", port)
            else:
                csock.sendto(data, to)
        if engine and path == "udp-recvfrom":
            got = 0
            while got < BATCH:
                got += len(server.recvfrom_many(65535, BATCH - got)[0])
        else:
            for _ in range(BATCH):
                ssock.recvfrom(65535)
    return step


def run(path: str, engine: bool, calls: int) -> float:
    """Make ``calls`` of ``path`` (after `WARM`); returns this thread's CPU seconds per call."""
    with Lab() as lab:
        lab.subscribe(lambda event: None)
        if path.startswith("tcp"):
            step = _tcp_step(path, engine, *_tcp(lab))
            steps = calls
        else:
            step = _udp_step(path, engine, *_udp(lab))
            steps, calls = calls // BATCH, calls // BATCH * BATCH
        for _ in range(WARM):
            step()
        started = time.thread_time()
        for _ in range(steps):
            step()
        return (time.thread_time() - started) / calls


def instructions(path: str, engine: bool, calls: int) -> int | None:
    """Instructions (callgrind) the whole run of ``calls`` calls takes, or None."""
    side = "engine" if engine else "plain"
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-m", "tests.benchmarks.datapath", "run",
                          f"{path}-{side}", str(calls)],
                         capture_output=True, text=True, timeout=1200)
    found = re.search(r"Collected : (\d+)", out.stderr)
    return int(found.group(1)) if out.returncode == 0 and found else None


def per_call(path: str, engine: bool) -> int | None:
    """Instructions of one call: the runs of `CALLS` and 3 × `CALLS` calls, differenced."""
    low, high = instructions(path, engine, CALLS), instructions(path, engine, 3 * CALLS)
    if low is None or high is None:
        return None
    calls = 2 * CALLS if path.startswith("tcp") else 2 * (CALLS // BATCH * BATCH)
    return round((high - low) / calls)


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        path, side = argv[1].rsplit("-", 1)
        seconds = run(path, side == "engine", int(argv[2]))
        print(f"{argv[1]}: {seconds * 1e6:.2f} µs of CPU per call")
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts")
        return 1
    for path in argv or PATHS:
        engine, plain = per_call(path, True), per_call(path, False)
        extra = "" if engine is None or plain is None else f"  (+{engine - plain:,})"
        print(f"{path:14} engine {engine or 0:>8,} plain {plain or 0:>8,} "
              f"instructions per call{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
