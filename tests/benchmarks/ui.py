"""Log ingest: the lab's EventLog vs Textual's own Log, headless, in the same run.

Each widget fills a 120×40 headless screen on its own and takes the same
number of items in batches of 100: the EventLog real `Event` objects through
its public `add_events` (it formats them as the lab shows them), the `Log`
the same events' plain text lines, pre-formatted, through `write_lines`.
Between batches the event loop runs (so the app refreshes as it would); the
clock stops when the widget has taken every item and painted the newest one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import Log

import socklab.ui.app
from socklab.logformat import format_line
from socklab.ui.app import SocklabApp
from socklab.ui.event_log import MAX_ROWS, EventLog

from . import corpus
from .report import Figure, median

INGEST_EVENTS = 100_000
BATCH = 100
SIZE = (120, 40)
#: A paint comes within a frame or two; this only keeps a broken run bounded.
PAINT_TIMEOUT = 30.0


class _PaintClock:
    """Notes when the widget last painted a line."""

    painted: float | None = None


class TimedEventLog(EventLog):
    clock = _PaintClock()

    def render_line(self, y: int) -> Strip:
        self.clock.painted = time.perf_counter()
        return super().render_line(y)


class TimedLog(Log):
    clock = _PaintClock()

    def render_line(self, y: int) -> Strip:
        self.clock.painted = time.perf_counter()
        return super().render_line(y)


class EventLogApp(App[None]):
    """The EventLog alone, styled by the lab's stylesheet and theme variables."""

    CSS_PATH = Path(socklab.ui.app.__file__).with_name(str(SocklabApp.CSS_PATH))
    get_theme_variable_defaults = SocklabApp.get_theme_variable_defaults

    def compose(self) -> ComposeResult:
        yield TimedEventLog(id="log")


class PlainLogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TimedLog(id="log", max_lines=MAX_ROWS)


async def _ingest(app: App[None], feed_batches: Sequence[object], done: object) -> float:
    """Seconds from the first batch to the first paint after the last one."""
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        widget = app.query_one("#log")
        clock = widget.clock  # type: ignore[attr-defined]
        feed = widget.add_events if isinstance(widget, EventLog) else widget.write_lines
        started = time.perf_counter()
        clock.painted = None
        for batch in feed_batches[:-1]:
            feed(batch)  # type: ignore[operator]
            await asyncio.sleep(0)
        feed(feed_batches[-1])  # type: ignore[operator]
        marker = time.perf_counter()  # any paint from now on shows the last batch
        while clock.painted is None or clock.painted < marker:
            if time.perf_counter() - marker > PAINT_TIMEOUT:
                raise RuntimeError(f"{type(widget).__name__} never painted its last batch")
            await asyncio.sleep(0.001)
        elapsed = clock.painted - started
        if not done(widget):  # type: ignore[operator]
            raise RuntimeError(f"{type(widget).__name__} did not take every item")
        return elapsed


def _batches(items: Sequence[object], size: int = BATCH) -> list[Sequence[object]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def ingest_figure(runs: int = 3, n: int = INGEST_EVENTS) -> Figure:
    events = corpus.events(n)
    lines = [format_line(e) for e in events]
    plain_lines = sum(line.count("\n") + 1 for line in lines)
    event_batches = _batches(events)
    line_batches = _batches(lines)

    def log_done(widget: Log) -> bool:
        return widget.line_count == min(plain_lines, MAX_ROWS) and \
            widget.lines[-1] == lines[-1].splitlines()[-1]

    def event_log_done(widget: EventLog) -> bool:
        return widget.buffer.received == n and widget.buffer.rows[-1].event.seq == n

    lab, plain = [], []
    for _ in range(runs):
        plain.append(n / asyncio.run(_ingest(PlainLogApp(), line_batches, log_done)))
        lab.append(n / asyncio.run(_ingest(EventLogApp(), event_batches, event_log_done)))
    figure = Figure("3 log ingest", median(lab), median(plain), "events/s", 1.0, True,
                    goal="the lab's log at least as fast as Textual's plain Log (issue 24)")
    figure.notes.append(
        f"{n:,} real events in batches of {BATCH} (EventLog.add_events) vs their "
        f"{plain_lines:,} text lines (Log.write_lines, max_lines={MAX_ROWS:,}), "
        f"{SIZE[0]}×{SIZE[1]} headless, until painted after the last batch; median of {runs}")
    return figure
