"""The one place the lab's threads meet the screen.

Engine threads report every call as an event on the lab's bus; the bus calls
`Bridge.sink` under its lock, on whatever thread made the call, so the sink
only appends the event to two deques (O(1), never blocks, never touches a
widget): one for the spool, one bounded for the screen.  A 20 Hz timer on the
UI thread then

1. hands *every* event that arrived to the session's `Spool` (a file written
   by a thread of its own), so that saving writes the whole session;
2. publishes a bounded `Batch` to each subscriber (the log, the view-state
   model, the port-info rechecks, ...): at most `DRAIN_MAX` events per tick;
   a storm that outruns the screen keeps its newest `VIEW_MAX` events and
   counts the rest as not shown, so memory stays bounded.

The two deques hold the same event objects: what waits for the spool is the
newest events, which the screen's deque holds anyway, so the spool costs
(almost) no memory while the screen keeps up.

While a storm lasts (events still wait for the screen after a tick), the
cyclic collector's full passes come five times less often (`StormCollections`):
each walks every live object, and a storm fills the log with tens of
thousands, so every pass stopped the UI for tens of milliseconds, every few
seconds.

Lab threads that must tell the learner something (an unexpected failure, a
saved file) use `Bridge.tell`, which queues the message for the same timer.
Nothing here names a subscriber: a new view subscribes, the bridge is unchanged.
"""

from __future__ import annotations

import contextlib
import gc
import io
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from textual.app import App
from textual.notifications import SeverityLevel

from ..events import Event
from ..logformat import log_name, write_events, write_log
from ..spool import Spool

#: How often arrived events are published (a batch per tick).
DRAIN_INTERVAL = 1 / 20
#: Events published per tick at most, so a storm of calls never makes one tick
#: long; a burst bigger than this is shown over a few ticks.
DRAIN_MAX = 500
#: Events kept waiting for the screen.  A storm that outruns it (the engine
#: coalesces data floods, so only a storm of distinct calls gets here) keeps
#: its newest events and counts the rest as not shown.  The spool has them all.
#: Half a second of the screen's pace: under a flood these events live long
#: enough to reach the collector's oldest generation, and each full collection
#: walks all of them on the UI's time (20,000 made those passes twice as long).
VIEW_MAX = 5_000
#: How long a save waits for the spool's writer to catch up (a hang guard).
SAVE_WAIT = 120.0


#: A lone change is shown at once; while events keep coming, the panes redraw
#: and port info looks again after this pause, doubling up to `REFRESH_SLOWEST`
#: while the storm lasts (restyling a pane's buttons costs a frame or two).
REFRESH_EVERY = 0.25
REFRESH_SLOWEST = 1.0


#: While a storm lasts, a full collection waits for this many collections of the
#: middle generation (Python's default: 10; here about 15 s of a flood).  Not for
#: the whole storm: the garbage that waits is walked by the pass that comes
#: (some of Textual's drawn strips are reference cycles), and 200 (a pass a
#: minute) made that pass the flood's longest pause.
STORM_FULL_AFTER = 50


class StormCollections:
    """Full collections come less often while a storm of events lasts.

    The collector's young passes run as usual (they free the storm's short-lived
    garbage); its full pass, which walks every live object (the log's rows and
    their events: tens of thousands in a storm) on whichever thread allocates,
    waits for `STORM_FULL_AFTER` passes over the middle generation instead of
    10, or for the storm's end.  The storm's own objects are freed by their
    reference counts meanwhile: only garbage in cycles that reached the oldest
    generation waits.
    """

    def __init__(self) -> None:
        #: The thresholds before the storm; None: no storm.
        self._saved: tuple[int, int, int] | None = None

    @property
    def storm(self) -> bool:
        return self._saved is not None

    def set_storm(self, storm: bool) -> None:
        if storm and self._saved is None:
            self._saved = young, middle, full = gc.get_threshold()
            gc.set_threshold(young, middle, max(full, STORM_FULL_AFTER))
        elif not storm and self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


class Coalesced:
    """Run an action at once, then, while asked again, after a pause that grows.

    For a subscriber whose work is costly (restyling buttons, a lookup): it
    takes every batch, and paces what it redraws.  A learner's clicks are
    shown at once; a storm is shown about once a second.
    """

    def __init__(self, app: App, action: Callable[[], None], pause: float = REFRESH_EVERY,
                 slowest: float = REFRESH_SLOWEST) -> None:
        self._app = app
        self._action = action
        self._first = self._pause = pause
        self._slowest = slowest
        self._cooling = False
        self._asked = False

    def ask(self) -> None:
        self._asked = True
        if not self._cooling:
            self.run_now()

    def run_now(self) -> None:
        """Run now if asked (a settled moment: after a Reset, in tests)."""
        if not self._asked:
            return
        self._asked = False
        self._action()
        if not self._cooling:
            self._cooling = True
            self._app.set_timer(self._pause, self._cooled)

    def _cooled(self) -> None:
        self._cooling = False
        if self._asked:  # still busy: wait longer next time
            self._pause = min(self._pause * 2, self._slowest)
            self.run_now()
        else:
            self._pause = self._first


@dataclass(frozen=True, slots=True)
class Batch:
    """What one tick publishes: events in the order they happened."""

    events: list[Event]
    #: Events a storm kept from the screen just before this batch.
    gap: int
    #: Events kept from the screen so far in the session (all are in the spool).
    skipped: int


Subscriber = Callable[[Batch], None]


@dataclass(frozen=True, slots=True)
class Note:
    """A message for the learner, from any thread."""

    message: str
    title: str = "socklab"
    severity: SeverityLevel = "information"


class Bridge:
    """Batches the bus's events for the screen and spools all of them."""

    def __init__(self, app: App, spool: Spool | None = None) -> None:
        self._app = app
        self.spool = spool or Spool()
        #: Filled by the sink (any thread), emptied by the tick (UI thread):
        #: every event, for the spool, and the newest, for the screen.
        self._arrived: deque[Event] = deque()
        self._view: deque[Event] = deque(maxlen=VIEW_MAX)
        self._notes: deque[Note] = deque()
        self._subscribers: list[Subscriber] = []
        self._last_seq = 0
        self.skipped = 0
        self._saving = threading.Lock()
        self.collections = StormCollections()

    # -- any thread ------------------------------------------------------------

    def sink(self, event: Event) -> None:
        """Called by the bus under its lock, from any thread: only queue the event."""
        self._arrived.append(event)
        self._view.append(event)

    def tell(self, message: str, *, title: str = "socklab",
             severity: SeverityLevel = "information") -> None:
        """Show ``message`` as a notification at the next tick (any thread)."""
        self._notes.append(Note(message, title, severity))

    # -- the UI thread ---------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Have ``callback`` receive every published batch; returns an unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def start(self) -> None:
        self._app.set_interval(DRAIN_INTERVAL, self.tick)

    def _take(self) -> None:
        """Hand every event that arrived to the spool."""
        arrived = self._arrived
        count = len(arrived)
        if count:
            popleft = arrived.popleft
            self.spool.add([popleft() for _ in range(count)])

    def tick(self) -> None:
        """Take what arrived and publish one bounded batch."""
        self._take()
        notes = self._notes
        while notes:
            note = notes.popleft()
            self._app.notify(note.message, title=note.title,
                             severity=note.severity, markup=False)
        view = self._view
        if not view:
            self.collections.set_storm(False)
            return
        popleft = view.popleft
        events = [popleft() for _ in range(min(len(view), DRAIN_MAX))]
        # Events left waiting after a full batch: the screen is behind, a storm.
        self.collections.set_storm(bool(view))
        # seq is one global order: a gap means the bounded view let events go.
        gap = max(0, events[0].seq - self._last_seq - 1)
        self._last_seq = events[-1].seq
        self.skipped += gap
        batch = Batch(events, gap, self.skipped)
        for callback in tuple(self._subscribers):
            try:
                callback(batch)
            except Exception as exc:  # one broken view must not stop the others
                self._app.log.error(f"a subscriber failed on a batch: {exc!r}")

    def flush(self) -> None:
        """Publish everything that has arrived, now (after a Reset; tests)."""
        for _ in range(VIEW_MAX // DRAIN_MAX + 2):
            if not self._view:
                break
            self.tick()
        self.tick()  # notes queued meanwhile

    # -- saving the whole session ------------------------------------------------

    def save(self, directory: Path, json_lines: bool) -> None:
        """Write every event of the session to a file, in a worker; a note says where."""
        self._take()  # everything emitted before the key press is in the spool
        kind = "JSON Lines" if json_lines else "text"
        self._app.run_worker(lambda: self._save(directory, json_lines, kind), thread=True,
                             group="save", exit_on_error=False, name=f"save {kind}")

    def _save(self, directory: Path, json_lines: bool, kind: str) -> None:
        with self._saving:
            try:
                _count, size = self.spool.written(SAVE_WAIT)
                counted = _Counted(self.spool.events(size))
                if self._app.is_web:  # the browser gets the file, not this machine's disk
                    path: Path | str = self._deliver(counted, json_lines)
                else:
                    path = write_log(counted, directory, json_lines)
            except (OSError, TimeoutError) as exc:
                self.tell(f"Could not save the log: {exc}", severity="error")
                return
        where = f"sent to the browser as {path}" if self._app.is_web else f"saved to {path}"
        self.tell(f"{counted.count:,} events {where}", title=f"Saved ({kind})")

    def _deliver(self, events: Iterable[Event], json_lines: bool) -> str:
        """Under ``socklab web``: the log goes to the browser as a download
        (``App.deliver_binary``), through an unnamed temporary file (no name on
        disk; gone once the browser has it)."""
        binary = tempfile.TemporaryFile()
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        write_events(events, text, json_lines)
        text.flush()
        text.detach()  # the bytes stay open for the delivery, which closes them
        name = log_name(json_lines)
        mime = "application/jsonl" if json_lines else "text/plain"
        self._app.call_from_thread(self._app.deliver_binary, binary, save_filename=name,
                                   mime_type=mime)
        return name

    def close(self) -> None:
        """The app is ending: stop publishing and remove the spool (after a save
        still writing, bounded by `SAVE_WAIT`, so its file is never cut short)."""
        self._subscribers.clear()
        self.collections.set_storm(False)
        got = self._saving.acquire(timeout=SAVE_WAIT)
        try:
            self.spool.close()
        finally:
            if got:
                self._saving.release()


class _Counted:
    """An iterable of events that counts what it gave."""

    def __init__(self, events: Iterable[Event]) -> None:
        self._events = events
        self.count = 0

    def __iter__(self) -> Iterator[Event]:
        for event in self._events:
            self.count += 1
            yield event
