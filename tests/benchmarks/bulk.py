"""Whole processes: bulk bytes, huge files, a long-running server (issue 15).

- 7: ``socklab serve --mode discard`` + ``socklab connect --send-file F
  --half-close`` moving 1 GiB, against a plain-Python server (recv until EOF)
  and client (read + sendall), each pair as fresh processes, alternated, in
  the same run.  Wall time from the server's start to both processes' exit.
- 8: a 4 GiB sparse file sent with --send-file to a discard server and to
  socklab's echo server: the sender's peak resident memory (VmHWM).
- 9: 50,000 connect/close cycles against ``socklab serve --mode echo``: the
  server's memory growth after a 5,000-cycle warm-up, and the time of the last
  5,000 cycles against the first 5,000 after warm-up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .report import Figure, median

GiB = 1 << 30
REPO = Path(__file__).resolve().parent.parent.parent
SOCKLAB = [sys.executable, "-m", "socklab"]

PLAIN_SERVER = """\
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(5)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
while conn.recv(65536):
    pass
conn.close()
srv.close()
"""

PLAIN_CLIENT = """\
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(65536):
        sock.sendall(chunk)
sock.shutdown(socket.SHUT_WR)
while sock.recv(65536):
    pass
sock.close()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _port_from(path: Path, json_events: bool, proc: subprocess.Popen[bytes]) -> int:
    """The port a server wrote to ``path`` (its bind event, or a bare number)."""
    for _ in range(20_000):
        text = path.read_text()
        for line in text.splitlines():
            if json_events:
                event = json.loads(line)
                if event["op"] == "bind":
                    return int(event["result"][1])
            elif line.strip().isdigit():
                return int(line)
        if proc.poll() is not None:
            raise RuntimeError(f"the server ended early: {text}")
        time.sleep(0.002)
    raise RuntimeError("the server never said its port")


def _pair(socklab: bool, payload: Path, workdir: Path) -> float:
    """One transfer by a fresh server and client; the wall time, in seconds."""
    out = workdir / ("socklab.out" if socklab else "plain.out")
    started = time.perf_counter()
    with open(out, "w") as sink:
        if socklab:
            server = subprocess.Popen(
                [*SOCKLAB, "serve", "--mode", "discard", "--port", "0", "--json", "--count",
                 "1"], stdout=sink, stderr=subprocess.DEVNULL, env=_env(), cwd=REPO)
        else:
            server = subprocess.Popen([sys.executable, "-c", PLAIN_SERVER], stdout=sink,
                                      env=_env())
        try:
            port = _port_from(out, socklab, server)
            if socklab:
                client = [*SOCKLAB, "connect", "127.0.0.1", str(port), "--send-file",
                          str(payload), "--half-close", "--json"]
            else:
                client = [sys.executable, "-c", PLAIN_CLIENT, str(payload), str(port)]
            subprocess.run(client, stdout=subprocess.DEVNULL, env=_env(), cwd=REPO,
                           check=True, timeout=600)
            server.wait(timeout=600)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    return time.perf_counter() - started


def sparse_file(folder: Path, size: int) -> Path:
    path = folder / f"payload-{size}.bin"
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def whole_process_figure(repeats: int) -> Figure:
    """Figure 7: socklab's pair vs the plain pair, moving 1 GiB, alternated.

    socklab starts from cached bytecode, as installed (figure 5 does the same):
    with PYTHONDONTWRITEBYTECODE, as on these machines, a run of ``--only 7``
    compiled each of socklab's modules at every process start."""
    from .startup import cache_bytecode
    cache_bytecode()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        payload = sparse_file(workdir, GiB)
        ours: list[float] = []
        plain: list[float] = []
        for i in range(repeats):
            for socklab in ((True, False) if i % 2 == 0 else (False, True)):
                (ours if socklab else plain).append(_pair(socklab, payload, workdir))
    figure = Figure("7 whole-process 1 GiB send (wall)", median(ours), median(plain), "s",
                    1.0, False, goal="socklab's commands move bulk data as fast as plain Python")
    figure.notes.append(
        f"socklab serve --mode discard + connect --send-file --half-close: median "
        f"{median(ours):.2f} s ({GiB / median(ours) / 2**20:.0f} MiB/s); plain Python "
        f"recv + read/sendall: {median(plain):.2f} s; {repeats} fresh pairs each, alternated")
    return figure


def _sender_peak(args: list[str]) -> tuple[int, int]:
    """Run a socklab command; (exit status, its peak resident memory in bytes)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(), cwd=REPO)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.05)
    return proc.wait(timeout=900), peak


def _serve(mode: str, workdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    out = workdir / f"serve-{mode}.out"
    with open(out, "w") as sink:
        server = subprocess.Popen([*SOCKLAB, "serve", "--mode", mode, "--port", "0", "--json",
                                   *extra], stdout=sink, stderr=subprocess.DEVNULL,
                                  env=_env(), cwd=REPO)
    return server, _port_from(out, True, server)


def huge_file_figure(size: int = 4 * GiB) -> Figure:
    """Figure 8: the sender's peak memory sending a 4 GiB file (discard, then echo)."""
    peaks: dict[str, int] = {}
    finished: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        payload = sparse_file(workdir, size)
        for mode in ("discard", "echo"):
            server, port = _serve(mode, workdir, "--count", "1")
            try:
                status, peaks[mode] = _sender_peak(
                    [*SOCKLAB, "connect", "127.0.0.1", str(port), "--send-file", str(payload),
                     "--half-close", "--json"])
                finished[mode] = status == 0 and server.wait(timeout=600) == 0
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
    worst = max(peaks.values()) / 2**20
    figure = Figure("8 sender peak RSS, 4 GiB --send-file", worst, None, "MiB", 64, False,
                    ok=all(finished.values()),
                    goal="a file of any size is streamed, not read into memory")
    figure.notes.append("to discard {:.0f} MiB, to echo {:.0f} MiB; both finished: {}".format(
        peaks["discard"] / 2**20, peaks["echo"] / 2**20, "yes" if all(finished.values())
        else "NO"))
    return figure


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _cycles(port: int, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"x")
            sock.recv(1)
    return time.perf_counter() - started


def cycles_figures(cycles: int = 50_000, block: int = 5_000) -> list[Figure]:
    """Figure 9: a long-running echo server's memory and accept cost over many cycles."""
    with tempfile.TemporaryDirectory() as folder:
        server, port = _serve("echo", Path(folder))
        try:
            _cycles(port, block)  # warm-up
            threading.Event().wait(0.5)
            warm = _rss(server.pid)
            times = [_cycles(port, block) for _ in range(cycles // block - 1)]
            threading.Event().wait(0.5)
            grown = (_rss(server.pid) - warm) / 2**20
        finally:
            server.terminate()
            server.wait(timeout=60)
    memory = Figure("9 echo server RSS growth, 50k cycles", grown, None, "MiB", 5, False,
                    goal="a long-running server does not grow")
    memory.notes.append(f"{cycles:,} connect/send/recv/close cycles; RSS after the "
                        f"{block:,}-cycle warm-up {warm / 2**20:.0f} MiB")
    pace = Figure("9 last 5,000 cycles vs first (time)", times[-1], times[0], "s", 1.25, False,
                  goal="a long-running server does not slow down")
    pace.notes.append("blocks of 5,000 after warm-up, seconds: "
                      + ", ".join(f"{t:.1f}" for t in times))
    return [memory, pace]
