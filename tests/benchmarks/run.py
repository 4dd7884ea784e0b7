"""The figures in order, each measured against its baseline in the same run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from typing import TextIO

from .report import Figure, table

#: Figure 4's process, bounded (it takes about a minute on an idle machine).
FLOOD_TIMEOUT = 1200
FLOOD_GOAL = "the lab stays responsive under any flood"


def _tcp(quick: bool) -> list[Figure]:
    from . import net
    return [net.tcp_figure(3 if quick else 7)]


def _udp(quick: bool) -> list[Figure]:
    from . import net
    return [net.udp_figure(3 if quick else 7)]


def _ingest(quick: bool) -> list[Figure]:
    from . import ui
    return [ui.ingest_figure(1 if quick else 3)]


def _flood(quick: bool) -> list[Figure]:
    """Figure 4 runs in its own process, so the memory it reports is the app's alone."""
    from .flood import FLOOD_EVENTS
    try:
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.flood", str(FLOOD_EVENTS)],
                             capture_output=True, text=True, timeout=FLOOD_TIMEOUT, check=True)
    except subprocess.TimeoutExpired:
        # A starved machine can take longer than this: a failed figure, not a
        # crash that loses every other figure's result.
        figure = Figure("4 UI probe p99 under a flood", float("inf"), None, "ms", 100, False,
                        ok=False, goal=FLOOD_GOAL)
        figure.notes.append(f"not measured: the flood did not end within {FLOOD_TIMEOUT} s")
        return [figure]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    delay = Figure("4 UI probe p99 under a flood", r["p99_ms"], None, "ms", 100, False,
                   goal=FLOOD_GOAL)
    delay.notes.append(
        f"{r['events']:,} events emitted from a thread through the lab's bus in "
        f"{r['produce_seconds']:.1f} s; 20 ms timer probe: p50 {r['p50_ms']:.0f} ms, "
        f"max {r['max_ms']:.0f} ms over {r['probes']} ticks; the log showed "
        f"{r['shown']:,} and counted {r['skipped']:,} as not shown (kept {r['rows']:,} rows)")
    delay.notes.append(
        f"in CPU time (less sensitive to the machine's load): the UI thread between "
        f"two probe ticks p50 {r['busy_p50_ms']:.0f} ms, p99 {r['busy_p99_ms']:.0f} ms; its "
        f"longest task {r['task_max_ms']:.0f} ms ({r['tasks_over_50ms']} over 50 ms); the "
        f"longest garbage collection {r['gc_max_ms']:.0f} ms ({r['gc_count']:,} in all)")
    growth = r["peak_mib"] - r["idle_mib"]
    memory = Figure("4 peak memory over idle app", growth, None, "MiB", 50, False,
                    goal="a flood does not fill memory")
    memory.notes.append(f"idle app {r['idle_mib']:.0f} MiB resident, peak {r['peak_mib']:.0f} "
                        f"MiB (VmHWM) over the flood and the save "
                        f"({r['flood_peak_mib']:.0f} MiB at the end of the flood)")
    saved = Figure("4 events saved of the session", r["saved"], r["events"], "events", 1.0,
                   True, ok=bool(r["saved_complete"]), goal="every event of a session is saved")
    saved.notes.append(
        f"saved as JSON Lines in a worker in {r['save_seconds']:.1f} s (UI probe p99 "
        f"{r['save_p99_ms']:.0f} ms meanwhile); every seq 1..{r['events']:,} once, in order: "
        f"{'yes' if r['saved_complete'] else 'NO'}")
    return [delay, memory, saved]


def _startup(quick: bool) -> list[Figure]:
    from . import startup
    return [startup.startup_figure(3 if quick else 7, count_instructions=not quick)]


def _scan(quick: bool) -> list[Figure]:
    from . import scan
    return scan.scan_figures(1 if quick else 3)


def _bulk(quick: bool) -> list[Figure]:
    from . import bulk
    return [bulk.whole_process_figure(3 if quick else 5)]


def _huge(quick: bool) -> list[Figure]:
    from . import bulk
    return [bulk.huge_file_figure()]


def _cycles(quick: bool) -> list[Figure]:
    from . import bulk
    return bulk.cycles_figures(20_000 if quick else 50_000)


def _wire(quick: bool) -> list[Figure]:
    from . import wire
    return [wire.wire_figure(3 if quick else 7)]


def _kernel(quick: bool) -> list[Figure]:
    from . import kernel
    return [kernel.kernel_figure(1 if quick else 3, 5.0 if quick else 10.0)]


def _signals(quick: bool) -> list[Figure]:
    from . import signals
    return signals.signals_figures(1 if quick else 3)


FIGURES: dict[int, Callable[[bool], list[Figure]]] = {
    1: _tcp, 2: _udp, 3: _ingest, 4: _flood, 5: _startup, 6: _scan,
    7: _bulk, 8: _huge, 9: _cycles,
    10: _kernel,  # issue 10: the kernel view's cost on an idle lab
    11: _wire,  # issue 10: TCP bulk with packet capture on, against off
    12: _signals,  # issue 23: keys and stop signals win over a regular expression
}


#: Each figure's title, for a row that says it did not finish.
TITLES = {1: "TCP bulk throughput", 2: "UDP datagrams received", 3: "log ingest",
          4: "a flood of events", 5: "start-up to first paint", 6: "port scan",
          7: "whole-process 1 GiB send", 8: "sender peak RSS, 4 GiB --send-file",
          9: "echo server, 50k cycles", 10: "kernel view, idle lab",
          11: "TCP bulk, capture on / off", 12: "keys and signals over a regex"}


def _measured(number: int, quick: bool) -> list[Figure]:
    """One figure's rows; a figure that raises is one failed row saying why,
    so the other figures' results are still printed."""
    try:
        return FIGURES[number](quick)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        failed = Figure(f"{number} {TITLES[number]}", float("nan"), None, "", 0, False,
                        ok=False)
        failed.notes.append(f"did not finish: {type(exc).__name__}: {exc}")
        return [failed]


def run(wanted: set[int], *, quick: bool = False,
        progress: TextIO | None = None) -> tuple[list[Figure], str]:
    figures: list[Figure] = []
    for number in sorted(wanted):
        if progress is not None:
            print(f"figure {number} …", file=progress, flush=True)
        figures += _measured(number, quick)
    header = (f"socklab benchmark · Python {platform.python_version()} · "
              f"{os.cpu_count()} CPUs · {platform.system()} {platform.release()}")
    return figures, header + "\n\n" + table(figures)
