"""The kernel view: each lab TCP socket's state, reported as "state" events.

A `KernelView` reads the kernel's own view of every TCP socket the lab owns
(getsockopt TCP_INFO: a few microseconds a socket, no privilege) and, for
connections whose descriptor is gone (FIN_WAIT2, TIME_WAIT, LAST_ACK after
close()), asks the kernel's socket tables for that 4-tuple (inet_diag, as
``ss`` does; /proc/net/tcp where netlink is refused).  When what it reads
changes it emits an event through the lab's bus, like every call:

    {"op": "state", "side": "server", "conn": 1, "result": {"state": "CLOSE_WAIT"}}

and for a listener the result also has "queue" (connections waiting for
accept()) and "backlog" (its limit).

It reads at two kinds of moment.  Right after each call that changes a state
(listen, connect, accept, shutdown, close), in the caller's thread, after
every sink saw the call and still under the bus lock: so the log says
"close() → then the peer is in CLOSE_WAIT" right under the close.  And on a
timer (20 Hz, slower if there are many sockets: it never takes more than 1/20
of a core, by its own CPU time, so a loaded machine does not slow it), for what
changes by itself: a SYN sent again, the peer's FIN, TIME_WAIT ending.  A demo
that must show a state waits for it (`wait_for`).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import explain
from ..events import DONE, Event
from .diag import lookup
from .tables import Table, read_table
from .tcpinfo import has_error, read_state, read_tcp_info

if TYPE_CHECKING:
    from ..engine import Endpoint, Lab

#: The view running on each lab (a demo run by a command reuses the command's).
_VIEWS: weakref.WeakKeyDictionary[Lab, KernelView] = weakref.WeakKeyDictionary()

#: Calls after which the kernel's view is read at once.
MOMENTS = frozenset({"listen", "connect", "accept", "shutdown", "close", "refuse"})
CLOSES = frozenset({"close", "shutdown", "refuse"})
#: Calls after which the timer runs (if it is not running): a TCP socket may exist.
WAKERS = MOMENTS | {"socket"}
#: Sockets read in the caller's thread at a moment; more wait for the timer.
SYNC_LIMIT = 32
#: Closed connections followed in the tables; a storm's leftovers are not.
MAX_GONE = 256
#: The longest a closed connection is followed (TIME_WAIT is 60 s on Linux).
GONE_FOR = 75.0
#: The timer's share of one core at most.
MAX_SHARE = 0.05


@dataclass
class Watched:
    """One lab TCP socket as the kernel last described it."""

    side: str
    conn: int | None
    family: int
    local: tuple | None = None
    peer: tuple | None = None
    #: Two-hosts mode: the host the socket lives in (its events say so).
    host: str | None = None
    #: What was last reported: (state, queue, backlog, retransmits).
    last: tuple = ()
    closed_at: float = 0.0

    @property
    def state(self) -> str | None:
        return self.last[0] if self.last else None


class KernelView:
    """Follows the lab's TCP sockets in the kernel and reports each change."""

    def __init__(self, lab: Lab, interval: float = 0.05, table_interval: float = 0.5) -> None:
        self.lab = lab
        self.interval = interval
        self.table_interval = table_interval
        self._live: dict[socket.socket, Watched] = {}
        self._gone: dict[tuple, Watched] = {}
        #: Sockets the kernel is done with, newest last (bounded): what they ended as.
        self._ended: dict[tuple[str, int | None], Watched] = {}
        self._tables_read = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhook: Any = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> KernelView:
        """Read at each moment that matters, and on the timer while there is a TCP
        socket to follow, until `stop`."""
        if self._unhook is None:
            _VIEWS[self.lab] = self
            self._stop.clear()
            self._unhook = self.lab.bus.after_emit(self._moment, present=True)
        return self

    @property
    def thread(self) -> threading.Thread | None:
        """The timer's thread, while it runs (only while something is followed)."""
        return self._thread

    def stop(self) -> None:
        """Stop the timer; one last reading reports what the lab's closes left."""
        if self._unhook is None:
            return
        with self.lab.bus.lock:
            self._unhook()
            self._unhook = None
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(5.0)
        _VIEWS.pop(self.lab, None)
        self.poll()

    def _wake(self) -> None:
        """Start the timer's thread if it is not running (under the bus lock)."""
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="socklab-kernel",
                                            daemon=True)
            self._thread.start()

    def __enter__(self) -> KernelView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        """The timer: read, then sleep; end when nothing is left to follow (an idle
        lab with no TCP socket costs nothing), `_wake` starts it again."""
        wait = self.interval
        while not self._stop.wait(wait):
            # The reading's own CPU time, not the wall time: on a loaded machine a
            # reading waits for a core (or for the bus lock) far longer than it
            # works, and the timer backed off to seconds: states said late.
            started = time.thread_time()
            due = time.monotonic() - self._tables_read >= self.table_interval
            try:
                self.poll(tables=due)
            except OSError:
                pass  # a reading the kernel refused this once: the next tick reads again
            with self.lab.bus.lock:
                if not self._live and not self._gone:
                    self._thread = None
                    return
            wait = max(self.interval, (time.thread_time() - started) / MAX_SHARE)
        with self.lab.bus.lock:
            if self._thread is threading.current_thread():
                self._thread = None

    def _moment(self, event: Event) -> None:
        if event.op in WAKERS:
            self._wake()
        if event.op in MOMENTS and event.phase == DONE and len(self._live) <= SYNC_LIMIT:
            try:
                # The tables cost milliseconds: read them only where a connection
                # just lost its descriptor, and only for a few.
                self.poll(tables=None if event.op in CLOSES else False)
            except OSError:
                pass  # the kernel view never breaks a call; the timer reads again

    # -- reading ---------------------------------------------------------------

    def poll(self, tables: bool | None = True) -> None:
        """Read every lab TCP socket now and report what changed (any thread).

        ``tables``: also follow closed connections in the kernel's tables
        (milliseconds); None: only if a descriptor went away just now (a few).
        """
        with self.lab.bus.lock:
            readings = []
            # A call another thread tried on a socket is not logged yet: its state
            # is read after the call's line (at its moment), never before it.
            held: set[socket.socket] = set()
            for endpoint in self.lab.endpoints():
                sock = endpoint.sock
                if sock is None or endpoint.kind != socket.SOCK_STREAM \
                        or endpoint.unannounced:
                    continue
                if endpoint.owed_elsewhere():
                    held.add(sock)
                    continue
                info = read_state(sock)
                if info is not None:
                    readings.append((endpoint, sock, info))
            seen: set[socket.socket] = set(held)
            pending: dict[tuple, list[Callable[[], None]]] = {}
            for endpoint, sock, info in readings:
                seen.add(sock)
                watched = self._live.get(sock)
                if watched is None:
                    watched = self._live[sock] = self._new(endpoint)
                watched.local = endpoint.local or watched.local
                watched.peer = endpoint.peer or watched.peer
                if watched.peer is None and info[0] not in _UNCONNECTED:
                    _ask_addresses(watched, sock)
                pending.setdefault(_end(watched), []).append(
                    lambda s=sock, w=watched, i=info: self._changed(s, w, i))
            ended = [s for s in self._live if s not in seen]
            for sock in ended:
                self._closed(self._live.pop(sock))
            if tables is None:
                tables = 0 < len(ended) <= 4
            if self._gone and tables:
                self._follow_gone(pending)
            # Read first, then let the capture report: a segment is in the capture's
            # ring before TCP handles it, so every segment behind a state just read
            # is logged before that state (never a FIN after its CLOSE_WAIT), and
            # each state right after the last segment its end received.
            self.lab.catch_up(lambda end, ends: self._place(pending, end, ends))
            self._place(pending, None, ())

    def _new(self, endpoint: Endpoint) -> Watched:
        """A socket seen for the first time.  If its number named a closed connection
        still followed (Run server again: server[1] anew), that one is dropped: its
        later states would be read as this new socket's."""
        key = (endpoint.side, endpoint.conn)
        for gone_key in [k for k, w in self._gone.items() if (w.side, w.conn) == key]:
            del self._gone[gone_key]
        self._ended.pop(key, None)
        return Watched(endpoint.side, endpoint.conn, endpoint.family, host=endpoint.host)

    def _place(self, pending: dict[tuple, list[Callable[[], None]]], end: tuple | None,
               ends: tuple) -> None:
        """Report the states waiting for ``end``'s segment; ``end`` None: before a
        batch of segments, those no segment of it reaches (what a call caused, or
        a segment reported already), in the order of the segments that caused them
        (an end that received nothing since first)."""
        if end is not None:
            _run_all(pending.pop(end, ()))
            return
        for key in [k for k in pending if k[0] == "listen"]:
            # A listener's queue changes with a handshake's last ACK to its address.
            target = next((e for e in reversed(ends) if e[0] == key[1]), None)
            if target is not None:
                pending.setdefault(target, []).extend(pending.pop(key))
        received = self.lab.received
        for key in sorted((k for k in pending if k not in ends),
                          key=lambda k: received.get(k, -1)):
            _run_all(pending.pop(key))

    def _changed(self, sock: socket.socket, watched: Watched,
                 info: tuple[str, int, int, int]) -> None:
        """Report one reading, if it says something new."""
        if info[0] == "CLOSE" and self._handed_over(sock, watched):
            return
        self._report(watched, info, sock)

    def _handed_over(self, sock: socket.socket, watched: Watched) -> bool:
        """The descriptor reads CLOSE, but the connection may live on without it.

        A side that shut down its half and then got the peer's FIN goes to
        TIME_WAIT: the kernel moves the connection to a time-wait entry and the
        descriptor reads CLOSE though nothing was reset.  The connection's state
        is asked of the tables by its 4-tuple, as ``ss`` does; if it lives on,
        it is followed there (as after close()) and the descriptor is quiet.
        """
        if watched.state in (None, "LISTEN", "CLOSE", "SYN_SENT") or not watched.peer \
                or not watched.local:
            return False
        state = self._connection_state(watched)
        if state in (None, "CLOSE", "LISTEN"):
            return False
        quiet = Watched(watched.side, watched.conn, watched.family, watched.local,
                        watched.peer, watched.host, ("CLOSE", 0, 0, 0))
        self._live[sock] = quiet
        watched.closed_at = time.monotonic()
        self._gone[(watched.family, tuple(watched.local), tuple(watched.peer))] = watched
        if state != watched.state:
            was, watched.last = watched.state, (state, 0, 0, 0)
            self._emit(watched, {"state": state},
                       explain.state_lesson(state, was=was, open_socket=False))
        return True

    def _connection_state(self, watched: Watched) -> str | None:
        """The state of ``watched``'s connection in the kernel's tables (None: gone)."""
        key = (tuple(watched.local), tuple(watched.peer))  # type: ignore[arg-type]
        where = self._where(watched.host)
        if where is None:
            return None
        found = where(lambda: lookup(watched.family, [key]))
        if found is None:  # no netlink here: the whole table, from /proc
            found = where(lambda: read_table(watched.family))
        return found.get(key)

    def _report(self, watched: Watched, info: tuple[str, int, int, int],
                sock: socket.socket | None = None) -> None:
        state, retransmits, unacked, sacked = info
        listening = state == "LISTEN"
        # A listener's unacked/sacked are its accept queue and backlog (tcpinfo.py).
        now = (state, unacked if listening else 0, sacked if listening else 0,
               retransmits if state == "SYN_SENT" else 0)
        if now == watched.last:
            return
        was, watched.last = watched.state, now
        if was is None and state == "CLOSE":
            return  # a new socket: the kernel calls it CLOSE until it connects or listens
        result: dict[str, Any] = {"state": state}
        if listening:
            result.update(queue=now[1], backlog=now[2])
        if now[3]:
            result["retransmits"] = now[3]
        lesson = explain.state_lesson(state, queue=now[1], backlog=now[2],
                                      retransmits=now[3], was=was,
                                      reset=state == "CLOSE" and has_error(sock))
        self._emit(watched, result, lesson)

    def _closed(self, watched: Watched) -> None:
        """The descriptor is gone: follow the connection in the tables, by its 4-tuple."""
        if watched.state in (None, "LISTEN", "CLOSE", "SYN_SENT") or not watched.peer \
                or not watched.local or len(self._gone) >= MAX_GONE:
            self._end(watched)
            return
        watched.closed_at = time.monotonic()
        self._gone[(watched.family, tuple(watched.local), tuple(watched.peer))] = watched

    def _follow_gone(self, pending: dict[tuple, list[Callable[[], None]]]) -> None:
        """Read the closed connections' states in the tables; what changed is
        reported by ``pending``'s jobs (`_place`)."""
        def emit(watched: Watched, result: dict[str, Any], lesson: str | None) -> None:
            pending.setdefault(_end(watched), []).append(
                lambda: self._emit(watched, result, lesson))

        self._tables_read = time.monotonic()
        # Each connection is looked up where its socket lived: this machine, or its
        # host (two hosts' loopbacks may hold the same four values).
        tables: dict[tuple[int, str | None], Table] = {}
        for family, host in {(key[0], w.host) for key, w in self._gone.items()}:
            where = self._where(host)
            if where is None:  # its host is gone, and its tables with it
                tables[(family, host)] = {}
                continue
            wanted = [(key[1], key[2]) for key, w in self._gone.items()
                      if key[0] == family and w.host == host]
            found = where(lambda f=family, w=wanted: lookup(f, w))  # type: ignore[misc]
            if found is None:  # no netlink here: the whole table, from /proc
                found = where(lambda f=family: read_table(f))
            tables[(family, host)] = {k: v for k, v in found.items() if v is not None}
        for key, watched in list(self._gone.items()):
            state = tables[(key[0], watched.host)].get((key[1], key[2]))
            if state is None or time.monotonic() - watched.closed_at > GONE_FOR:
                del self._gone[key]
                self._end(watched)
                if state is None:
                    was, watched.last = watched.state, ("CLOSE", 0, 0, 0)
                    emit(watched, {"state": "CLOSE"},
                         explain.state_lesson("CLOSE", was=was, open_socket=False,
                                              loopback=_on_loopback(watched)))
                continue
            if state != watched.state:
                was, watched.last = watched.state, (state, 0, 0, 0)
                emit(watched, {"state": state},
                     explain.state_lesson(state, was=was, open_socket=False))

    def _where(self, host: str | None) -> Callable[[Callable[[], Any]], Any] | None:
        """Where a socket's tables are read: here (``host`` None), or inside its host
        in two-hosts mode (a closed connection lives on in its own host's tables:
        socklab.hosts); None when that host is gone."""
        if host is None:
            return lambda read: read()
        hosts = self.lab.hosts
        if hosts is None or not hosts.is_up:
            return None
        return lambda read: hosts.run_on(host, read)

    def _end(self, watched: Watched) -> None:
        key = (watched.side, watched.conn)
        self._ended.pop(key, None)
        self._ended[key] = watched
        while len(self._ended) > MAX_GONE:
            del self._ended[next(iter(self._ended))]

    def _emit(self, watched: Watched, result: dict[str, Any], lesson: str | None) -> None:
        # The host the socket lives in (None: this machine), never the mode's now:
        # two-hosts mode may have gone (the host with it) or come since it was made.
        self.lab.bus.emit(side=watched.side, conn=watched.conn, op="state",
                          result=result, lesson=lesson, host=watched.host)

    # -- what tests and demos ask ---------------------------------------------------

    def _all(self) -> list[Watched]:
        """Every socket followed, ended ones first (a number used again: the newest wins)."""
        return [*self._ended.values(), *self._gone.values(), *self._live.values()]

    def state_of(self, side: str, conn: int | None) -> str | None:
        """The state last reported for one lab socket (open or closed), or None."""
        with self.lab.bus.lock:
            for watched in reversed(self._all()):
                if (watched.side, watched.conn) == (side, conn):
                    return watched.state
        return None

    def wait_received(self, endpoint: Endpoint, nbytes: int, timeout: float = 5.0) -> bool:
        """Wait until the kernel has received ``nbytes`` on ``endpoint``'s connection
        (TCP_INFO's bytes_received), whether or not recv() took them yet."""
        deadline = time.monotonic() + timeout
        while True:
            sock = endpoint.sock
            info = read_tcp_info(sock) if sock is not None else None
            if info is not None and info.bytes_received >= nbytes:
                return True
            if info is None or time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def wait_for(self, side: str, conn: int | None, states: str | tuple[str, ...],
                 timeout: float = 5.0, retransmits: int = 0, queue: int | None = None) -> bool:
        """Read until the kernel says ``side[conn]`` is in one of ``states`` (bounded).

        A demo waits here for the moment it teaches, so its story does not
        depend on how fast this machine's kernel got there.
        """
        wanted = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            with self.lab.bus.lock:
                found = [w for w in self._all()
                         if (w.side, w.conn) == (side, conn) and w.state in wanted
                         and w.last[3] >= retransmits
                         and (queue is None or w.last[1] == queue)]
            if found:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def following(self) -> int:
        """Closed connections still followed in the kernel's tables."""
        with self.lab.bus.lock:
            return len(self._gone)


def _on_loopback(watched: Watched) -> bool:
    """Is the connection on one machine's loopback (not across the hosts' cable)?"""
    try:
        return ipaddress.ip_address(str(watched.peer[0]).split("%")[0]).is_loopback \
            if watched.peer else True
    except ValueError:
        return True


#: States in which a socket has no peer the kernel would name (getpeername: ENOTCONN).
_UNCONNECTED = frozenset({"CLOSE", "LISTEN", "SYN_SENT"})


def _ask_addresses(watched: Watched, sock: socket.socket) -> None:
    """A connection whose call has not reported yet (a connect still waiting when
    its handshake ends): its addresses asked of the socket, so its state is placed
    right after the segment its end received (`_end`), not before the batch."""
    try:
        local, peer = sock.getsockname(), sock.getpeername()
    except OSError:
        return
    watched.local, watched.peer = tuple(local[:2]), tuple(peer[:2])


def _end(watched: Watched) -> tuple:
    """A connection end's key: (its local address, its peer's), as `Lab.received`
    keys them; a socket not connected gets its own key."""
    if watched.local and watched.peer:
        return (tuple(watched.local), tuple(watched.peer))
    if watched.local and watched.state == "LISTEN":
        return ("listen", tuple(watched.local))
    return (watched.side, watched.conn, id(watched))


def _run_all(jobs: Iterator[Callable[[], None]] | list[Callable[[], None]] | tuple) -> None:
    for job in jobs:
        job()


def running_view(lab: Lab) -> KernelView | None:
    """The kernel view following ``lab``, if one is running."""
    return _VIEWS.get(lab)


@contextmanager
def kernel_view(lab: Lab) -> Iterator[KernelView]:
    """The lab's running kernel view, or one started for this block."""
    view = running_view(lab)
    if view is not None:
        yield view
        return
    view = KernelView(lab).start()
    try:
        yield view
    finally:
        view.stop()
