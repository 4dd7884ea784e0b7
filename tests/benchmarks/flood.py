"""Responsiveness under a flood: the real lab app while 1,000,000 events arrive.

Run as its own process (``python -m tests.benchmarks.flood``) so its memory
figures are the app's alone; it prints one JSON object.  A thread emits real
events through the lab's own bus (`EventBus.emit` → the bridge's sink → its
deque → the 20 Hz tick: every event to the spool, a bounded batch to the
EventLog), while a 20 ms `set_interval` timer probes the UI: its lateness is
how long the UI was busy.  Then the whole session is saved as JSON Lines (the
``j`` key, in a worker, the probe still running) and the file is checked: every
seq from 1 to N exactly once, in order.  Memory is the process's peak resident
set (VmHWM) at the end against its resident set (VmRSS) once the idle app has
settled, before the flood.

The probe's lateness is wall-clock time, and a shared machine stretches it;
two figures beside it do not depend on the load: the UI thread's own CPU time
between two probe ticks (``busy_*``: what the event loop did in that gap,
garbage collection included), the UI thread's longest single task (one
callback of the event loop: a timer, a message, a frame) in CPU time
(``task_max_ms``, and ``tasks_over_50ms``), and the longest cyclic garbage
collection during the flood (``gc_max_ms``, CPU time, any thread: a collection
holds the GIL, so it stops the UI too).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import gc
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from socklab.ui.app import SocklabApp

from . import corpus

FLOOD_EVENTS = 1_000_000
PROBE_INTERVAL = 0.02


def memory_mib(field: str = "VmRSS") -> float:
    """VmRSS (resident now) or VmHWM (the peak resident size so far), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Collections:
    """The CPU time of each cyclic garbage collection while `on` (any thread)."""

    def __init__(self) -> None:
        self.on = False
        self.seconds: list[float] = []
        self._started: dict[int, float] = {}

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started[threading.get_ident()] = time.thread_time()
            return
        started = self._started.pop(threading.get_ident(), None)
        if self.on and started is not None:
            self.seconds.append(time.thread_time() - started)


@contextlib.contextmanager
def task_times() -> Iterator[list[float]]:
    """The CPU time of every callback the event loop runs meanwhile (the UI
    thread's tasks: Handle._run is what the loop calls for each)."""
    times: list[float] = []
    run = asyncio.events.Handle._run
    clock = time.thread_time

    def timed(handle: asyncio.events.Handle) -> None:
        started = clock()
        try:
            run(handle)
        finally:
            times.append(clock() - started)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        yield times
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]


def saved_in_order(path: Path, n: int) -> bool:
    """Every seq 1..n exactly once, in order (reads the seq of each line only)."""
    expected = 1
    with path.open(encoding="utf-8") as f:
        for line in f:
            # Each line starts {"seq": N, ...: no full parse needed for a million.
            seq = int(line[8 : line.index(",", 8)])
            if seq != expected:
                return False
            expected += 1
    return expected == n + 1


async def measure(n: int = FLOOD_EVENTS) -> dict[str, float]:
    fields = corpus.event_fields(len(corpus.real_events()))
    out = Path(tempfile.mkdtemp(prefix="socklab-flood-"))
    app = SocklabApp(save_dir=out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        idle = memory_mib()
        ticks: list[float] = []
        #: The UI thread's CPU time at each tick (see the module's docstring).
        cpu: list[float] = []

        def probe() -> None:
            ticks.append(time.perf_counter())
            cpu.append(time.thread_time())

        app.set_interval(PROBE_INTERVAL, probe)
        await pilot.pause(0.2)
        emit = app.session.lab.bus.emit

        last = [0]

        def flood() -> None:
            cycle = len(fields)
            for i in range(n - 1):
                emit(**fields[i % cycle])
            last[0] = emit(**fields[(n - 1) % cycle]).seq

        producer = threading.Thread(target=flood, name="flood")
        collections = Collections()
        gc.callbacks.append(collections)
        ticks.clear()
        cpu.clear()
        collections.on = True
        started = time.perf_counter()
        with task_times() as tasks:
            producer.start()
            while producer.is_alive():
                await asyncio.sleep(0.05)
            produced = time.perf_counter() - started
            log = app.event_log
            while not log.buffer.rows or log.buffer.rows[-1].event.seq < last[0]:
                await asyncio.sleep(0.01)
            taken = time.perf_counter() - started
        await pilot.pause(0.1)
        collections.on = False
        gc.callbacks.remove(collections)
        late = [(b - a) - PROBE_INTERVAL for a, b in zip(ticks, ticks[1:], strict=False)]
        busy = [b - a for a, b in zip(cpu, cpu[1:], strict=False)]
        probes = len(ticks)
        flood_peak = memory_mib("VmHWM")
        ticks.clear()
        save_started = time.perf_counter()
        app.action_save_log(True)
        await app.workers.wait_for_complete()
        saved_seconds = time.perf_counter() - save_started
        await pilot.pause(0.1)
        save_late = [(b - a) - PROBE_INTERVAL for a, b in zip(ticks, ticks[1:], strict=False)]
        peak = memory_mib("VmHWM")
        saved = next(out.glob("socklab-log-*.jsonl"))
        with saved.open(encoding="utf-8") as f:
            saved_lines = sum(1 for _ in f)
        complete = saved_in_order(saved, n)
        saved.unlink()
        out.rmdir()
        result = {
            "events": n,
            "shown": log.buffer.received,
            "skipped": getattr(app, "skipped", 0),
            "rows": len(log.buffer.rows),
            "produce_seconds": produced,
            "seconds": taken,
            "probes": probes,
            "p50_ms": percentile(late, 0.50) * 1000,
            "p99_ms": percentile(late, 0.99) * 1000,
            "max_ms": max(late) * 1000,
            "busy_p50_ms": percentile(busy, 0.50) * 1000,
            "busy_p99_ms": percentile(busy, 0.99) * 1000,
            "busy_max_ms": max(busy) * 1000,
            "task_max_ms": max(tasks) * 1000,
            "tasks_over_50ms": sum(1 for t in tasks if t > 0.05),
            "gc_count": len(collections.seconds),
            "gc_max_ms": max(collections.seconds, default=0.0) * 1000,
            "idle_mib": idle,
            "peak_mib": peak,
            "flood_peak_mib": flood_peak,
            "saved": saved_lines,
            "saved_complete": complete,
            "save_seconds": saved_seconds,
            "save_p99_ms": percentile(save_late, 0.99) * 1000 if save_late else 0.0,
        }
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else FLOOD_EVENTS
    print(json.dumps(asyncio.run(measure(n))))


if __name__ == "__main__":
    main()
