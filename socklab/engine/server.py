"""The server side: a listening (or datagram) socket, accept(), and its connections."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ..events import SERVER, Event
from .calls import State, address
from .endpoint import Endpoint

if TYPE_CHECKING:
    from .lab import Lab


class Server(Endpoint):
    """The server side: a listening (or datagram) socket and its connections."""

    def __init__(self, lab: Lab, family: int = socket.AF_INET,
                 kind: int = socket.SOCK_STREAM) -> None:
        super().__init__(lab, SERVER, None, family, kind)
        self.connections: dict[int, Endpoint] = {}
        self._next_conn = 0

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
            self.connections[self._next_conn] = endpoint
            self.lab.opened(endpoint)
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
