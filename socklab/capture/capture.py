"""Packets under each call: the lab's TCP segments on ``lo``, as "packet" events.

Each segment becomes ``{"op": "packet", "side": <sender>, "conn": <its
connection>, "t": <kernel time on the lab's clock>, "result": {"flags", "seq",
"ack", "len", "src", "dst"}}`` through the lab's bus, so order, spool, save
and JSON work as for every call.

Why a segment lands right under the call that caused it: on loopback the
kernel delivers a call's segments (a connect's whole handshake, a send's data
and its ACK, a close's FIN and its ACK) before the call returns, and the
engine emits a call's event under the bus lock.  The capture reads its ring in
the bus's first ``after_emit`` hook (after each call's event, still under that
lock, before the kernel view's state changes), so those segments are numbered
straight after the call.  A thread catches the rest (a delayed ACK, a SYN sent
again, a peer outside the lab) as they come.  The kernel filter keeps only the
lab's ports (`Flows.ports`, updated as the lab binds, listens and connects).
"""

from __future__ import annotations

import contextlib
import functools
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..engine.calls import client_ports
from ..hosts.netns import run_in
from ..hosts.pair import HOSTS
from .flows import Flows
from .segments import ACK_BIT, Segment, flag_names, parse, plain_fields
from .sniffer import NoCapture, Ring, dropped, open_capture, set_filter
from .tcpanalysis import TcpAnalysis
from .tcpanalysis import ordinary as _ordinary

#: Connection ends whose last received segment is kept (a storm's are forgotten).
RECEIVED_MAX = 4096

if TYPE_CHECKING:
    from ..engine import Lab
    from ..engine.lab import Placer
    from ..events import Event

#: Segments read per turn under the bus lock: a bulk transfer cannot hold the
#: lock (and so the lab's calls) for long.
BATCH = 256
#: A batch read at once with more segments than this is shown as runs (`drain`).
COALESCE_AT = 32
#: How long, and how many, segments wait for the event that names their connection.
UNPLACED_SECONDS, UNPLACED_MAX = 2.0, 64
#: How long the capture thread waits for a segment before checking it should stop.
POLL_MS = 100
#: Under a flood, how long the thread lets segments gather before reading them all
#: (a bulk transfer then wakes it ~200 times a second, not per segment; a call's
#: own segments do not wait for it: they are read right after the call).
GATHER = 0.005


class Capture:
    """Captures the lab's segments while it runs; `stop` ends it (idempotent)."""

    #: Captured (not inferred): what the views and the JSON say.
    captured = True

    def __init__(self, lab: Lab, ports: Iterable[int] = ()) -> None:
        """``ports``: ports the lab's clients will connect to, known before the
        connect (so its handshake passes the kernel filter too)."""
        self.bus = lab.bus
        #: Each end's last received segment (its packet event's seq): `Lab.received`.
        self._received = lab.received
        self.flows = Flows(client_ports(lab).client_from)
        #: The marks on each segment: retransmissions, windows (`tcpanalysis`).
        self.analysis = TcpAnalysis()
        for port in ports:
            self.flows.watch_port(port)
        self._filtered = frozenset(self.flows.ports)
        self.sock: Ring | None = open_capture(self._filtered)
        #: Two-hosts mode: a ring in each host's namespace (name → ring), on all of
        #: its interfaces; `_rings_changed` tells the thread to poll the new set.
        self._host_rings: dict[str, Ring] = {}
        #: Each host's ring → the host's letter (a segment read there arrived there).
        self._ring_host: dict[Ring, str] = {}
        self._rings_changed = threading.Event()
        self._hosts_lock = threading.Lock()
        #: Segments captured, and segments the kernel dropped (capture ring full).
        self.segments = 0
        self.dropped = 0
        # The kernel stamps Unix time; the lab counts from its own start.
        self._offset = self.bus.now() - time.time()
        self._stopping = threading.Event()
        self._draining = False
        #: Segments read before the event that names their connection: (t, segment).
        self._unplaced: list[tuple[float | None, Segment, str | None]] = []
        self._unsubscribe = self.bus.subscribe(self._learn)
        self._unfollow = self.bus.after_emit(self._after_event, first=True)
        self._thread = threading.Thread(target=self._run, name="socklab-capture", daemon=True)
        self._thread.start()
        #: What the lab tells the capture: hosts coming and going, a connect about
        #: to start, a view about to report the kernel's present.
        self._watching: tuple[tuple[list, Callable], ...] = (
            (lab.hosts_watchers, self._hosts_changed), (lab.connect_watchers, self._will_connect),
            (lab.catch_up_watchers, self._catch_up))
        for watchers, watcher in self._watching:
            watchers.append(watcher)
        if lab.hosts is not None and lab.hosts.is_up:
            self._hosts_changed(dict(lab.hosts.names))

    # -- two hosts --------------------------------------------------------------------

    def _rings(self) -> list[Ring]:
        """Every ring read: this machine's ``lo`` and each host's (two-hosts mode).

        On the hosts every segment is seen once: on a host's own loopback as on
        ``lo`` here, and across the cable by the host it arrives at (the sending
        end's copy is outgoing, and ignored)."""
        return ([self.sock] if self.sock is not None else []) + list(self._host_rings.values())

    def _hosts_changed(self, names: dict[str, str] | None) -> None:
        """The lab's hosts came up (capture inside their namespaces too) or are
        about to be removed (read what is left, then close those rings: an open
        capture socket would keep a removed namespace alive)."""
        with self._hosts_lock:  # the hosts may come up while the capture starts
            self._follow_hosts(names)

    def _follow_hosts(self, names: dict[str, str] | None) -> None:
        if names is None:
            with self.bus.lock:
                self.drain(1 << 16)
                rings, self._host_rings = self._host_rings, {}
                self._ring_host = {}
                self._rings_changed.set()  # before they close: never polled closed
            for ring in rings.values():
                self.dropped += dropped(ring)
                ring.close()
            return
        for letter, name in names.items():
            if name in self._host_rings or self.sock is None:
                continue
            opened_with = self._filtered
            try:
                ring = run_in(name, functools.partial(open_capture, opened_with, everywhere=True))
            except (NoCapture, OSError):
                continue  # this machine's capture goes on; the host's segments are missed
            with self.bus.lock:
                if self.sock is None:  # stopped meanwhile
                    ring.close()
                    return
                self._host_rings[name] = ring
                self._ring_host[ring] = letter
                if self._filtered != opened_with:  # the lab's ports moved on meanwhile
                    set_filter(ring.sock, self._filtered)
        self._rings_changed.set()

    def _learn(self, event: Event) -> None:
        """A sink: which connections are the lab's; the kernel filter follows its ports."""
        self.flows.learn(event)
        self._refilter()

    def _will_connect(self, port: int) -> None:
        """Before a lab socket connects to ``port``: its segments pass the filter."""
        with self.bus.lock:
            self.flows.watch_port(port)
            self._refilter()

    def _refilter(self) -> None:
        """The kernel filter follows the ports the flows watch (under the bus lock)."""
        if len(self.flows.ports) != len(self._filtered) or \
                not self._filtered.issuperset(self.flows.ports):
            self._filtered = frozenset(self.flows.ports)
            for ring in self._rings():
                try:
                    set_filter(ring.sock, self._filtered)
                except OSError:
                    pass  # the old filter stays: fewer segments, never a failed call

    def _after_event(self, event: Event) -> None:
        """After each call's event (under the bus lock): the segments it caused."""
        if event.op != "packet":  # its own events: the drain emitting them goes on
            self.drain()

    def _catch_up(self, place: Placer | None) -> None:
        """A view is about to report the kernel's present: the segments first,
        each state placed right after the last segment its end received."""
        self.drain(place=place)

    def drain(self, limit: int = BATCH, place: Placer | None = None) -> int:
        """Emit the segments waiting in the capture ring (at most ``limit``).

        A batch of more than `COALESCE_AT` (a bulk transfer, never a lesson's
        exchange) is shown as runs: consecutive data segments, and pure ACKs, of
        one direction become one event whose ``count`` says how many segments
        it stands for and ``len`` their bytes (as the engine counts floods)."""
        with self.bus.lock:
            if self._draining:  # an event this drain emitted, seen by a hook: not again
                return 0
            self._draining = True
            try:
                return self._drain(limit, place)
            finally:
                self._draining = False

    def _drain(self, limit: int, place: Placer | None = None) -> int:
        """`drain`'s body, under the bus lock, not re-entered."""
        frames = self._frames(limit)
        now = self.bus.now()
        rows, placed = self._place(frames, now, len(frames) > COALESCE_AT)
        ends = [(tuple(row[3]["dst"]), tuple(row[3]["src"])) for row in rows]
        last = {end: index for index, end in enumerate(ends)}
        if place is not None:
            place(None, tuple(sorted(last, key=last.__getitem__)))
        if len(self._received) > RECEIVED_MAX:
            self._received.clear()
        for index, (t, side, conn, result, by, count, host) in enumerate(rows):
            # Two hosts: the host that sent it, which the side alone cannot say (a
            # reset from host B's own loopback answers a client on B).
            extra: dict[str, str] = {} if host is None else {"host": host}
            if by is not None:  # no socket sent it: the kernel did
                extra["by"] = by
            event = self.bus.emit(t=t, side=side, conn=conn, op="packet", result=result,
                                  count=count, **extra)
            self._received[ends[index]] = event.seq
            if place is not None and last[ends[index]] == index:
                place(ends[index], ())
        self.segments += placed
        return placed

    def _frames(self, limit: int) -> list[tuple[float | None, Segment | bytes, str | None]]:
        """The segments to place, as (time, segment, host): those no event had named
        yet (a refused connect is reported after its lock is released: its SYN and
        RST can be read first), then up to ``limit`` new ones from each ring.

        A bulk batch (over `COALESCE_AT`) of this machine's ring alone is left as
        the frames' bytes: `_place` parses only those that do not continue a run."""
        waiting, self._unplaced = self._unplaced, []
        rings = self._rings()
        read = [(ring, ring.read_many(limit)) for ring in rings]
        offset = self._offset
        if len(read) == 1 and read[0][0] not in self._ring_host \
                and len(waiting) + len(read[0][1]) > COALESCE_AT:
            return [*waiting, *[(ts + offset if ts else None, frame, None)
                                for frame, ts in read[0][1]]]
        frames: list[tuple[float | None, Segment | bytes, str | None]] = [*waiting]
        for ring, got in read:
            at = self._ring_host.get(ring)
            for frame, ts in got:
                segment = parse(frame)
                if segment is not None:
                    frames.append((ts + offset if ts else None, segment,
                                   None if at is None else sender_host(segment, at)))
        if len(read) > 1:  # two hosts: the rings' segments in the order the kernel saw them
            frames.sort(key=lambda item: item[0] if item[0] is not None else float("inf"))
        return frames

    def _place(self, frames: list[tuple[float | None, Segment | bytes, str | None]],
               now: float, bulk: bool) -> tuple[list[tuple], int]:
        """The packet rows for ``frames`` (segments of no lab socket kept a moment in
        `_unplaced`), and how many segments they stand for.

        ``bulk`` (a batch too big for a lesson's exchange): each direction's
        consecutive data segments, and pure ACKs, become one run, whose ``count``
        says how many segments it stands for, ``len`` their bytes, ``seq`` its
        first's and ``ack`` its last's (as the engine counts floods).  Any other
        segment (SYN, FIN, RST) ends the runs and keeps its place.  A run's
        segments share a connection, so only its first and last are placed, and
        a frame that continues one is read from its bytes, never parsed: under a
        bulk transfer that work, holding the GIL, was the capture's cost.
        """
        rows: list[list] = []
        runs: dict[tuple, list] = {}  # (src, data?) -> [row, last segment, last flags]
        placed = 0
        joins = self._joins
        for t, segment, host in frames:
            if segment.__class__ is bytes:  # a bulk batch's frame (`_frames`)
                if runs and joins(runs, segment):  # type: ignore[arg-type]
                    placed += 1
                    continue
                parsed = parse(segment)
                if parsed is None:
                    continue
                segment = parsed
            placed += self._place_one(rows, runs, (t, segment, host), now, bulk)
        self._end_runs(runs)
        return [tuple(row) for row in rows], placed

    def _joins(self, runs: dict[tuple, list], frame: bytes) -> bool:
        """Does this frame continue one of ``runs`` (data or a pure ACK that TCP's
        analysis does not mark)?  Then it is counted into the run."""
        fields = plain_fields(frame)
        if fields is None:
            return False
        src, dst, seq, ack, length, window, ip_id, bits = fields
        run = runs.get((src, length > 0))
        if run is None or not self.analysis.joins_run(src, dst, seq, ack, length, window,
                                                      ip_id, bits & ACK_BIT):
            return False
        _extend(run, frame, length, flag_names(bits))
        return True

    def _place_one(self, rows: list[list], runs: dict[tuple, list],
                   frame: tuple[float | None, Segment, str | None], now: float,
                   bulk: bool) -> int:
        """Place one parsed segment: into a run, as a row, or kept unplaced a moment
        (the segments it stands for: 0 or 1)."""
        t, segment, host = frame
        plain = bulk and segment.proto == "TCP" and _PLAIN.issuperset(segment.flags)
        marks = None
        if plain:
            run = runs.get((segment.src, segment.length > 0))
            if run is not None:
                if not self.analysis.joins(segment):
                    marks = self.analysis.marks(segment)
                    plain = _ordinary(marks)  # a marked segment keeps a row of its own
                if plain:
                    _extend(run, segment, segment.length, segment.flags)
                    return 1
        where = self.flows.place(segment)
        if where is None:
            if t is not None and now - t < UNPLACED_SECONDS \
                    and len(self._unplaced) < UNPLACED_MAX:
                self._unplaced.append((t, segment, host))
            return 0
        # What TCP is doing (retransmission, window…): read once per placed segment.
        if segment.proto == "TCP":  # a datagram has no window, no sequence
            where[2].update(marks if marks is not None else self.analysis.marks(segment))
        plain = plain and _ordinary(where[2])
        row = [t, *where, 1, host]
        rows.append(row)
        if plain:
            runs[(segment.src, segment.length > 0)] = [row, segment, segment.flags]
        elif bulk:
            self._end_runs(runs)
        return 1

    def _end_runs(self, runs: dict[tuple, list]) -> None:
        """Close the open runs: each one's ``ack`` is its last segment's."""
        for row, last, _flags in runs.values():
            if row[5] > 1:
                if isinstance(last, bytes):  # a frame `_joins` counted: parsed only now
                    last = parse(last)
                where = self.flows.place(last)
                if where is not None:
                    row[3]["ack"] = where[2]["ack"]
        runs.clear()

    def _run(self) -> None:
        poller = select.poll()
        gathering = False
        self._rings_changed.set()
        while not self._stopping.is_set():
            if self._rings_changed.is_set():  # two hosts came or went: poll the new set
                self._rings_changed.clear()
                poller = select.poll()
                with self.bus.lock:
                    for ring in self._rings():
                        poller.register(ring, select.POLLIN)
            try:
                ready = poller.poll(POLL_MS)
            except OSError:
                return
            # Under a flood, let segments gather so they are read (and shown) as
            # runs; otherwise read at once, so a segment comes before the state
            # change the kernel view's timer sees it make.
            if ready and not self._stopping.wait(GATHER if gathering else 0):
                gathering = self.drain() > COALESCE_AT

    def stop(self) -> None:
        """Read what is left, then stop capturing and close the capture socket."""
        if self.sock is None:
            return
        self._stopping.set()
        self._thread.join(5.0)
        self.drain(limit=1 << 16)
        self._unfollow()
        self._unsubscribe()
        for watchers, watcher in self._watching:
            with contextlib.suppress(ValueError):
                watchers.remove(watcher)
        with self.bus.lock:
            rings = self._rings()
            self.sock, self._host_rings, self._ring_host = None, {}, {}
        for ring in rings:
            self.dropped += dropped(ring)
            ring.close()


def sender_host(segment: Segment, arrived_at: str | None) -> str | None:
    """Two hosts: the host that sent a segment read on ``arrived_at``'s ring (None:
    this machine's ``lo``).  From a host's cable address: that host; otherwise it
    never left the host it arrived at (its own loopback)."""
    if arrived_at is None:
        return None
    return next((host.letter for host in HOSTS if host.address == segment.src[0]), arrived_at)


def _extend(run: list, last: Segment | bytes, length: int, flags: tuple[str, ...]) -> None:
    """One more segment in a run ([row, last segment, last flags]): its bytes, its flags."""
    row, run[1] = run[0], last
    row[3]["len"] += length
    if flags is not run[2]:  # flag tuples are shared: mostly the same
        run[2] = flags
        row[3]["flags"] = _union(row[3]["flags"], flags)
    row[5] += 1


#: Flags of a segment that joins a run: data, or a pure ACK.
_PLAIN = frozenset({"ACK", "PSH"})


def _union(flags: list[str], more: tuple[str, ...]) -> list[str]:
    """Two flag sets as one, in the order a segment is named (PSH/ACK)."""
    if set(more) <= set(flags):
        return flags
    return sorted(set(flags) | set(more), key=_FLAG_ORDER.index)


_FLAG_ORDER = ["SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
