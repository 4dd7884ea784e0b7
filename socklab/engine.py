"""The socket engine: real calls on real sockets, each reported as an event.

No textual, no rich: the lab screen, the headless commands and the tests are
all views over this module.

How a call is made
------------------
Every socket is non-blocking underneath.  A call is first tried at once; if
the kernel says it would block (EAGAIN / EINPROGRESS), a "wait" event is
emitted and the thread waits in ``poll()`` for the socket (in short slices, so
a reset or close can always end the wait), then tries again and emits "done".
So a learner sees ``accept … waiting`` only when accept really waits.

Order
-----
`EventBus.lock` is held across calls whose effect another thread can observe
(send, sendto, shutdown, close) and the event that reports them; a recv that
returns those bytes can only be numbered after.  The log is therefore causal.

Floods
------
After `COALESCE_AFTER` back-to-back data calls of the same kind on one socket,
further calls are counted, not reported one by one: one event per
`COALESCE_SECONDS` says ``recv ×1200, 75 MiB``.  This keeps per-event work off
the data path (see PERF-NOTES.md) while every byte is still accounted for.
"""

from __future__ import annotations

import contextlib
import enum
import errno as _errno
import os
import resource
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import lessons
from .events import CLIENT, DATA_CAP, DONE, SERVER, WAIT, Event, EventBus, Sink, escape_bytes
from .inputs import family_name, host_scope, type_name
from .lessons import explain, lesson_for

GREETING = b"Welcome to Socket Programming in Python!"
COALESCE_AFTER = 16
COALESCE_SECONDS = 0.1
#: A wait is sliced so that close/reset is noticed promptly.
WAIT_SLICE = 0.25
DEFAULT_CONNECT_TIMEOUT = 10.0
_SHUT_WR = socket.SHUT_WR
DATA_OPS = frozenset({"send", "recv", "sendto", "recvfrom"})
ALL_INTERFACES_WARNING = (
    "bound to every interface: anyone who can reach this machine over the network "
    "can connect; use 127.0.0.1 / ::1 to keep it to this machine"
)


def default_max_connections() -> int:
    """Connections kept open at once: well below the descriptor limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(8, min(4096, (soft - 64) // 3))


class State(enum.StrEnum):
    """Where an endpoint's socket is, as the lab shows it (compares equal to the text)."""

    NEW = "new"
    OPEN = "open"
    CONNECTED = "connected"
    PEER_CLOSED = "peer closed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Received:
    """What recv/recvfrom handed back: the bytes, and the event that reported them.

    ``event`` is None when the call was counted into a flood; ``addr`` is the
    sender's address (recvfrom); ``eof`` is a stream's b'' (the peer closed).
    """

    event: Event | None
    data: bytes
    addr: tuple | None = None
    eof: bool = False

    @property
    def ok(self) -> bool:
        """The call did not fail (counted into a flood counts as done)."""
        return self.event is None or self.event.ok


class Cancelled(Exception):
    """The socket was closed (or the lab reset) while a call waited on it."""


def _address(addr: Any) -> Any:
    """A socket address as the log shows it: (host, port)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (addr[0], addr[1])
    return addr


#: A flood looks at the clock at most once per this many calls (fewer when the
#: calls are slow enough that the report would otherwise come late).
CLOCK_EVERY = 32


@dataclass(slots=True)
class _Flood:
    op: str
    count: int = 0
    nbytes: int = 0
    args: tuple = ()
    started: float = 0.0
    #: ``count`` at which to look at the clock next (see `_Flood.due`).
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


class Endpoint:
    """One socket of the lab, and the calls a learner can make on it."""

    def __init__(
        self,
        lab: Lab,
        side: str,
        conn: int | None,
        family: int = socket.AF_INET,
        kind: int = socket.SOCK_STREAM,
        sock: socket.socket | None = None,
    ) -> None:
        self.lab = lab
        self.side = side
        self.conn = conn
        self.family = family
        self.kind = kind
        self.sock = sock
        self.peer: Any = None
        self.local: Any = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.state = State.OPEN if sock is not None else State.NEW
        self.listening = False
        self.eof = False
        self._waiters = 0
        self._closing = False
        #: Why the lab closed this socket itself (None: open, or closed by close()).
        self.closed_by: str | None = None
        self._op_lock = threading.Lock()
        self._streak_op = ""
        self._streak = 0
        self._flood: _Flood | None = None
        #: Guards counting into ``_flood`` against a flush from another thread.
        self._flood_lock = threading.Lock()
        #: poll objects not in use, by (fd, events): a flood waits often.
        self._idle_pollers: dict[tuple[int, int], select.poll] = {}
        #: The last `recvfrom_many` batch ended with nothing left to read.
        self._drained = False
        if sock is not None:
            sock.setblocking(False)

    # -- reporting ---------------------------------------------------------

    def _emit(self, op: str, **fields: Any) -> Event:
        fields.setdefault("conn", self.conn)
        return self.lab.bus.emit(side=self.side, op=op, **fields)

    def _fail(self, op: str, args: tuple, exc: BaseException, call: int,
              lesson: str | None = None) -> Event:
        self._end_flood()
        name, number, default = explain(exc, op)
        if lesson is not None:
            pass
        elif name == "EBADF" and self.closed_by is not None:
            lesson = lessons.found_closed_by_lab(self.closed_by)
        else:
            lesson = default
        if name == "gaierror" and number == getattr(socket, "EAI_ADDRFAMILY", -9):
            lesson = lesson_for("EAFNOSUPPORT") or lesson
        elif name == "EPIPE" and self.peer is None and self.kind == socket.SOCK_STREAM:
            # Linux says EPIPE, not ENOTCONN, for send() on a never-connected socket.
            lesson = lesson_for("ENOTCONN") or lesson
        self._streak = 0
        return self._emit(
            op, args=args, ok=False, error=name, errno=number, lesson=lesson, call=call
        )

    def _done(self, op: str, args: tuple, call: int, data: bytes | None = None,
              **fields: Any) -> Event | None:
        """Report a successful call, or count it into a flood."""
        if op in DATA_OPS and fields.get("lesson"):
            # Worth its own line (recv's b'' EOF): never counted into a flood.
            self._end_flood()
            self._streak_op, self._streak = op, 0
        elif op in DATA_OPS:
            if self._counted(op, fields.get("nbytes") or 0):
                return None
            if self._streak_op == op:
                self._streak += 1
            else:
                self._end_flood()
                self._streak_op, self._streak = op, 1
            # A call already shown waiting is reported with its own "done".
            if self._streak > COALESCE_AFTER and self.lab.coalesce and not call:
                self._flood = _Flood(op, 1, fields.get("nbytes") or 0, args, time.monotonic())
                self.lab._floods.add(self)
                return None
        else:
            self._end_flood()
            self._streak_op, self._streak = op, 0
        if data is not None:
            fields["data"] = escape_bytes(data)
            fields["raw"] = data[:DATA_CAP]
        if op in ("recv", "recvfrom"):
            with self.lab.bus.lock:
                if self.lab._floods:
                    # The bytes may come from sends still counted in a flood:
                    # report those first, so a recv never precedes its send.
                    self.lab.flush_floods(keep_streaks=True)
                return self._emit(op, args=args, call=call, **fields)
        return self._emit(op, args=args, call=call, **fields)

    def _counted(self, op: str, nbytes: int) -> bool:
        """Count one more ``op`` call into this socket's flood, if one is running.

        The data calls' fast path: no event, no payload escaping, no allocation.
        """
        with self._flood_lock:
            flood = self._flood
            if flood is None or flood.op != op:
                return False
            flood.count += 1
            flood.nbytes += nbytes
        if flood.count >= flood.check_at and flood.due():
            self.lab.flush_floods(keep_streaks=True)  # a long flood reports as it goes
        return True

    def _flush_flood(self) -> Event | None:
        with self._flood_lock:
            flood, self._flood = self._flood, None
        if flood is None or flood.count == 0:
            return None
        return self._emit(
            flood.op, args=flood.args, result=flood.nbytes, nbytes=flood.nbytes,
            count=flood.count,
        )

    def _end_flood(self) -> None:
        if self._flood is not None:
            self.lab.flush_floods()

    # -- the mechanics of one call -------------------------------------------

    def _call(
        self,
        op: str,
        args: tuple,
        attempt: Callable[[], Any],
        *,
        want: int = select.POLLIN,
        timeout: float | None = None,
        causal: bool = False,
        report: Callable[[Any], dict[str, Any]] = lambda value: {"result": value},
    ) -> tuple[Any, Event | None]:
        """Try ``attempt`` until it stops blocking; report wait and done.

        Returns ``(value, event)``; value is None when the call failed.
        """
        call = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if causal:
                    with self.lab.bus.lock:
                        finished, value, call = self._attempt_causal(op, args, call,
                                                                     attempt, want)
                        if finished:
                            fields = report(value)
                            return value, self._done(op, args, call, **fields)
                else:
                    with self._op_lock:
                        value = attempt()
                    fields = report(value)
                    return value, self._done(op, args, call, **fields)
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:  # every failure is an event, never a crash
                return None, self._fail(op, args, exc, call)
            call, failed = self._blocked(op, args, call, want, deadline)
            if failed is not None:
                return None, failed

    def _attempt_causal(self, op: str, args: tuple, call: int, attempt: Callable[[], Any],
                        want: int) -> tuple[bool, Any, int]:
        """``attempt`` under the bus lock (held by the caller), said before the lock goes.

        A causal call's effect can be seen by the peer at once (a connect's SYN
        accepted on loopback): so if it would block, it is tried once more when
        the socket is ready already, else its "wait" is emitted, all under the
        lock it was made under, so it is numbered before anything the peer does.
        Returns ``(finished, value, call id)``; a failure raises.
        """
        for retry in (False, True):
            try:
                with self._op_lock:
                    return True, attempt(), call
            except (BlockingIOError, InterruptedError):
                if retry or call or not self._ready_now(want):
                    return False, None, self._announce(op, args, call)
        return False, None, call  # not reached: the second try returns or raises

    def _ready_now(self, want: int) -> bool:
        """Is the socket ready for ``want`` (or in error) right now, without waiting?"""
        sock = self.sock
        if sock is None or sock.fileno() < 0:
            return False
        poller = select.poll()
        poller.register(sock, want | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))

    def _announce(self, op: str, args: tuple, call: int) -> int:
        """The call would block: emit its "wait" once (not inside a flood).

        Returns the call's id (0 when nothing was shown)."""
        if not call and self._flood is None:
            call = self.lab.bus.new_call()
            self._emit(op, phase=WAIT, args=args, call=call)
        return call

    def _blocked(self, op: str, args: tuple, call: int, want: int,
                 deadline: float | None) -> tuple[int, Event | None]:
        """The call would block: say so once (not inside a flood), then wait.

        Returns the call's id and, when the wait timed out, the failure event.
        """
        if call < 0:
            call = 0  # a quiet wait inside a flood (recvfrom_many): never shown
        else:
            call = self._announce(op, args, call)
        try:
            self._wait(want, deadline)
        except TimeoutError as exc:
            return call, self._fail(op, args, exc, call)
        except Cancelled:
            # Closed while waiting.  Not another attempt: close() shuts the socket
            # down first to wake us, and a recv now would return b'' and look
            # like the *peer* had closed.  Who closed it is said: the lab, or close().
            reason = self.closed_by if self._closing else None
            if reason is None and self.lab.stopping:
                reason = self.lab.stop_reason
            closed = OSError(_errno.EBADF, "Bad file descriptor (closed while waiting)")
            return call, self._fail(op, args, closed, call,
                                    lesson=lessons.closed_while_waiting(reason))
        return call, None

    def _wait(self, want: int, deadline: float | None) -> None:
        sock = self.sock
        if sock is None or self._closing:
            raise Cancelled
        fd = sock.fileno()
        if fd < 0:
            raise Cancelled
        key = (fd, want)
        # A poll object can serve one waiting thread at a time: take it out.
        poller = self._idle_pollers.pop(key, None)
        if poller is None:
            poller = select.poll()
            poller.register(fd, want | select.POLLERR | select.POLLHUP)
        self._waiters += 1
        try:
            first = True
            while True:
                slice_ = WAIT_SLICE
                if first and self._flood is not None:
                    slice_ = COALESCE_SECONDS  # a paused flood is reported
                if deadline is not None:
                    slice_ = min(slice_, max(0.0, deadline - time.monotonic()))
                ready = poller.poll(slice_ * 1000)
                if self._closing or self.lab.stopping:
                    raise Cancelled
                if ready:
                    return
                if first and self._flood is not None:
                    self._end_flood()
                first = False
                if deadline is not None and time.monotonic() >= deadline:
                    # As Python's own socket timeouts: no errno, so the event
                    # says "TimeoutError" with its lesson (not a kernel ETIMEDOUT).
                    raise TimeoutError("timed out")
        finally:
            self._waiters -= 1
            if sock.fileno() == fd:
                self._idle_pollers[key] = poller
            else:
                self._idle_pollers.clear()  # closed: its fd number may be reused

    def _need_socket(self) -> socket.socket:
        if self.sock is None:
            # Python's own behaviour on a closed socket object is EBADF.
            raise OSError(_errno.EBADF, "Bad file descriptor (no socket yet: call socket())")
        return self.sock

    # -- the calls ------------------------------------------------------------

    def socket(self) -> Event:
        """socket(family, type): a new, unbound socket."""
        args = (family_name(self.family), type_name(self.kind))
        self.close_by_lab(lessons.SOCKET_AGAIN)

        def attempt() -> int:
            sock = socket.socket(self.family, self.kind)
            sock.setblocking(False)
            self.sock = sock
            self._closing = False
            self.closed_by = None
            self.state = State.OPEN
            self.listening = False
            self.eof = False
            self.peer = self.local = None
            self.lab._register(self)
            return sock.fileno()

        return self._call("socket", args, attempt)[1]  # type: ignore[return-value]

    def setsockopt_reuseaddr(self, on: bool = True) -> Event:
        args = ("SOL_SOCKET", "SO_REUSEADDR", int(on))

        def attempt() -> None:
            self._need_socket().setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(on))

        return self._call("setsockopt", args, attempt)[1]  # type: ignore[return-value]

    def bind(self, host: str, port: int) -> Event:
        """bind((host, port)): the result is the address the kernel gave."""
        args = ((host, port),)

        def attempt() -> Any:
            sock = self._need_socket()
            sock.bind((host, port))
            self.local = _address(sock.getsockname())
            return self.local

        def report(value: Any) -> dict[str, Any]:
            fields: dict[str, Any] = {"result": value}
            if host_scope(host, self.family) == "all":
                fields["lesson"] = ALL_INTERFACES_WARNING
            return fields

        return self._call("bind", args, attempt, report=report)[1]  # type: ignore[return-value]

    def listen(self, backlog: int = 5) -> Event:
        args = (backlog,)

        def attempt() -> bool:
            """listen(); True when it had to bind the socket itself first."""
            sock = self._need_socket()
            was_bound = sock.getsockname()[1] != 0
            sock.listen(backlog)
            self.listening = True
            self.local = _address(sock.getsockname())
            return not was_bound

        def report(autobound: bool) -> dict[str, Any]:
            fields: dict[str, Any] = {"result": self.local}
            somaxconn = _somaxconn()
            if autobound:
                fields["lesson"] = (
                    "listen() without bind(): the kernel bound this socket to a random "
                    "port on every interface; bind() first to choose the address"
                )
            elif backlog < 0:
                fields["lesson"] = (
                    f"a negative backlog makes no sense: Python raises {backlog} to 0 before "
                    "calling listen(), and backlog 0 still lets the kernel queue about one "
                    "connection until accept() takes it"
                )
            elif backlog > somaxconn:
                fields["lesson"] = (
                    f"the kernel caps the backlog at net.core.somaxconn ({somaxconn})"
                )
            elif backlog == 0:
                fields["lesson"] = (
                    "backlog 0 still lets the kernel queue about one connection "
                    "until accept() takes it"
                )
            return fields

        return self._call("listen", args, attempt, report=report)[1]  # type: ignore[return-value]

    def connect(self, host: str, port: int, timeout: float | None = None) -> Event:
        """connect((host, port)): the result is the local address it used."""
        args = ((host, port),)
        timeout = self.lab.connect_timeout if timeout is None else timeout
        started = [False]

        def attempt() -> Any:
            sock = self._need_socket()
            if not started[0]:
                started[0] = True
                code = sock.connect_ex((host, port))
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
                self.peer = _address(sock.getpeername())
                self.state = State.CONNECTED
            else:
                self.peer = (host, port)
            self.local = _address(sock.getsockname())
            return self.local

        return self._call("connect", args, attempt, want=select.POLLOUT,
                          timeout=timeout, causal=True)[1]  # type: ignore[return-value]

    def send(self, data: bytes) -> Event | None:
        """send(data), all of it (like sendall): the result is the bytes sent."""
        return self._send("send", data, None)

    def sendto(self, data: bytes, host: str, port: int) -> Event | None:
        flood = self._flood
        sock = self.sock
        if flood is not None and flood.op == "sendto" and sock is not None:
            # Counted into a running flood: no event now, so no need for the
            # bus lock.  Holding the flood's own lock across the call and its
            # count is enough for causality: a flush (which holds the bus
            # lock, and which any recv event waits for) takes this lock to
            # report the flood, so it reports this send before any recv of it.
            # It also keeps close() (which takes it) from closing the socket
            # under the call, as the call lock does on the full path.
            failure: Exception | None = None
            with self._flood_lock:
                if self._flood is flood:
                    try:
                        sent = sock.sendto(data, (host, port))
                    except (BlockingIOError, InterruptedError):
                        sent = -1  # nothing sent: the full path waits and retries
                    except Exception as exc:
                        sent, failure = -1, exc
                    else:
                        flood.count += 1
                        flood.nbytes += sent
                        self.bytes_out += sent
                else:
                    sent = -1  # reported meanwhile: the full path counts this one
            if sent >= 0:
                if flood.count >= flood.check_at and flood.due():
                    self.lab.flush_floods(keep_streaks=True)
                return None
            if failure is not None:
                return self._fail("sendto", ((host, port),), failure, 0)
        return self._send("sendto", data, (host, port))

    # The data calls are the hot path of a flood, so they are written out
    # rather than built from closures on `_call`: a call counted into a flood
    # costs the syscall, a lock or two and a counter.

    def _send(self, op: str, data: bytes, address: tuple | None) -> Event | None:
        args: tuple = ((address[0], address[1]),) if address else ()
        view = memoryview(data)
        total = len(data)
        sent = call = 0
        lock = self.lab.bus.lock
        while True:
            try:
                # Held across the call and its event: the log stays causal.
                with lock, self._op_lock:
                    sock = self._need_socket()
                    if address is not None:
                        sent = sock.sendto(data, address)
                    else:
                        # At least one real send(), even of b'': the kernel's
                        # answer (0, EPIPE, EBADF) is what the log shows.
                        sent += sock.send(view[sent:])
                        while sent < total:
                            sent += sock.send(view[sent:])
                    self.bytes_out += sent
                    if self._counted(op, sent):
                        return None
                    return self._done(op, args, call, result=sent, nbytes=sent, data=data)
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:  # every failure is an event, never a crash
                return self._fail(op, args, exc, call)
            call, failed = self._blocked(op, args, call, select.POLLOUT, None)
            if failed is not None:
                return failed

    def recv(self, bufsize: int = 1024, timeout: float | None = None) -> Received:
        """recv(bufsize): up to bufsize bytes; b'' means the peer closed."""
        args = (bufsize,)
        deadline = None if timeout is None else time.monotonic() + timeout
        call = 0
        while True:
            try:
                with self._op_lock:
                    chunk = self._need_socket().recv(bufsize)
                break
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:
                return Received(self._fail("recv", args, exc, call), b"")
            call, failed = self._blocked("recv", args, call, select.POLLIN, deadline)
            if failed is not None:
                return Received(failed, b"")
        n = len(chunk)
        self.bytes_in += n
        if n:
            if self._counted("recv", n):
                return Received(None, chunk)
            return Received(self._done("recv", args, call, data=chunk, result=n, nbytes=n),
                            chunk)
        if self.kind != socket.SOCK_STREAM:  # an empty datagram, not an end
            return Received(self._done("recv", args, call, data=chunk, result=0, nbytes=0),
                            chunk)
        # EOF (b'') always gets its own event, with its lesson.
        self.eof = True
        self.state = State.PEER_CLOSED
        event = self._done("recv", args, call, data=chunk, result=0, nbytes=0,
                           lesson=lesson_for("EOF", "recv"))
        return Received(event, chunk, None, True)

    def recvfrom(self, bufsize: int = 65535, timeout: float | None = None) -> Received:
        """recvfrom(bufsize): one datagram and the address it came from."""
        args = (bufsize,)
        deadline = None if timeout is None else time.monotonic() + timeout
        call = 0
        while True:
            try:
                with self._op_lock:
                    chunk, addr = self._need_socket().recvfrom(bufsize)
                break
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:
                return Received(self._fail("recvfrom", args, exc, call), b"")
            call, failed = self._blocked("recvfrom", args, call, select.POLLIN, deadline)
            if failed is not None:
                return Received(failed, b"")
        addr = _address(addr)
        n = len(chunk)
        self.bytes_in += n
        if self._counted("recvfrom", n):
            return Received(None, chunk, addr)
        return Received(self._done("recvfrom", args, call, data=chunk, result=addr, nbytes=n),
                        chunk, addr)

    def recvfrom_many(self, bufsize: int = 65535,
                      limit: int = 1024) -> tuple[list[tuple[bytes, Any]], Event | None]:
        """recvfrom, then, inside a flood, every datagram already waiting.

        The first datagram is an ordinary `recvfrom` (it may wait, and is
        reported as usual).  If it was counted into a flood, more non-blocking
        recvfrom calls follow, up to ``limit`` datagrams in all, until the
        kernel has nothing more: each is a real call, counted into the flood
        as one batch, so a datagram server pays its per-call bookkeeping per
        batch.  Returns the datagrams (as ``(data, (host, port))``, oldest
        first) and the event of the last call:
        None when counted, a failure event if a call failed.
        """
        args = (bufsize,)
        flood = self._flood
        sock = self.sock
        # The last batch emptied the queue and the flood goes on: wait for the
        # next datagram, then go straight to the batch (a call inside a flood
        # shows no "wait" event, so none is skipped).
        running = (self._drained and flood is not None and flood.op == "recvfrom"
                   and sock is not None)
        quick = running and self._flood_wait(sock)  # type: ignore[arg-type]
        datagrams: list[tuple[bytes, Any]] = []
        if not quick:
            if running:
                # Still waiting (the flood may have been reported meanwhile):
                # quiet, as the wait of a call made inside a flood is.
                _call, failed = self._blocked("recvfrom", args, -1, select.POLLIN, None)
                if failed is not None:
                    self._drained = False
                    return [], failed
            self._drained = False
            got = self.recvfrom(bufsize)
            event = got.event
            if got.addr is None:
                return [], event
            datagrams.append((got.data, got.addr))
            flood = self._flood
            sock = self.sock
            if event is not None or flood is None or sock is None or limit <= 1:
                return datagrams, event
        self._drained = False
        recvfrom = sock.recvfrom  # type: ignore[union-attr]
        append = datagrams.append
        inet = self.family == socket.AF_INET
        nbytes = 0
        failure: Exception | None = None
        with self._op_lock:
            for _ in range(limit - len(datagrams)):
                try:
                    chunk, addr = recvfrom(bufsize)
                except (BlockingIOError, InterruptedError):
                    self._drained = True
                    break
                except Exception as exc:
                    failure = exc
                    break
                append((chunk, addr if inet else _address(addr)))
                nbytes += len(chunk)
        count = len(datagrams) - (not quick)
        if count:
            self.bytes_in += nbytes
            self._count_batch(flood, "recvfrom", args, count, nbytes)  # type: ignore[arg-type]
        if failure is not None:
            return datagrams, self._fail("recvfrom", args, failure, 0)
        if not datagrams:
            self._drained = False  # woken for nothing: the ordinary way, once
            return self.recvfrom_many(bufsize, limit)
        return datagrams, None

    def _flood_wait(self, sock: socket.socket) -> bool:
        """Inside a flood: wait, as `_wait` does, until ``sock`` is readable.

        True when it is; False when the wait should go the ordinary way (closing,
        or nothing came for `COALESCE_SECONDS`: then the paused flood is reported).
        """
        fd = sock.fileno()
        if fd < 0 or self._closing:
            return False
        key = (fd, select.POLLIN)
        poller = self._idle_pollers.pop(key, None)
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        self._waiters += 1
        try:
            ready = poller.poll(COALESCE_SECONDS * 1000)
        finally:
            self._waiters -= 1
            if sock.fileno() == fd:
                self._idle_pollers[key] = poller
            else:
                self._idle_pollers.clear()  # closed: its fd number may be reused
        if self._closing or self.lab.stopping:
            return False
        if not ready:
            self._end_flood()
            return False
        return True

    def _count_batch(self, flood: _Flood, op: str, args: tuple, count: int,
                     nbytes: int) -> None:
        """Count ``count`` calls made since ``flood`` was seen into this socket's flood."""
        with self._flood_lock:
            current = self._flood
            if current is flood:
                flood.count += count
                flood.nbytes += nbytes
        if current is flood:
            if flood.count >= flood.check_at and flood.due():
                self.lab.flush_floods(keep_streaks=True)
            return
        # The flood was reported meanwhile (by another thread): these calls
        # form the next one, reported in turn.
        with self.lab.bus.lock:
            with self._flood_lock:
                current = self._flood
                if current is not None and current.op == op:
                    current.count += count
                    current.nbytes += nbytes
                    return
            if current is not None:
                self.lab.flush_floods()
            self._streak_op, self._streak = op, COALESCE_AFTER
            self._flood = _Flood(op, count, nbytes, args, time.monotonic())
            self.lab._floods.add(self)

    def shutdown(self, how: int = _SHUT_WR) -> Event:
        names = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR",
                 socket.SHUT_RDWR: "SHUT_RDWR"}

        def attempt() -> None:
            self._need_socket().shutdown(how)

        return self._call("shutdown", (names.get(how, how),), attempt,
                          causal=True)[1]  # type: ignore[return-value]

    def set_linger_zero(self) -> Event:
        """SO_LINGER (on, 0 s): close() then sends RST instead of FIN."""
        def attempt() -> None:
            import struct
            self._need_socket().setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return self._call("setsockopt", ("SOL_SOCKET", "SO_LINGER", (1, 0)),
                          attempt)[1]  # type: ignore[return-value]

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
                if self._waiters:
                    # Wake a thread blocked on this socket: poll() sees the hang-up
                    # (its failure is numbered after this close: we hold the bus lock).
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            with self._flood_lock:  # not while a counted sendto is in the kernel
                sock.close()
            if was_closed:
                # Python allows close() twice; the lab says what it means.
                raise OSError(_errno.EBADF, "Bad file descriptor (already closed)")
            self.state = State.CLOSED
            self.lab._unregister(self)

        def report(_value: None) -> dict[str, Any]:
            if reason is None:
                return {"result": None}
            return {"result": None, "by": "lab", "lesson": lessons.closed_by_lab(reason)}

        return self._call("close", (), attempt, causal=True,
                          report=report)[1]  # type: ignore[return-value]

    def close_by_lab(self, reason: str) -> Event | None:
        """The lab closes this socket itself, if it is open: a real, logged close()."""
        with self.lab.bus.lock:  # no other close can come between the check and the call
            if not self.is_open:
                return None
            return self.close(reason)

    @property
    def closing(self) -> bool:
        """close() has begun on this socket (a waiting call is being ended)."""
        return self._closing

    def close_refused(self) -> Event:
        """Close a connection accepted past the lab's limit, saying why."""
        event = self.close()
        self.state = State.CLOSED
        return self._emit(
            "refuse", ok=False, error="CONNLIMIT",
            lesson=f"{lesson_for('CONNLIMIT')} (limit {self.lab.max_connections})",
        ) if event.ok else event

    @property
    def is_open(self) -> bool:
        return self.sock is not None and self.sock.fileno() >= 0


class Server(Endpoint):
    """The server side: a listening (or datagram) socket and its connections."""

    def __init__(self, lab: Lab, family: int, kind: int) -> None:
        super().__init__(lab, SERVER, None, family, kind)
        self.connections: dict[int, Endpoint] = {}
        self._next_conn = 0

    def accept(self, timeout: float | None = None) -> tuple[Endpoint | None, Event]:  # type: ignore[override]
        holder: list[Endpoint] = []

        def attempt() -> Any:
            conn_sock, addr = self._need_socket().accept()
            self._next_conn += 1
            endpoint = Endpoint(self.lab, SERVER, self._next_conn, self.family,
                                self.kind, conn_sock)
            endpoint.peer = _address(addr)
            endpoint.local = _address(conn_sock.getsockname())
            endpoint.state = State.CONNECTED
            self.connections[endpoint.conn] = endpoint  # type: ignore[index]
            self.lab._register(endpoint)
            holder.append(endpoint)
            return endpoint.peer

        def report(peer: Any) -> dict[str, Any]:
            # The event belongs to the new connection: "server[1] accept() → peer".
            return {"result": peer, "conn": holder[-1].conn}

        value, event = self._call("accept", (), attempt, timeout=timeout, report=report)
        if value is None:
            return None, event  # type: ignore[return-value]
        endpoint = holder[-1]
        if self.open_connections > self.lab.max_connections:
            endpoint.close_refused()
            return None, event  # type: ignore[return-value]
        return endpoint, event  # type: ignore[return-value]

    @property
    def open_connections(self) -> int:
        return sum(1 for c in list(self.connections.values()) if c.state != State.CLOSED)

    def forget_closed(self) -> None:
        """Drop closed connections from the list (they keep their numbers)."""
        for number, endpoint in list(self.connections.items()):
            if endpoint.state == State.CLOSED:
                del self.connections[number]


class Lab:
    """All the sockets of one session, their event bus, and their cleanup."""

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        *,
        max_connections: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        coalesce: bool = True,
    ) -> None:
        self.bus = EventBus(clock)
        self.max_connections = max_connections or default_max_connections()
        self.connect_timeout = connect_timeout
        self.coalesce = coalesce
        self.stopping = False
        #: Why the lab is stopping (the reason its own closes give).
        self.stop_reason = lessons.STOPPED
        #: Open endpoints, in the order they opened (a dict keeps it).
        self._open: dict[Endpoint, None] = {}
        self._open_lock = threading.Lock()
        self._floods: set[Endpoint] = set()
        self._threads: list[threading.Thread] = []
        self._next_client = 0

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        return self.bus.subscribe(sink)

    # -- endpoints -------------------------------------------------------------

    def server(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> Server:
        return Server(self, family, kind)

    def client(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> Endpoint:
        self._next_client += 1
        return Endpoint(self, CLIENT, self._next_client, family, kind)

    def _register(self, endpoint: Endpoint) -> None:
        with self._open_lock:
            self._open[endpoint] = None

    def _unregister(self, endpoint: Endpoint) -> None:
        with self._open_lock:
            self._open.pop(endpoint, None)

    @property
    def open_sockets(self) -> int:
        with self._open_lock:
            return sum(1 for e in self._open if e.is_open)

    # -- floods ------------------------------------------------------------------

    def flush_floods(self, keep_streaks: bool = False) -> None:
        """Report every counted flood: sends before recvs, so order stays causal.

        ``keep_streaks`` (a periodic report in a flood that goes on) lets each
        socket go straight back to counting instead of reporting calls singly.
        """
        with self.bus.lock:
            pending = sorted(self._floods, key=lambda e: e._flood is None or
                             e._flood.op.startswith("recv"))
            for endpoint in pending:
                # One by one, not clear(): a recv flood may start (without the
                # bus lock) while this runs, and must stay listed to be reported.
                self._floods.discard(endpoint)
                endpoint._flush_flood()
                if not keep_streaks:
                    endpoint._streak = 0

    # -- threads and teardown -------------------------------------------------------

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` in a thread the lab joins on stop."""
        thread = threading.Thread(target=target, name=f"socklab-{name}", daemon=True)
        with self._open_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def close_all(self, reason: str = lessons.STOPPED, timeout: float = 5.0) -> None:
        """Close every socket (each a logged close() by the lab, saying ``reason``),
        end every wait, join every thread."""
        self.stop_reason = reason
        self.stopping = True
        self.flush_floods()
        self._close_open(reason)
        deadline = time.monotonic() + timeout
        with self._open_lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        # Threads may have accepted or opened a socket while we were closing.
        self._close_open(reason)
        self.flush_floods()

    def _close_open(self, reason: str) -> None:
        """Close every open socket, newest first (connections before their listener)."""
        with self._open_lock:
            endpoints = list(self._open)
        for endpoint in reversed(endpoints):
            endpoint.close_by_lab(reason)

    def reset(self, reason: str = lessons.RESET) -> None:
        """Close everything, then let the lab be used again."""
        self.close_all(reason)
        self.stopping = False
        with self._open_lock:
            self._threads = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()


def _somaxconn() -> int:
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4096


__all__ = ["CLIENT", "DONE", "GREETING", "SERVER", "WAIT", "Endpoint", "Lab", "Received",
           "Server", "State"]
