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

import socket
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
        #: Sends some of whose bytes are out while the call waits for room in the
        #: socket's buffer, not said yet: (the socket's tally, the thread making the
        #: call) -> when the call began.  `settle` says them before the next event.
        self.midway: dict[tuple[Tally, int], float] = {}
        self._settling = False

    def __bool__(self) -> bool:
        return bool(self._running)

    def add(self, tally: Tally) -> None:
        self._running.add(tally)

    def settle(self) -> None:
        """Before an event is numbered (the bus's hook, under the bus lock): a send
        whose bytes are partly out while it waits is said first ("send waits",
        after the floods counted before it), so no event that shows those bytes
        (a recv, a flood of recvs) is numbered before the call that sent them.
        Waits inside a flood are otherwise quiet: a send that waits with none of
        its bytes out needs no line, and one that ends before any event is
        numbered is counted as it ends (see `DataCalls._send_rest`).

        A counted send in the kernel holds its tally's lock and never waits for
        anything while it does: taking each running flood's lock lets such a
        send end first, counted or listed midway."""
        if self._settling or not (self.midway or self._running):
            return
        self._settling = True
        try:
            for tally in list(self._running):
                with tally.lock:
                    pass
            if self.midway:
                self._report(keep_streaks=True)
                self._say_midway()
        finally:
            self._settling = False

    def flush(self, keep_streaks: bool = False) -> None:
        """Report every counted flood: sends before recvs, so order stays causal.

        A request/answer flood is two floods on one socket (recv and send):
        its send half is reported with the other sends, its recv half after.
        ``keep_streaks`` (a periodic report in a flood that goes on) lets each
        socket go straight back to counting instead of reporting calls singly.
        """
        with self.lock:
            settling, self._settling = self._settling, True
            try:
                self._report(keep_streaks)
            finally:
                self._settling = settling

    def _report(self, keep_streaks: bool) -> None:
        """`flush`'s work (under the bus lock).  A send listed midway is said after
        the sends and before the recvs: once every flood is taken (each take waits
        for a counted send in the kernel), every send whose bytes a taken recv
        flood holds is counted in a send flood or listed midway."""
        taken: list[tuple[Tally, Flood]] = []
        for tally in list(self._running):
            # One by one, not clear(): a recv flood may start (without the
            # bus lock) while this runs, and must stay listed to be reported.
            self._running.discard(tally)
            taken.extend((tally, flood) for flood in tally.take())
            if not keep_streaks:
                tally.streak = 0
        taken.sort(key=lambda pair: pair[1].op.startswith("recv"))
        for tally, flood in taken:
            if self.midway and flood.op.startswith("recv"):
                self._say_midway()
            tally.report(flood)

    def _say_midway(self) -> None:
        while self.midway:
            (tally, thread), began = self.midway.popitem()
            tally.say_midway(began, thread)


#: The request/answer pairs a flood may alternate between (a server's recv
#: then send, a client's send then recv), counted as two floods on one socket.
PAIRS = frozenset({("recv", "send"), ("send", "recv"),
                   ("recvfrom", "sendto"), ("sendto", "recvfrom")})


class Tally:
    """One socket's streak of data calls, and the flood(s) it may be counting.

    A streak is either one call repeated (``send ×N``) or, strictly
    alternating, a request/answer pair (an echo: ``recv``, ``send``, ``recv``
    ...): after `COALESCE_AFTER` of either, calls are counted into ``flood``
    (and, for a pair, ``partner``, the other call's flood).
    ``emit`` reports an event for the socket (its side and connection filled in).
    """

    __slots__ = ("floods", "emit", "say_midway", "op", "_streak", "turns", "pair", "args",
                 "flood", "partner", "lock")

    def __init__(self, floods: Floods, emit: Callable[..., Event],
                 say_midway: Callable[[float, int], None]) -> None:
        self.floods = floods
        self.emit = emit
        #: Says the socket's send waiting with some of its bytes out (`Floods.settle`).
        self.say_midway = say_midway
        self.op = ""
        self._streak = 0
        #: Strict alternations of a request/answer pair, in a row.
        self.turns = 0
        #: The pair this socket floods with, once its alternation became a flood.
        self.pair: tuple[str, str] | None = None
        #: The arguments of each data call last seen (a pair flood reports both).
        self.args: dict[str, tuple] = {}
        self.flood: Flood | None = None
        self.partner: Flood | None = None
        #: Guards counting into a flood against a report from another thread.
        self.lock = threading.Lock()

    @property
    def streak(self) -> int:
        """Same-kind calls in a row; set to 0, the socket starts over (no pair)."""
        return self._streak

    @streak.setter
    def streak(self, value: int) -> None:
        self._streak = value
        if not value:
            self.turns = 0
            self.pair = None

    def _running(self, op: str) -> Flood | None:
        """The flood counting ``op`` calls, if one does (the caller holds ``lock``)."""
        flood = self.flood
        if flood is not None and flood.op != op:
            flood = self.partner
            if flood is not None and flood.op != op:
                return None
        return flood

    def counted(self, op: str, nbytes: int) -> bool:
        """Count one more ``op`` call into the running flood, if there is one.

        The data calls' fast path: no event, no payload escaping, no allocation.
        """
        with self.lock:
            flood = self._running(op)
            if flood is None:
                return False
            flood.count += 1
            flood.nbytes += nbytes
        if flood.count >= flood.check_at and flood.due():
            self.floods.flush(keep_streaks=True)  # a long flood reports as it goes
        return True

    def count_sendto(self, flood: Flood, sock: socket.socket, data: bytes, to: tuple) -> int:
        """sendto(data, to) counted into ``flood``: no event, so no bus lock.

        Holding this tally's lock across the call and its count is enough for
        causality: a flush (which holds the bus lock, and which any recv event
        waits for) takes this lock to report the flood, so it reports this call
        before any recv of its bytes.  It also keeps close() (which takes it)
        from closing the socket under the call.  Returns the bytes, or -1 when
        the call was not made or not counted (the flood was reported meanwhile,
        or it would block): then the full path makes it.  A failure raises.
        """
        with self.lock:
            if flood is not self.flood and flood is not self.partner:
                return -1
            try:
                n = sock.sendto(data, to)
            except (BlockingIOError, InterruptedError):
                return -1
            flood.count += 1
            flood.nbytes += n
        if flood.count >= flood.check_at and flood.due():
            self.floods.flush(keep_streaks=True)
        return n

    def count_send(self, flood: Flood, op_lock: threading.Lock, sock: socket.socket,
                   data: bytes, began: float) -> int:
        """send(data), all of it, counted into ``flood``: a stream flood's fast path.

        As `count_sendto`: this tally's lock is held across the calls and their
        count (a flush takes it to report the flood, so it reports this send
        before any recv of its bytes), and no bus lock is needed.  ``op_lock``
        (the socket's) is held too, as the full path holds it: no other call on
        the socket comes between the calls of one send.  Returns ``len(data)``
        when all of it was sent and counted; the bytes sent so far when the
        kernel would block midway (fewer: the full path sends the rest and
        counts the call, or reports it; the call is listed in ``midway`` first,
        under this lock, with the time it ``began``: the next event numbered
        says it before any recv of those bytes can show); -1 when nothing was
        tried (the flood was reported meanwhile).  A failure raises.
        """
        total = len(data)
        sent = 0
        with op_lock, self.lock:
            if flood is not self.flood and flood is not self.partner:
                return -1
            try:
                # At least one real send(), even of b'', as the full path makes.
                sent = sock.send(data)
                if sent < total:
                    view = memoryview(data)
                    while sent < total:
                        sent += sock.send(view[sent:])
            except (BlockingIOError, InterruptedError):
                if sent:
                    self.floods.midway[(self, threading.get_ident())] = began
                return sent if sent < total else -1
            flood.count += 1
            flood.nbytes += total
        if flood.count >= flood.check_at and flood.due():
            self.floods.flush(keep_streaks=True)
        return total

    def note(self, op: str, nbytes: int, args: tuple, shown_waiting: bool) -> bool:
        """One more successful data call: True when it starts (is counted into) a flood.

        A call already shown waiting is reported with its own "done", never counted.
        """
        pair = self.pair
        if pair is not None and op in pair:
            pass  # a request/answer flood goes on after a report
        elif self.op == op:
            self._streak += 1
            self.turns = 0
        else:
            self.end()
            alternates = (self.op, op) in PAIRS and (self.turns or self._streak == 1)
            self.turns = self.turns + 1 if alternates else 0
            self.pair = None
            self.op, self._streak = op, 1
        self.args[op] = args
        if not self.floods.enabled or shown_waiting:
            return False
        if pair is None and self.turns > COALESCE_AFTER:
            pair = self.pair = (op, _other(op))
        if pair is not None:
            self._start(op, 1, nbytes, args)
            return True
        if self._streak > COALESCE_AFTER:
            self._start(op, 1, nbytes, args)
            return True
        return False

    def _start(self, op: str, count: int, nbytes: int, args: tuple) -> None:
        """Start counting ``op`` calls (and, in a pair flood, the other call's)."""
        now = time.monotonic()
        flood = Flood(op, count, nbytes, args, now)
        partner = None
        if self.pair is not None and op in self.pair:
            other = _other(op)
            partner = Flood(other, 0, 0, self.args.get(other, ()), now)
        with self.lock:
            self.flood, self.partner = flood, partner
        self.floods.add(self)

    def interrupt(self, op: str = "") -> None:
        """A call that is not part of a streak: report the flood, start over."""
        self.end()
        self.op, self.streak = op, 0

    def end(self) -> None:
        """Report the running flood now (and every other, to keep the order)."""
        if self.flood is not None:
            self.floods.flush()

    def take(self) -> list[Flood]:
        """The running flood(s), no longer counted into (a flush reports them)."""
        with self.lock:
            floods = [f for f in (self.flood, self.partner) if f is not None and f.count]
            self.flood = self.partner = None
        return floods

    def report(self, flood: Flood) -> Event:
        """A taken flood as one event (``count`` calls, ``nbytes`` in all)."""
        return self.emit(flood.op, args=flood.args, result=flood.nbytes,
                         nbytes=flood.nbytes, count=flood.count)

    def count_batch(self, flood: Flood, op: str, args: tuple, count: int,
                    nbytes: int) -> None:
        """Count ``count`` calls made since ``flood`` was seen into this socket's flood."""
        with self.lock:
            current = self._running(op)
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
                current = self._running(op)
                if current is not None:
                    current.count += count
                    current.nbytes += nbytes
                    return
            if self.flood is not None:
                self.floods.flush()
            if self.pair is None or op not in self.pair:
                self.op, self._streak = op, COALESCE_AFTER
            self._start(op, count, nbytes, args)


def _other(op: str) -> str:
    """The other call of ``op``'s request/answer pair."""
    return {"recv": "send", "send": "recv", "recvfrom": "sendto", "sendto": "recvfrom"}[op]


def flood_of(tally: Tally, op: str) -> Flood | None:
    """The flood ``tally`` is counting, if it counts ``op`` calls."""
    flood = tally.flood
    if flood is None or flood.op == op:
        return flood
    partner = tally.partner
    return partner if partner is not None and partner.op == op else None


__all__ = ["COALESCE_AFTER", "COALESCE_SECONDS", "PAIRS", "Flood", "Floods", "Tally",
           "flood_of"]
