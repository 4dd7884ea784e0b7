"""Port scan of 127.0.0.1, ports 1-65535: socklab vs a plain sequential connect_ex loop.

Two rows: `ports.scan` against the loop in this process, and the command
``socklab ports 1-65535 --scan`` against the same loop as its own
``python -c`` process (both pay an interpreter start).  The benchmark plants
listeners of its own first, so there is always something to find, and runs
the baseline before and after socklab: a port counts as open if both
baseline runs found it (other programs on a shared machine open and close
ports meanwhile).  Same findings means socklab found every such port and
nothing that neither baseline run saw.  Self-connections (a connect into the
ephemeral range that meets itself) are discarded by both.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import ExitStack

from socklab import ports

from .report import Figure, median

HOST = "127.0.0.1"
RANGE = range(1, 65536)
PLANTED = 3

BASELINE_CODE = """
import socket, sys, time
started = time.monotonic()
found = []
for port in range(1, 65536):
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname() != s.getpeername():
            found.append(port)
print(found)
"""


def naive_scan(host: str, wanted: Iterable[int]) -> list[int]:
    """The plain sequential blocking ``connect_ex`` loop, what `ports.scan` is
    measured and checked against: the listening ports, self-connects discarded."""
    family, address = ports.resolve_scan_host(host)
    found = []
    for port in wanted:
        if port == 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if s.connect_ex((address, port)) == 0 and not ports.connected_to_itself(s):
                found.append(port)
    return found


def naive(ports_: range = RANGE) -> tuple[float, set[int]]:
    """The plain loop on this benchmark's range: (seconds, open ports)."""
    started = time.perf_counter()
    found = set(naive_scan(HOST, ports_))
    return time.perf_counter() - started, found


def socklab_scan() -> tuple[float, set[int]]:
    started = time.perf_counter()
    result = ports.scan(HOST, RANGE)
    return time.perf_counter() - started, set(result.listening)


def _process(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return time.perf_counter() - started, out.stdout


def cli_scan() -> tuple[float, set[int]]:
    """``socklab ports 1-65535 --scan``, timed as the user types it; findings from --json."""
    seconds, _ = _process([sys.executable, "-m", "socklab", "ports", "1-65535", "--scan"])
    _, out = _process([sys.executable, "-m", "socklab", "ports", "1-65535", "--scan", "--json"])
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    found = {r["port"] for r in rows if str(r.get("state", "")).startswith(ports.LISTENING)}
    return seconds, found


def cli_naive() -> tuple[float, set[int]]:
    seconds, out = _process([sys.executable, "-c", BASELINE_CODE])
    return seconds, set(json.loads(out.strip().splitlines()[-1]))


def _compare(name: str, runs: int, lab_run, base_run, planted: set[int],  # type: ignore[no-untyped-def]
             target: float) -> Figure:
    lab_times, base_times, problems = [], [], []
    for _ in range(runs):
        before_t, before = base_run()
        lab_t, found = lab_run()
        after_t, after = base_run()
        base_times += [before_t, after_t]
        lab_times.append(lab_t)
        stable = before & after
        missed = stable - found
        extra = found - (before | after)
        if not planted <= found:
            problems.append(f"missed the planted listeners {sorted(planted - found)}")
        if missed or extra:
            problems.append(
                f"differs from the loop: missed {sorted(missed)}, extra {sorted(extra)}")
    figure = Figure(name, median(lab_times), median(base_times), "s", target, False,
                    goal="a full scan faster than the naive connect loop, same findings "
                         "(issue 24)")
    figure.notes.append(
        f"{len(RANGE):,} ports on {HOST}, median of {runs} (baseline run before and after); "
        f"open ports found: {sorted(found)}")
    if problems:
        figure.ok = False
        figure.notes += problems
    return figure


def scan_figures(runs: int = 3) -> list[Figure]:
    with ExitStack() as stack:
        planted = set()
        for _ in range(PLANTED):
            listener = stack.enter_context(socket.socket())
            listener.bind((HOST, 0))
            listener.listen(128)
            planted.add(listener.getsockname()[1])
        return [
            _compare("6 port scan (ports.scan)", runs, socklab_scan, naive, planted, 0.7),
            _compare("6 port scan (socklab ports --scan)", runs, cli_scan, cli_naive, planted,
                     0.8),
        ]
