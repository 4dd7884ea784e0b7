"""The kernel's states of a learner's program's TCP sockets, as "state" events.

The lab cannot getsockopt() another process's socket, so each of the
program's connections is followed by its 4-tuple in the kernel's socket
tables (inet_diag, as ``ss`` does: tens of microseconds a connection), and a
listener by its address, whose accept queue and backlog the kernel reports
as the reply's receive and send queues.  The events have the same shape as
the lab's own kernel view's (socklab.kernel.poller) and the same lessons, and
are read at the same moments: right after each call of the program that
changes a state (under the bus lock, so they land under the call) and on a
timer for what changes by itself (the peer's FIN, TIME_WAIT).
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import explain
from ..events import DONE, Event
from ..kernel.diag import NETLINK_SOCK_DIAG, parse_reply, request
from ..kernel.poller import MOMENTS

if TYPE_CHECKING:
    from ..engine import Lab

_QUEUES = struct.Struct("=II")  # inet_diag_msg's idiag_rqueue, idiag_wqueue
_QUEUES_AT = 72  # nlmsghdr (16) + family..retrans (4) + sockid (48) + expires (4)
_ANY = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}
#: Connections followed at most (the oldest is dropped): far above any exercise.
MAX_FOLLOWED = 256


@dataclass
class Followed:
    """One of the program's TCP sockets, as the kernel last described it."""

    side: str
    conn: int | None
    family: int
    local: tuple[str, int]
    peer: tuple[str, int]
    program: str
    #: What was last reported: (state, queue, backlog).
    last: tuple = ()
    #: The program closed its descriptor: when the kernel forgets it, it is gone.
    closed: bool = False


def read(family: int, local: tuple[str, int], peer: tuple[str, int],
         nl: socket.socket) -> tuple[str, int, int] | None:
    """(state, queue, backlog) of one connection or listener; None: gone."""
    nl.send(request(family, local, peer))
    reply = nl.recv(8192)
    state = parse_reply(reply, peer[1])
    if state is None:
        return None
    if state != "LISTEN" or len(reply) < _QUEUES_AT + _QUEUES.size:
        return state, 0, 0
    queue, backlog = _QUEUES.unpack_from(reply, _QUEUES_AT)
    return state, queue, backlog


class ProgramStates:
    """Follows the program's TCP sockets in the kernel; reports each change."""

    def __init__(self, lab: Lab, interval: float = 0.05) -> None:
        self.lab = lab
        self.interval = interval
        self._followed: dict[tuple, Followed] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhook = lab.bus.after_emit(self._moment)

    def follow(self, side: str, conn: int | None, family: int, local: Any, peer: Any,
               program: str) -> None:
        """Follow a connection (``peer`` given) or a listener (``peer`` None)."""
        if family not in _ANY or not isinstance(local, (list, tuple)):
            return
        here = (str(local[0]), int(local[1]))
        there = (str(peer[0]), int(peer[1])) if peer else (_ANY[family], 0)
        with self.lab.bus.lock:
            key = (family, here, there)
            if key not in self._followed and len(self._followed) >= MAX_FOLLOWED:
                del self._followed[next(iter(self._followed))]
            self._followed[key] = Followed(side, conn, family, here, there, program)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="socklab-program-states")
                self._thread.start()

    def closed(self, side: str, conn: int | None) -> None:
        """The program closed that socket: followed until the kernel forgets it."""
        with self.lab.bus.lock:
            for followed in self._followed.values():
                if (followed.side, followed.conn) == (side, conn):
                    followed.closed = True

    def states(self) -> dict[tuple[str, int | None], str | None]:
        """The state last reported for each followed socket, by (side, conn)."""
        with self.lab.bus.lock:
            return {(f.side, f.conn): (f.last[0] if f.last else None)
                    for f in self._followed.values()}

    def _moment(self, event: Event) -> None:
        if event.by == "program" and event.op in MOMENTS and event.phase == DONE:
            self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except OSError:
                pass  # refused this once: the next tick reads again
            with self.lab.bus.lock:
                if not self._followed:
                    self._thread = None
                    return

    def poll(self) -> None:
        """Read every followed socket now and report what changed."""
        with self.lab.bus.lock:
            if not self._followed:
                return
            try:
                nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
            except OSError:
                return  # no netlink here: the program's states are not shown
            with nl:
                nl.settimeout(1.0)
                readings = [(key, read(key[0], key[1], key[2], nl)) for key in self._followed]
            self.lab.catch_up()  # the segments behind these states come first
            for key, now in readings:
                self._report(key, self._followed[key], now)

    def _report(self, key: tuple, followed: Followed, now: tuple[str, int, int] | None) -> None:
        was = followed.last[0] if followed.last else None
        if now is None:
            del self._followed[key]
            if was is not None and was != "CLOSE":
                self._emit(followed, {"state": "CLOSE"},
                           explain.state_lesson("CLOSE", was=was, open_socket=False))
            return
        if now == followed.last:
            return
        followed.last = now
        state, queue, backlog = now
        result: dict[str, Any] = {"state": state}
        if state == "LISTEN":
            result.update(queue=queue, backlog=backlog)
        self._emit(followed, result, explain.state_lesson(
            state, queue=queue, backlog=backlog, was=was, open_socket=not followed.closed))

    def _emit(self, followed: Followed, result: dict[str, Any], lesson: str | None) -> None:
        self.lab.bus.emit(side=followed.side, conn=followed.conn, op="state", result=result,
                          lesson=lesson, by="program", program=followed.program)

    def stop(self) -> None:
        """A last reading, then no more."""
        try:
            self.poll()
        except OSError:
            pass
        with self.lab.bus.lock:
            self._unhook()
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(5.0)
