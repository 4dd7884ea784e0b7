"""An endpoint: one socket of the lab, and the calls a learner makes on it.

socket, setsockopt, bind, listen, connect, shutdown and close are here; the
data calls are in data.py, the mechanics every call shares in calls.py.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import select
import socket
import struct
from typing import Any

from .. import explain
from ..events import Event
from ..inputs import family_name, host_scope, type_name
from .calls import State, address, client_ports
from .data import DataCalls

_SHUT_WR = socket.SHUT_WR
_SHUT_NAMES = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR",
               socket.SHUT_RDWR: "SHUT_RDWR"}


def somaxconn() -> int:
    """The kernel's cap on a listen backlog (net.core.somaxconn)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4096


class Endpoint(DataCalls):
    """One socket of the lab, and the calls a learner can make on it."""

    def socket(self) -> Event:
        """socket(family, type): a new, unbound socket (the lab closes an open one first)."""
        args = (family_name(self.family), type_name(self.kind))
        self.close_by_lab(explain.SOCKET_AGAIN)

        def attempt() -> int:
            sock = self.lab.new_socket(self, self.family, self.kind)
            sock.setblocking(False)
            self.sock = sock
            self.host = self.lab.host_of(sock)
            self._closing = False
            self.closed_by = None
            self.state = State.OPEN
            self.listening = False
            self.eof = False
            self.peer = self.local = None
            self.timeout = None  # a new socket blocks, whatever the last one did
            self.lab.opened(self)
            return sock.fileno()

        return self._call("socket", args, attempt)[1]  # type: ignore[return-value]

    def setsockopt_reuseaddr(self, on: bool = True) -> Event:
        args = ("SOL_SOCKET", "SO_REUSEADDR", int(on))

        def attempt() -> None:
            self._need_socket().setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(on))

        return self._call("setsockopt", args, attempt)[1]  # type: ignore[return-value]

    def settimeout(self, seconds: float | None) -> Event:
        """settimeout(seconds): each blocking call waits at most this long, then
        raises TimeoutError (None: for ever; 0.0: never, as setblocking(False)).

        The real call is made (Python checks the value: a negative one is a
        ValueError), then the socket goes back to non-blocking underneath: the
        lab applies the timeout itself (`Calls._blocked`), so waits stay visible.
        """
        return self._set_timeout("settimeout", (seconds,), seconds)

    def setblocking(self, flag: bool) -> Event:
        """setblocking(flag): False never waits (a call that would block raises
        BlockingIOError), True waits for ever; the same as settimeout(0.0 / None)."""
        return self._set_timeout("setblocking", (flag,), None if flag else 0.0)

    def _set_timeout(self, op: str, args: tuple, seconds: float | None) -> Event:
        def attempt() -> None:
            sock = self._need_socket()
            getattr(sock, op)(*args)
            sock.setblocking(False)  # the lab does the waiting (see settimeout)
            self.timeout = seconds

        def report(_value: None) -> dict[str, Any]:
            return {"result": None, "lesson": explain.timeout_set(op, seconds)}

        return self._call(op, args, attempt, report=report)[1]  # type: ignore[return-value]

    def set_linger_zero(self) -> Event:
        """SO_LINGER (on, 0 s): close() then sends RST instead of FIN."""
        def attempt() -> None:
            self._need_socket().setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return self._call("setsockopt", ("SOL_SOCKET", "SO_LINGER", (1, 0)),
                          attempt)[1]  # type: ignore[return-value]

    def bind(self, host: str, port: int) -> Event:
        """bind((host, port)): the result is the address the kernel gave."""
        args = ((host, port),)

        def attempt() -> Any:
            sock = self._need_socket()
            sock.bind((host, port))
            named = sock.getsockname()  # as Python returns it: 4 values for IPv6
            self.local = address(named)
            return named

        def report(value: Any) -> dict[str, Any]:
            fields: dict[str, Any] = {"result": value}
            if host_scope(host, self.family) == "all":
                fields["lesson"] = explain.ALL_INTERFACES_WARNING
            return fields

        return self._call("bind", args, attempt, report=report)[1]  # type: ignore[return-value]

    def listen(self, backlog: int = 5) -> Event:
        args = (backlog,)
        named: list[Any] = [None]

        def attempt() -> bool:
            """listen(); True when it had to bind the socket itself first."""
            sock = self._need_socket()
            was_bound = sock.getsockname()[1] != 0
            sock.listen(backlog)
            self.listening = True
            named[:] = [sock.getsockname()]
            self.local = address(named[0])
            return not was_bound

        def report(autobound: bool) -> dict[str, Any]:
            fields: dict[str, Any] = {"result": named[0]}
            lesson = explain.listen_lesson(backlog, autobound, somaxconn())
            if lesson is not None:
                fields["lesson"] = lesson
            return fields

        return self._call("listen", args, attempt, report=report)[1]  # type: ignore[return-value]

    def connect(self, host: str, port: int, timeout: float | None = None) -> Event:
        """connect((host, port)): the result is the local address it used."""
        args = ((host, port),)
        self.limit_note = None
        self.lab.will_connect(port)
        if timeout is None and self.timeout is None:
            # The lab's own limit (a blocking connect would wait ~2 min for the
            # kernel): its lesson says so when it ends the call.  A timeout
            # the learner set (settimeout) replaces it.
            timeout = self.lab.connect_timeout
            self.limit_note = explain.lab_timeout("connect", timeout)
        started = [False]

        def attempt() -> Any:
            sock = self._need_socket()
            if not started[0]:
                started[0] = True
                code = sock.connect_ex((host, port))
                if self.kind == socket.SOCK_STREAM:
                    # Known before the handshake ends: the accept it pairs
                    # with can then name this client (under the bus lock).
                    with contextlib.suppress(OSError):
                        client_ports(self.lab).note(sock.getsockname(), self.conn, port)
                if code in (_errno.EINPROGRESS, _errno.EAGAIN):
                    raise BlockingIOError(code, "in progress")
            else:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    # Finish the connect as a blocking socket does; otherwise Linux
                    # lets a later connect() to any address "succeed" once.
                    code = sock.connect_ex((host, port))
                    if code == _errno.EISCONN:
                        code = 0
            # EISCONN from the first try means connect() on a socket that is
            # already connected: a real error the learner should see.
            if code:
                raise OSError(code, os.strerror(code))
            if self.kind == socket.SOCK_STREAM:
                self.peer = address(sock.getpeername())
                self.state = State.CONNECTED
            else:
                self.peer = (host, port)
            named = sock.getsockname()  # as Python returns it: 4 values for IPv6
            self.local = address(named)
            return named

        try:
            value, event = self._call("connect", args, attempt, want=select.POLLOUT,
                                      timeout=timeout, causal=True)
            if value is None and self.kind == socket.SOCK_STREAM and self.local is None \
                    and self.sock is not None:
                with self.lab.bus.lock, contextlib.suppress(OSError):
                    # No connection to accept: the note must not pair a stranger later.
                    client_ports(self.lab).client_at(self.sock.getsockname(), port)
            return event  # type: ignore[return-value]
        finally:
            self.limit_note = None  # the connect's own: never said of a later call

    def shutdown(self, how: int = _SHUT_WR) -> Event:
        def attempt() -> None:
            self._need_socket().shutdown(how)

        return self._call("shutdown", (_SHUT_NAMES.get(how, how),), attempt,
                          causal=True)[1]  # type: ignore[return-value]

    def close(self, reason: str | None = None) -> Event:
        """close(): release the socket (TCP starts the FIN exchange).

        ``reason`` given: the lab closes the socket itself (Reset, Ctrl-C, ...);
        the event says so (``by`` "lab", and why), and so does any call that
        was waiting on the socket.
        """
        sock = self.sock

        def attempt() -> None:
            if sock is None:
                raise OSError(_errno.EBADF, "Bad file descriptor (no socket to close)")
            was_closed = sock.fileno() < 0
            if not was_closed:
                self._closing = True
                self.closed_by = reason
                self.lab.bus.changed.notify_all()  # a wait the lab's stopping ended
                if self.waiter.waiting:
                    # Wake a thread blocked on this socket: poll() sees the hang-up
                    # (its failure is numbered after this close: we hold the bus lock,
                    # and wait for it below before going on).
                    self._ends_due = self.waiter.reporting
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            with self.tally.lock:  # not while a counted sendto is in the kernel
                sock.close()
            if was_closed:
                # Python allows close() twice; the lab says what it means.
                raise OSError(_errno.EBADF, "Bad file descriptor (already closed)")
            self.state = State.CLOSED
            self.lab.closed(self)

        def report(_value: None) -> dict[str, Any]:
            if reason is None:
                return {"result": None}
            return {"result": None, "by": "lab", "lesson": explain.closed_by_lab(reason)}

        with self.lab.bus.lock:
            self._let_calls_say()
            event = self._call("close", (), attempt, causal=True, report=report)[1]
        if self._ends_due > 0:
            self._await_ends()
        return event  # type: ignore[return-value]

    def close_by_lab(self, reason: str) -> Event | None:
        """The lab closes this socket itself, if it is open: a real, logged close()."""
        with self.lab.bus.lock:  # no other close can come between the check and the call
            if not self.is_open:
                return None
            return self.close(reason)

    def close_refused(self) -> Event:
        """Close a connection accepted past the lab's limit, saying why."""
        event = self.close()
        self.state = State.CLOSED
        if not event.ok:
            return event
        return self._emit("refuse", ok=False, error="CONNLIMIT",
                          lesson=explain.connection_limit(self.lab.max_connections))
