"""Waiting for a socket: ``poll()`` in short slices, so a close can always end it.

Every socket of the lab is non-blocking underneath.  A call is first tried at
once; if the kernel says it would block (EAGAIN / EINPROGRESS), the calling
thread waits here for the socket to be ready, then tries again.  The wait is
sliced (`WAIT_SLICE`) so that a close, or the lab stopping, is noticed
promptly: the wait then raises `Cancelled` and the call reports who closed it.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

#: A wait is sliced so that close/reset is noticed promptly.
WAIT_SLICE = 0.25


class Cancelled(Exception):
    """The socket was closed (or the lab reset) while a call waited on it."""


class Waiter:
    """The waits on one socket: how many threads wait, and their poll objects.

    ``cancelled`` says whether a wait should end now (closing, or the lab stopping).
    """

    __slots__ = ("cancelled", "go_on", "waiting", "reporting", "wants", "_idle")

    def __init__(self, cancelled: Callable[[], bool],
                 go_on: Callable[[], bool] = lambda: False) -> None:
        self.cancelled = cancelled
        #: Asked when the socket is ready: True lets the call go on even though
        #: the lab is stopping (its socket not closed yet: it was ready first).
        self.go_on = go_on
        #: What each wait right now waits for (POLLIN, POLLOUT): a close asks.
        self.wants: list[int] = []
        #: Threads waiting right now (close() wakes them if there are any).
        self.waiting = 0
        #: Of those, the ones in `wait`: each reports its end if a close ends it.
        self.reporting = 0
        #: poll objects not in use, by (fd, events): a flood waits often.
        self._idle: dict[tuple[int, int], select.poll] = {}

    def _poller(self, fd: int, want: int) -> select.poll:
        # A poll object can serve one waiting thread at a time: take it out.
        poller = self._idle.pop((fd, want), None)
        if poller is None:
            poller = select.poll()
            poller.register(fd, want | select.POLLERR | select.POLLHUP)
        return poller

    def _put_back(self, sock: socket.socket, fd: int, want: int,
                  poller: select.poll) -> None:
        if sock.fileno() == fd:
            self._idle[(fd, want)] = poller
        else:
            self._idle.clear()  # closed: its fd number may be reused

    def wait(self, sock: socket.socket | None, want: int, deadline: float | None,
             first_slice: float | None = None,
             on_pause: Callable[[], None] | None = None) -> None:
        """Until ``sock`` is ready for ``want``: raises `Cancelled`, or TimeoutError
        at ``deadline``.  ``first_slice`` (a paused flood) is a shorter first poll,
        after which ``on_pause`` runs (the flood is reported) if nothing came."""
        if sock is None or self.cancelled():
            raise Cancelled
        fd = sock.fileno()
        if fd < 0:
            raise Cancelled
        poller = self._poller(fd, want)
        self.waiting += 1
        self.reporting += 1
        self.wants.append(want)
        try:
            first = True
            while True:
                slice_ = first_slice if first and first_slice is not None else WAIT_SLICE
                if deadline is not None:
                    slice_ = min(slice_, max(0.0, deadline - time.monotonic()))
                ready = poller.poll(slice_ * 1000)
                if ready and self.go_on():
                    return
                if self.cancelled():
                    raise Cancelled
                if ready:
                    return
                if first and on_pause is not None:
                    on_pause()
                first = False
                if deadline is not None and time.monotonic() >= deadline:
                    # As Python's own socket timeouts: no errno, so the event
                    # says "TimeoutError" with its lesson (not a kernel ETIMEDOUT).
                    raise TimeoutError("timed out")
        finally:
            self.waiting -= 1
            self.reporting -= 1
            self.wants.remove(want)
            self._put_back(sock, fd, want, poller)

    def wait_once(self, sock: socket.socket, want: int, seconds: float) -> bool:
        """One poll of up to ``seconds``: True when ready.  The caller checks
        ``cancelled`` after (a close wakes the poll too)."""
        fd = sock.fileno()
        if fd < 0 or self.cancelled():
            return False
        poller = self._poller(fd, want)
        self.waiting += 1
        try:
            ready = poller.poll(seconds * 1000)
        finally:
            self.waiting -= 1
            self._put_back(sock, fd, want, poller)
        return bool(ready)


def ready_for_any(sock: socket.socket | None, wants: list[int]) -> bool:
    """Is ``sock`` ready for one of ``wants`` right now?"""
    return any(ready_now(sock, want) for want in list(wants))


def ready_now(sock: socket.socket | None, want: int) -> bool:
    """Is ``sock`` ready for ``want`` (or in error) right now, without waiting?"""
    if sock is None or sock.fileno() < 0:
        return False
    poller = select.poll()
    poller.register(sock, want | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
