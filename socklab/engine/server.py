"""The server side: a listening (or datagram) socket, accept(), and its connections."""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ..events import SERVER, Event
from .calls import State, address
from .endpoint import Endpoint

if TYPE_CHECKING:
    from .lab import Lab


#: Closed connections a server still lists (the newest), so a learner can still
#: pick one and see what a call on a closed socket says; older ones are forgotten
#: (the log keeps their story), so a long-running server does not grow.
KEEP_CLOSED = 64


class Server(Endpoint):
    """The server side: a listening (or datagram) socket and its connections.

    ``connections`` holds the open ones and the `KEEP_CLOSED` newest closed;
    how many are open is counted as they open and close, so accept() does the
    same work whether a thousand or none came before.
    """

    def __init__(self, lab: Lab, family: int = socket.AF_INET,
                 kind: int = socket.SOCK_STREAM) -> None:
        super().__init__(lab, SERVER, None, family, kind)
        self.connections: dict[int, Endpoint] = {}
        self._next_conn = 0
        self._open_count = 0
        self._closed: deque[int] = deque()
        self._count_lock = threading.Lock()

    def accept(self, timeout: float | None = None) -> tuple[Endpoint | None, Event]:
        """accept(): the next connection, as a new endpoint numbered server[k].

        Past the lab's connection limit the connection is closed at once, saying why.
        """
        holder: list[Endpoint] = []

        def attempt() -> Any:
            conn_sock, addr = self._need_socket().accept()
            self._next_conn += 1
            endpoint = Endpoint(self.lab, SERVER, self._next_conn, self.family,
                                self.kind, conn_sock)
            endpoint.peer = address(addr)
            endpoint.local = address(conn_sock.getsockname())
            endpoint.state = State.CONNECTED
            endpoint.listener = self
            endpoint.unannounced = True  # until its accept() event (Calls._done)
            self.announcing = endpoint
            with self._count_lock:
                self.connections[self._next_conn] = endpoint
                self._open_count += 1
            self.lab.opened(endpoint)
            holder.append(endpoint)
            return addr  # as Python returns it: 4 values for IPv6

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
        """Connections accepted and not yet closed (counted, not searched)."""
        return self._open_count

    def connection_closed(self, endpoint: Endpoint) -> None:
        """One of this server's connections was closed (the lab tells us)."""
        with self._count_lock:
            self._open_count -= 1
            self._closed.append(endpoint.conn)  # type: ignore[arg-type]
            while len(self._closed) > KEEP_CLOSED:
                number = self._closed.popleft()
                old = self.connections.get(number)
                if old is not None and not old.is_open:
                    del self.connections[number]

    def forget_closed(self) -> None:
        """Drop closed connections from the list (they keep their numbers)."""
        with self._count_lock:
            for number, endpoint in list(self.connections.items()):
                if endpoint.state == State.CLOSED:
                    del self.connections[number]
            self._closed.clear()
