"""Floods: back-to-back data calls on one socket, counted instead of logged one by one.

After `COALESCE_AFTER` data calls of the same kind in a row on one socket,
further calls are counted into a `Flood`, not reported singly: one event per
`COALESCE_SECONDS` says ``recv ×1200, 75 MiB``.  This keeps per-event work off
the data path (see PERF-NOTES.md) while every byte is still accounted for.

Two objects share the work.  Each socket has a `Tally` (its streak and its
running flood: the hot path counts into it); the lab has one `Floods`, the set
of running floods and their flush, which reports sends before recvs so the log
stays causal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..events import Event

COALESCE_AFTER = 16
COALESCE_SECONDS = 0.1
#: A flood looks at the clock at most once per this many calls (fewer when the
#: calls are slow enough that the report would otherwise come late).
CLOCK_EVERY = 32


@dataclass(slots=True)
class Flood:
    """The calls of one kind counted on one socket since the last report."""

    op: str
    count: int = 0
    nbytes: int = 0
    args: tuple = ()
    started: float = 0.0
    #: ``count`` at which to look at the clock next (see `Flood.due`).
    check_at: int = 0

    def due(self) -> bool:
        """Has this flood run for `COALESCE_SECONDS`?  Called when ``count``
        reaches ``check_at``: the clock is read once per batch of calls, sized
        from the flood's rate so that the report is not late."""
        elapsed = time.monotonic() - self.started
        if elapsed >= COALESCE_SECONDS:
            return True
        # Calls expected before half the remaining time is up, at this rate.
        ahead = CLOCK_EVERY if elapsed <= 0 else int(
            self.count / elapsed * (COALESCE_SECONDS - elapsed) / 2)
        self.check_at = self.count + max(1, min(CLOCK_EVERY, ahead))
        return False


class Floods:
    """The floods running in one lab, and their reports.

    ``lock`` is the bus lock: a flush reports under it, so a recv event (which
    flushes first, under the same lock) never precedes the sends it returns.
    """

    def __init__(self, lock: threading.RLock, enabled: bool = True) -> None:
        self.lock = lock
        #: Coalescing on (the lab's ``coalesce``); off, every call is an event.
        self.enabled = enabled
        self._running: set[Tally] = set()

    def __bool__(self) -> bool:
        return bool(self._running)

    def add(self, tally: Tally) -> None:
        self._running.add(tally)

    def flush(self, keep_streaks: bool = False) -> None:
        """Report every counted flood: sends before recvs, so order stays causal.

        ``keep_streaks`` (a periodic report in a flood that goes on) lets each
        socket go straight back to counting instead of reporting calls singly.
        """
        with self.lock:
            pending = sorted(self._running, key=lambda t: t.flood is None or
                             t.flood.op.startswith("recv"))
            for tally in pending:
                # One by one, not clear(): a recv flood may start (without the
                # bus lock) while this runs, and must stay listed to be reported.
                self._running.discard(tally)
                tally.report()
                if not keep_streaks:
                    tally.streak = 0


class Tally:
    """One socket's streak of same-kind data calls, and the flood it may be counting.

    ``emit`` reports an event for the socket (its side and connection filled in).
    """

    __slots__ = ("floods", "emit", "op", "streak", "flood", "lock")

    def __init__(self, floods: Floods, emit: Callable[..., Event]) -> None:
        self.floods = floods
        self.emit = emit
        self.op = ""
        self.streak = 0
        self.flood: Flood | None = None
        #: Guards counting into ``flood`` against a report from another thread.
        self.lock = threading.Lock()

    def counted(self, op: str, nbytes: int) -> bool:
        """Count one more ``op`` call into the running flood, if there is one.

        The data calls' fast path: no event, no payload escaping, no allocation.
        """
        with self.lock:
            flood = self.flood
            if flood is None or flood.op != op:
                return False
            flood.count += 1
            flood.nbytes += nbytes
        if flood.count >= flood.check_at and flood.due():
            self.floods.flush(keep_streaks=True)  # a long flood reports as it goes
        return True

    def count_call(self, flood: Flood, call: Callable[..., int], *args: object) -> int:
        """Make a data call counted into ``flood``: no event, so no bus lock.

        Holding this tally's lock across the call and its count is enough for
        causality: a flush (which holds the bus lock, and which any recv event
        waits for) takes this lock to report the flood, so it reports this call
        before any recv of its bytes.  It also keeps close() (which takes it)
        from closing the socket under the call.  Returns the bytes, or -1 when
        the call was not made or not counted (the flood was reported meanwhile,
        or it would block): then the full path makes it.  A failure raises.
        """
        with self.lock:
            if self.flood is not flood:
                return -1
            try:
                n = call(*args)
            except (BlockingIOError, InterruptedError):
                return -1
            flood.count += 1
            flood.nbytes += n
        if flood.count >= flood.check_at and flood.due():
            self.floods.flush(keep_streaks=True)
        return n

    def note(self, op: str, nbytes: int, args: tuple, shown_waiting: bool) -> bool:
        """One more successful data call: True when it starts (is counted into) a flood.

        A call already shown waiting is reported with its own "done", never counted.
        """
        if self.op == op:
            self.streak += 1
        else:
            self.end()
            self.op, self.streak = op, 1
        if self.streak > COALESCE_AFTER and self.floods.enabled and not shown_waiting:
            self.flood = Flood(op, 1, nbytes, args, time.monotonic())
            self.floods.add(self)
            return True
        return False

    def interrupt(self, op: str = "") -> None:
        """A call that is not part of a streak: report the flood, start over."""
        self.end()
        self.op, self.streak = op, 0

    def end(self) -> None:
        """Report the running flood now (and every other, to keep the order)."""
        if self.flood is not None:
            self.floods.flush()

    def report(self) -> Event | None:
        """The running flood as one event (``count`` calls, ``nbytes`` in all)."""
        with self.lock:
            flood, self.flood = self.flood, None
        if flood is None or flood.count == 0:
            return None
        return self.emit(flood.op, args=flood.args, result=flood.nbytes,
                         nbytes=flood.nbytes, count=flood.count)

    def count_batch(self, flood: Flood, op: str, args: tuple, count: int,
                    nbytes: int) -> None:
        """Count ``count`` calls made since ``flood`` was seen into this socket's flood."""
        with self.lock:
            current = self.flood
            if current is flood:
                flood.count += count
                flood.nbytes += nbytes
        if current is flood:
            if flood.count >= flood.check_at and flood.due():
                self.floods.flush(keep_streaks=True)
            return
        # The flood was reported meanwhile (by another thread): these calls
        # form the next one, reported in turn.
        with self.floods.lock:
            with self.lock:
                current = self.flood
                if current is not None and current.op == op:
                    current.count += count
                    current.nbytes += nbytes
                    return
            if current is not None:
                self.floods.flush()
            self.op, self.streak = op, COALESCE_AFTER
            self.flood = Flood(op, count, nbytes, args, time.monotonic())
            self.floods.add(self)


def flood_of(tally: Tally, op: str) -> Flood | None:
    """The flood ``tally`` is counting, if it counts ``op`` calls."""
    flood = tally.flood
    return flood if flood is not None and flood.op == op else None


__all__ = ["COALESCE_AFTER", "COALESCE_SECONDS", "Flood", "Floods", "Tally", "flood_of"]
