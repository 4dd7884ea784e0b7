"""How one call is made and reported: the mechanics every endpoint call shares.

A call is first tried at once; if the kernel says it would block, a "wait"
event is emitted and the thread waits (`waiting`), then tries again and emits
"done".  So a learner sees ``accept … waiting`` only when accept really waits.

Order
-----
`EventBus.lock` is held across calls whose effect another thread can observe
(connect, send, sendto, shutdown, close) and the event that reports them —
including a causal call's "wait", emitted under the lock the call was made
under: a recv that returns those bytes, or an accept of that connect, can only
be numbered after.  The log is therefore causal.
"""

from __future__ import annotations

import errno as _errno
import functools
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from .. import explain
from ..events import RAW_CAP, WAIT, Event, State, bytes_repr, escape_bytes
from ..explain import lesson_for
from .floods import COALESCE_SECONDS, Tally
from .waiting import Cancelled, Waiter, ready_for_any, ready_now

if TYPE_CHECKING:
    from .lab import Lab

DATA_OPS = frozenset({"send", "recv", "sendto", "recvfrom"})
#: When the calling thread's call began (its first event's time).
_BEGAN = threading.local()

F = TypeVar("F", bound=Callable[..., Any])


def timed(method: F) -> F:
    """The call's first event carries the time the call began (`_BEGAN`)."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        previous = getattr(_BEGAN, "t", None)
        _BEGAN.t = self.lab.bus.now()
        try:
            return method(self, *args, **kwargs)
        finally:
            _BEGAN.t = previous
    return wrapper  # type: ignore[return-value]


def call_began(otherwise: float) -> float:
    """When the call this thread is in began (`timed`, `began_at`), else ``otherwise``."""
    began = getattr(_BEGAN, "t", None)
    return otherwise if began is None else began


def began_at(began: float, method: Callable[..., Any], *args: Any) -> Any:
    """``method(*args)`` as a call that began at ``began`` (what `timed` does, with
    the time read already: a data call's fast path reads it before its syscall
    and goes this way only when the call reports an event after all)."""
    previous = getattr(_BEGAN, "t", None)
    _BEGAN.t = began
    try:
        return method(*args)
    finally:
        _BEGAN.t = previous
#: `Calls._paid`'s "this thread owed nothing".
_NOT_OWED = object()
#: How long a close waits for the calls it woke to report their end.
ENDS_WAIT = 1.0


class Received(NamedTuple):
    """What recv/recvfrom handed back: the bytes, and the event that reported them.

    ``event`` is None when the call was counted into a flood; ``addr`` is the
    sender's address (recvfrom); ``eof`` is a stream's b'' (the peer closed).
    ``data`` is a view of the socket's own buffer when the caller asked for the
    bytes to be dropped (``recv(keep=False)``), and bytes otherwise.
    Immutable, and a tuple underneath: made on every recv of a flood, it costs
    a fifth of a frozen dataclass (measured: 0.5 µs against 2.3 µs).
    """

    event: Event | None
    data: bytes
    addr: tuple | None = None
    eof: bool = False

    @property
    def ok(self) -> bool:
        """The call did not fail (counted into a flood counts as done)."""
        return self.event is None or self.event.ok


def address(addr: Any) -> Any:
    """A socket address as the log shows it: (host, port)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (addr[0], addr[1])
    return addr


def says_its_line(method: Callable[..., Any]) -> Callable[..., Any]:
    """A call's method: when it returns, whatever it said, its line is no longer
    owed (`Calls._owe`): a close waiting for it goes on."""
    @functools.wraps(method)
    def call(self: Calls, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._paid()
    return call


class ClientPorts:
    """Which of the lab's clients connects from which local address to which
    port, so an accept can say who connected: ``server[1]`` is ``client[3]``
    (issue 12: numbers that pair).

    One accept answers one connect: the accept takes the note away, so a later
    connection from the same address and port that is not the lab's (the port
    scan of a Ports tab or of another program, reusing a port a lab client had
    used) is never taken for that client.  Bounded: it forgets everything when
    it grows large."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._by_address: dict[tuple, int] = {}

    def note(self, local: Any, conn: int | None, port: int = 0) -> None:
        """Client ``conn`` connects from ``local`` to ``port``."""
        if conn is None or not isinstance(local, tuple):
            return
        if len(self._by_address) >= self.LIMIT:
            self._by_address.clear()
        self._by_address[(address(local), port)] = conn

    def client_at(self, peer: Any, port: int = 0) -> int | None:
        """The client whose connect from ``peer`` to ``port`` this accept answers
        (taken: the next accept of that address is another connection)."""
        if not isinstance(peer, tuple):
            return None
        return self._by_address.pop((address(peer), port), None)

    def client_from(self, local: Any, port: int) -> int | None:
        """The client whose connect from ``local`` to ``port`` is noted (kept: the
        capture asks who sent a SYN; only an accept takes the note)."""
        return self._by_address.get((address(local), port))

    def forget(self) -> None:
        self._by_address.clear()


#: Each lab's `ClientPorts` (kept beside the lab, gone with it).
_CLIENT_PORTS: weakref.WeakKeyDictionary[Any, ClientPorts] = weakref.WeakKeyDictionary()


def client_ports(lab: Lab) -> ClientPorts:
    """The lab's record of its clients' local addresses."""
    ports = _CLIENT_PORTS.get(lab)
    if ports is None:
        ports = _CLIENT_PORTS.setdefault(lab, ClientPorts())
    return ports


class Calls:
    """One socket of the lab: its state, and how each call on it is made and reported."""

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
        #: Two-hosts mode: the host the socket lives in (`Lab.host_of`).
        self.host: str | None = None if sock is None else lab.host_of(sock)
        self.bytes_in = 0
        self.bytes_out = 0
        self.state = State.OPEN if sock is not None else State.NEW
        self.listening = False
        self.eof = False
        self._closing = False
        #: Why the lab closed this socket itself (None: open, or closed by close()).
        self.closed_by: str | None = None
        #: The timeout the learner set (`settimeout` / `setblocking`): None
        #: waits for ever (blocking), 0.0 never waits (non-blocking).  The lab
        #: keeps the kernel socket non-blocking and applies it itself, as
        #: Python does, so every wait can still be shown.
        self.timeout: float | None = None
        #: Said when a limit of the lab's own default ends a wait (see connect).
        self.limit_note: str | None = None
        #: The port the last sendto went to (the lab was told: `Lab.will_connect`).
        self.reaching: int | None = None
        self._op_lock = threading.Lock()
        #: Threads in a call on this socket whose line is not out yet (a call tried,
        #: not yet logged): a close waits for them, so it never comes between (`_owe`).
        #: (A dict: adding and removing one key is atomic in CPython, no lock needed.)
        self._owing: dict[int, None] = {}
        self._closer_waiting = False
        #: Waits a close ended that have not reported their end yet (`close`).
        self._ends_due = 0
        #: An accepted connection whose accept() event is not out yet: the kernel
        #: view leaves it alone until then (`unannounced`); `announcing` on its server.
        self.unannounced = False
        self.announcing: Any = None
        #: This socket's streak of data calls and the flood it counts (floods.py).
        self.tally = Tally(lab.floods, self._emit, self._say_midway)
        #: The ids of this socket's sends said waiting by `_say_midway`, by the
        #: thread making each (two threads may send on one socket at once).
        self._midway_calls: dict[int, int] = {}
        self.waiter = Waiter(self._cancelled, self._ready_first)
        if sock is not None:
            sock.setblocking(False)

    # -- reporting ---------------------------------------------------------

    def _emit(self, op: str, **fields: Any) -> Event:
        fields.setdefault("conn", self.conn)
        if self.sock is not None and self.lab.hosts is not None:
            fields.setdefault("host", self.host)  # where the socket lives, not its side
        if fields.get("phase") == WAIT or fields.get("call", 1) == 0:
            # A call's first event carries the time it began: the segments it
            # sent (their kernel times) never come before it.
            fields.setdefault("since", getattr(_BEGAN, "t", None))
        event = self.lab.bus.emit(side=self.side, op=op, **fields)
        if self._owing:
            self._paid()
        return event

    # -- a close never comes between a call and its line ------------------------

    def _owe(self) -> None:
        """This thread is about to try a call on the socket: its line is owed."""
        self._owing[threading.get_ident()] = None

    def owed_elsewhere(self) -> bool:
        """A call another thread tried on this socket has not said its line yet
        (the kernel view reads this socket after that line, not before it)."""
        return bool(self._owing) and bool(self._owing.keys() - {threading.get_ident()})

    def _paid(self) -> None:
        """This thread's call has said its line (or says none: a flood, a quiet
        wait, its end): a close waiting for it goes on."""
        if not self._owing or self._owing.pop(threading.get_ident(), _NOT_OWED) is _NOT_OWED:
            return
        if self._closer_waiting:
            self._notify_closer()

    def _notify_closer(self) -> None:
        """A close waiting for this socket's calls to say their lines looks again."""
        with self.lab.bus.changed:
            self.lab.bus.changed.notify_all()

    def _ready_first(self) -> bool:
        """A wait found its socket ready: unless this socket is closing (its close
        wakes the wait), the call goes on and owes its line, even while the lab
        stops: it was ready before the close (a connect whose handshake ended)."""
        if self._closing:
            return False
        self._owe()
        return True

    def _owes_a_line(self, me: set[int]) -> bool:
        """Another thread's call on this socket has a line to say before a close:
        tried and not logged, or waiting on a socket already ready."""
        return bool(self._owing.keys() - me) or (
            self.waiter.waiting > 0 and ready_for_any(self.sock, self.waiter.wants))

    def _let_calls_say(self) -> None:
        """Before the socket closes (under the bus lock): a call another thread
        has tried on it (or on its listener, for a connection whose accept is not
        out yet), or that waits on it and could go on already, says its line
        first, so it is numbered before the close that follows it in time (a
        quick call before Reset, the wait that Reset ends, a connect whose
        handshake ended before Reset).
        The bus lock is released while waiting; bounded."""
        me = {threading.get_ident()}
        listener = getattr(self, "listener", None)
        holders = [self] + ([listener] if self.unannounced and listener is not None else [])
        if not any(h._owes_a_line(me) for h in holders):
            return
        with self.lab.bus.changed:
            for h in holders:
                h._closer_waiting = True
            try:
                self.lab.bus.changed.wait_for(
                    lambda: not any(h._owes_a_line(me) for h in holders), ENDS_WAIT)
            finally:
                for h in holders:
                    h._closer_waiting = False

    def _fail(self, op: str, args: tuple, exc: BaseException, call: int,
              lesson: str | None = None) -> Event:
        self.tally.end()
        name, number, default = explain.explain(exc, op)
        if lesson is None:
            lesson = self._lesson(name, number, default, op)
            if self.lab.hosts is not None:  # two hosts: the hosts explain it better
                lesson = self.lab.hosts.lesson(self, op, args, name) or lesson
        self.tally.streak = 0
        return self._emit(
            op, args=args, ok=False, error=name, errno=number, lesson=lesson, call=call
        )

    def _lesson(self, name: str, number: int | None, default: str, op: str = "") -> str:
        """The lesson of a failure, where this socket's story changes the table's."""
        if name == "EBADF" and self.closed_by is not None:
            return explain.found_closed_by_lab(self.closed_by)
        if name == "ECONNREFUSED" and op != "connect" and self.kind == socket.SOCK_STREAM:
            # Not a datagram's ICMP: the RST that answered its connect's SYN.
            return lesson_for("ECONNREFUSED", "stream") or default
        if name == "gaierror" and number == getattr(socket, "EAI_ADDRFAMILY", -9):
            return lesson_for("EAFNOSUPPORT") or default
        if name == "EPIPE" and self.peer is None and self.kind == socket.SOCK_STREAM:
            # Linux says EPIPE, not ENOTCONN, for send() on a never-connected socket.
            return lesson_for("ENOTCONN") or default
        return default

    def _done(self, op: str, args: tuple, call: int, data: bytes | None = None,
              **fields: Any) -> Event | None:
        """Report a successful call, or count it into a flood."""
        tally = self.tally
        if op in DATA_OPS and fields.get("lesson"):
            # Worth its own line (recv's b'' EOF): never counted into a flood.
            tally.interrupt(op)
        elif op in DATA_OPS:
            nbytes = fields.get("nbytes") or 0
            if (not call and tally.counted(op, nbytes)) or tally.note(op, nbytes, args,
                                                                        bool(call)):
                return None
        else:
            tally.interrupt()
        if op == "accept" and "result" in fields:
            # Under the bus lock: a lab client's connect notes its address under
            # it too, so the connect this accept pairs with has been noted.
            with self.lab.bus.lock:
                fields["peer_conn"] = client_ports(self.lab).client_at(
                    fields["result"], self.local[1] if self.local else 0)
                # The new connection is the kernel view's from its accept() on:
                # its states come after the call that returned it.
                new, self.announcing = self.announcing, None
                if new is not None:
                    new.unannounced = False
                return self._emit(op, args=args, call=call, **self._with_data(data, fields))
        fields = self._with_data(data, fields)
        if op in ("recv", "recvfrom"):
            with self.lab.bus.lock:
                if self.lab.floods:
                    # The bytes may come from sends still counted in a flood:
                    # report those first, so a recv never precedes its send.
                    self.lab.floods.flush(keep_streaks=True)
                return self._emit(op, args=args, call=call, **fields)
        return self._emit(op, args=args, call=call, **fields)

    @staticmethod
    def _with_data(data: bytes | None, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with the payload's text, repr and first bytes."""
        if data is not None:
            fields["data"] = escape_bytes(data)
            fields["bytes_repr"] = bytes_repr(data)
            fields["raw"] = data[:RAW_CAP]
        return fields

    # -- the mechanics of one call -------------------------------------------

    @timed
    @says_its_line
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
        first = True
        while True:
            try:
                if causal:
                    with self.lab.bus.lock:
                        if first:
                            first = False
                            self._after_what_happened()
                        finished, value, call = self._attempt_causal(op, args, call,
                                                                     attempt, want)
                        if finished:
                            return value, self._done(op, args, call, **report(value))
                        if self.timeout == 0.0:
                            # Never waits: its failure is said under the lock the
                            # call was made under, before the segments it sent.
                            return None, self._blocked(op, args, call, want, deadline)[1]
                else:
                    with self._op_lock:
                        self._owe()
                        value = attempt()
                    return value, self._done(op, args, call, **report(value))
            except (BlockingIOError, InterruptedError):
                pass
            except Exception as exc:  # every failure is an event, never a crash
                return None, self._fail(op, args, exc, call)
            call, failed = self._blocked(op, args, call, want, deadline)
            if failed is not None:
                return None, failed

    def _after_what_happened(self) -> None:
        """Before a causal call, under the bus lock: what already happened is
        numbered first (segments in the capture's ring, which its thread may not
        have read: a busy machine, or the lock held), and the call begins after it.
        Else a segment sent before the call, read by the drain after it, is
        numbered after it (seen: the kernel's ACKs of FINs on connections in the
        accept queue, numbered after the listener's close and credited to it)."""
        self.lab.catch_up()
        _BEGAN.t = self.lab.bus.now()

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
                if retry or call or self.timeout == 0.0 or not ready_now(self.sock, want):
                    return False, None, self._announce(op, args, call)
        return False, None, call  # not reached: the second try returns or raises

    def _say_midway(self, began: float, thread: int) -> None:
        """This socket's send waits with some of its bytes out, and another event is
        about to be numbered (`Floods.settle`, under the bus lock, in any thread):
        its "wait" now, with the time it began, so no recv of those bytes comes
        first.  A non-blocking socket's send never waits: it fails instead (its
        bytes out are not said before that failure)."""
        if thread in self._midway_calls or self.timeout == 0.0:
            return
        call = self._midway_calls[thread] = self.lab.bus.new_call()
        self._emit("send", phase=WAIT, args=(), call=call, since=began)

    def _said_now(self, op: str, call: int) -> int:
        """The call's id as its end is about to be said: a send listed midway is
        said waiting first (`Floods.settle`), so its end pairs with that wait
        (else the end's own event would say it, with an id the end does not carry)."""
        if op == "send" and self.tally.floods.midway:
            with self.lab.bus.lock:
                self.tally.floods.settle()
        return self._said(op, call)

    def _said(self, op: str, call: int) -> int:
        """The call's id: ``call``, or for a send the one `_say_midway` gave it."""
        return call or (self._midway_calls.get(threading.get_ident(), 0) if op == "send"
                        else 0)

    def _announce(self, op: str, args: tuple, call: int) -> int:
        """The call would block: emit its "wait" once (not inside a flood).

        Returns the call's id (0 when nothing was shown; a send said waiting by
        `_say_midway`, that one's).  A non-blocking socket never waits:
        `_blocked` fails the call instead."""
        call = self._said(op, call)
        if not call and self.tally.flood is None and self.timeout != 0.0:
            with self.lab.bus.lock:  # said here: not again by `Floods.settle`
                call = self._said(op, call)  # unless it said it just now
                if not call:
                    self.tally.floods.midway.pop((self.tally, threading.get_ident()), None)
                    call = self.lab.bus.new_call()
                    self._emit(op, phase=WAIT, args=args, call=call)
        return call

    def _blocked(self, op: str, args: tuple, call: int, want: int,
                 deadline: float | None) -> tuple[int, Event | None]:
        """The call would block: say so once (not inside a flood), then wait.

        Returns the call's id and, when the wait timed out or a close ended
        it, the failure event.  The learner's timeout applies here as Python
        applies it: 0.0 (setblocking(False)) fails at once with
        BlockingIOError, t (settimeout(t)) raises TimeoutError after t
        seconds; a limit of the lab's own (``deadline``) says it is the lab's.
        """
        own = self.timeout
        if own == 0.0:
            code = _errno.EINPROGRESS if op == "connect" else _errno.EAGAIN
            blocked = BlockingIOError(code, "the socket is non-blocking: the call would wait")
            return max(call, 0), self._fail(op, args, blocked, max(call, 0),
                                            lesson=explain.would_block(op))
        lab_limit = deadline is not None and (own is None
                                              or deadline <= time.monotonic() + own)
        if not lab_limit and own is not None:
            deadline = time.monotonic() + own
        quiet = call < 0
        if quiet:
            call = 0  # a quiet wait inside a flood (recvfrom_many): never shown
        else:
            call = self._announce(op, args, call)
        tally = self.tally
        paused = tally.flood is not None  # a paused flood is reported soon
        shown = [call]

        def pause() -> None:
            # Nothing came for a while: report the flood, and say this call waits.
            tally.end()
            if not quiet:
                shown[0] = self._announce(op, args, shown[0])

        self._paid()  # its wait is said (or quiet): a close may come now
        try:
            self.waiter.wait(self.sock, want, deadline,
                             COALESCE_SECONDS if paused else None,
                             pause if paused else None)
            call = self._said(op, shown[0])
        except TimeoutError as exc:
            call = self._said_now(op, shown[0])
            lesson = None  # a limit the caller chose: the table's lesson
            if not lab_limit:
                lesson = explain.socket_timeout(op, own)
            elif self.limit_note is not None:  # the lab's own default: said so
                lesson = f"{explain.explain(exc, op)[2]}. {self.limit_note}"
            return call, self._fail(op, args, exc, call, lesson=lesson)
        except Cancelled:
            call = self._said_now(op, shown[0])
            self._await_the_labs_close()
            # Closed while waiting.  Not another attempt: close() shuts the socket
            # down first to wake us, and a recv now would return b'' and look
            # like the *peer* had closed.  Who closed it is said: the lab, or close().
            reason = self.closed_by if self._closing else None
            if reason is None and self.lab.stopping:
                reason = self.lab.stop_reason
            closed = OSError(_errno.EBADF, "Bad file descriptor (closed while waiting)")
            failed = self._fail(op, args, closed, call,
                                lesson=explain.closed_while_waiting(reason))
            with self.lab.bus.changed:
                self._ends_due -= 1
                self.lab.bus.changed.notify_all()
            return call, failed
        return call, None

    def _await_the_labs_close(self) -> None:
        """A wait the lab's stopping ended (Reset, quit) before its close of this
        socket came: the end is said after that close, which is its cause (bounded)."""
        if self._closing or not self.lab.stopping:
            return
        with self.lab.bus.changed:
            self.lab.bus.changed.wait_for(lambda: self._closing or not self.is_open,
                                          ENDS_WAIT)

    def _await_ends(self) -> None:
        """After a close that woke waiting calls: let each report its end now, so
        it is numbered right after the close (the bus lock is released while
        waiting, however deeply held; bounded: a wait that ends otherwise is not
        waited for long)."""
        with self.lab.bus.changed:
            self.lab.bus.changed.wait_for(lambda: self._ends_due <= 0, ENDS_WAIT)
            self._ends_due = 0

    def _cancelled(self) -> bool:
        """Should a wait on this socket end now?  (closing, or the lab stopping)"""
        return self._closing or self.lab.stopping

    def _need_socket(self) -> socket.socket:
        if self.sock is None:
            # Python's own behaviour on a closed socket object is EBADF.
            raise OSError(_errno.EBADF, "Bad file descriptor (no socket yet: call socket())")
        return self.sock

    @property
    def is_open(self) -> bool:
        return self.sock is not None and self.sock.fileno() >= 0

    @property
    def closing(self) -> bool:
        """close() has begun on this socket (a waiting call is being ended)."""
        return self._closing
