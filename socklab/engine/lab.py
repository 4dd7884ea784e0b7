"""The lab: all the sockets of one session, their event bus, threads and cleanup.

The lab's lifecycle lives here: which sockets are open (in the order they
opened), the threads it runs (and joins), the cap on connections kept open,
and closing everything — each close a real, logged close() by the lab that
says why (Reset, Ctrl-C, the lab stopped).
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import explain
from ..events import CLIENT, EventBus, Sink
from .endpoint import Endpoint
from .floods import Floods
from .server import Server

if TYPE_CHECKING:
    from ..hosts import TwoHosts

DEFAULT_CONNECT_TIMEOUT = 10.0
#: Told, before a batch of segments is reported, which ends (local, peer) it
#: reaches (``(None, ends)``, in the order of their last segment), then each end
#: right after the last segment to it (``(end, ())``).
Placer = Callable[[tuple | None, tuple], None]


#: The most descriptors `raise_descriptor_limit` asks for (the hard limit may be
#: "unlimited" or a million: a lab needs far fewer).
DESCRIPTORS_WANTED = 65536


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE toward the hard limit, as servers do at start.

    The common soft limit of 1,024 would cap a server near 320 connections;
    the hard limit is what the administrator allows.  Returns (soft, hard) after.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = DESCRIPTORS_WANTED if hard == resource.RLIM_INFINITY else min(hard,
                                                                         DESCRIPTORS_WANTED)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (OSError, ValueError):
            pass  # not allowed here: keep the limit we have
    return soft, hard


def default_max_connections() -> int:
    """Connections kept open at once: well below the descriptor limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(8, min(4096, (soft - 64) // 3))


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
        #: The floods running on the lab's sockets (each socket counts into its own).
        self.floods = Floods(self.bus.lock, coalesce)
        self.bus.before = self.floods.settle
        self.stopping = False
        #: Why the lab is stopping (the reason its own closes give).
        self.stop_reason = explain.STOPPED
        #: Open endpoints, in the order they opened (a dict keeps it).
        self._open: dict[Endpoint, None] = {}
        self._open_lock = threading.Lock()
        #: Running threads (each forgets itself when it ends: a long-running
        #: server does not keep one per connection it ever had).
        self._threads: dict[threading.Thread, None] = {}
        self._next_client = 0
        #: Two-hosts mode (socklab.hosts): each side's sockets are made on its own
        #: host, a network namespace; None: every socket is made on this machine.
        self.hosts: TwoHosts | None = None
        #: Told when the hosts come up (their namespaces' names) and before they go
        #: (None): the packet capture follows them into their namespaces.
        self.hosts_watchers: list[Callable[[dict[str, str] | None], None]] = []
        #: Told each port a lab socket is about to connect to (see `will_connect`).
        self.connect_watchers: list[Callable[[int], None]] = []
        #: Asked to report what already happened (see `catch_up`).
        self.catch_up_watchers: list[Callable[[Placer | None], None]] = []
        #: The seq of the last packet event each connection end received, by
        #: (its local address, its peer's): a state it entered comes after it.
        self.received: dict[tuple, int] = {}

    def will_connect(self, port: int) -> None:
        """A lab socket is about to connect (or send a datagram) to ``port``: the
        capture starts keeping that port's segments, so a handshake with a program
        outside the lab is seen from its SYN, and a datagram to a port nothing
        uses is seen at all (the call's event, which names the port, comes after it)."""
        for watcher in list(self.connect_watchers):
            watcher(port)

    def catch_up(self, place: Placer | None = None) -> None:
        """Have the watchers report what already happened (the capture: segments
        still in its ring), before a view reports what the kernel says now.

        ``place``: told which ends (local, peer) the segments reach, then each
        end right after the last segment it received is reported, so the state
        that segment caused is reported right under it (`Placer`)."""
        for watcher in list(self.catch_up_watchers):
            watcher(place)

    def announce_hosts(self, names: dict[str, str] | None) -> None:
        """The hosts are up (``names``: letter → namespace) or about to go (None)."""
        for watcher in list(self.hosts_watchers):
            watcher(names)

    def new_socket(self, endpoint: Endpoint, family: int, kind: int) -> socket.socket:
        """A new socket for ``endpoint``: on its host in two-hosts mode, here otherwise."""
        if self.hosts is None:
            return socket.socket(family, kind)
        return self.hosts.socket_for(endpoint, family, kind)

    def host_of(self, sock: socket.socket) -> str | None:
        """Two-hosts mode: the host ``sock`` lives in, asked of the socket's own
        namespace (None: this machine, or not in two-hosts mode)."""
        hosts = self.hosts
        return None if hosts is None else hosts.host_of_socket(sock)

    @property
    def coalesce(self) -> bool:
        """Floods are counted, not logged call by call."""
        return self.floods.enabled

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        return self.bus.subscribe(sink)

    # -- endpoints -------------------------------------------------------------

    def server(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> Server:
        return Server(self, family, kind)

    def client(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> Endpoint:
        self._next_client += 1
        return Endpoint(self, CLIENT, self._next_client, family, kind)

    def opened(self, endpoint: Endpoint) -> None:
        """``endpoint`` has a new open socket: the lab will close it when it stops."""
        with self._open_lock:
            self._open[endpoint] = None

    def closed(self, endpoint: Endpoint) -> None:
        """``endpoint``'s socket was closed (a server's connection: its server counts it)."""
        with self._open_lock:
            self._open.pop(endpoint, None)
        listener = getattr(endpoint, "listener", None)
        if listener is not None:
            endpoint.listener = None  # counted once, whatever closes it again
            listener.connection_closed(endpoint)

    def endpoints(self) -> list[Endpoint]:
        """The endpoints with an open socket, oldest first (the kernel view reads them)."""
        with self._open_lock:
            return list(self._open)

    @property
    def open_sockets(self) -> int:
        with self._open_lock:
            return sum(1 for e in self._open if e.is_open)

    def flush_floods(self, keep_streaks: bool = False) -> None:
        """Report every counted flood now (see `Floods.flush`)."""
        self.floods.flush(keep_streaks)

    # -- threads and teardown -------------------------------------------------------

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` in a thread the lab joins on stop."""
        def run() -> None:
            try:
                target()
            finally:
                with self._open_lock:
                    self._threads.pop(thread, None)

        thread = threading.Thread(target=run, name=f"socklab-{name}", daemon=True)
        with self._open_lock:
            self._threads[thread] = None
        thread.start()
        return thread

    def threads(self) -> list[threading.Thread]:
        """The lab's threads still running (or just ending)."""
        with self._open_lock:
            return list(self._threads)

    def close_all(self, reason: str = explain.STOPPED, timeout: float = 5.0) -> None:
        """Close every socket (each a logged close() by the lab, saying ``reason``),
        end every wait, join every thread."""
        # Under the bus lock: a wait that sees ``stopping`` reports its end only
        # after the lab's closes, which are the cause.
        with self.bus.lock:
            self.stop_reason = reason
            self.stopping = True
            self.floods.flush()
            self._close_open(reason)
        deadline = time.monotonic() + timeout
        for thread in self.threads():
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        # Threads may have accepted or opened a socket while we were closing.
        self._close_open(reason)
        self.floods.flush()
        if self.hosts is not None:
            self.hosts.down()  # nothing left behind: the hosts go with their sockets

    def _close_open(self, reason: str) -> None:
        """Close every open socket, newest first (connections before their listener)."""
        with self._open_lock:
            endpoints = list(self._open)
        for endpoint in reversed(endpoints):
            endpoint.close_by_lab(reason)

    def reset(self, reason: str = explain.RESET) -> None:
        """Close everything, then let the lab be used again."""
        self.close_all(reason)
        self._next_client = 0  # numbering starts again: client[1] after Reset
        self.stopping = False
        with self._open_lock:
            self._threads = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()
