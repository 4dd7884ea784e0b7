"""The socket engine: real calls on real sockets, each reported as an event.

No textual, no rich: the lab screen, the headless commands and the tests are
all views over this package.  Its parts:

- `calls`     how one call is made and reported (wait, done, failure; the order)
- `waiting`   poll-based waiting that a close can always end (`Cancelled`)
- `floods`    coalescing: a flood of data calls counted, reported once per 0.1 s
- `data`      send, sendto, recv, recvfrom (the hot path)
- `endpoint`  socket, setsockopt, bind, listen, connect, shutdown, close
- `server`    accept() and a server's connections
- `lab`       the lifecycle: open sockets, threads, the connection cap, close_all, reset
"""

from __future__ import annotations

from ..events import CLIENT, DONE, SERVER, WAIT
from ..explain import ALL_INTERFACES_WARNING
from .calls import Received, State
from .endpoint import Endpoint
from .floods import COALESCE_AFTER, COALESCE_SECONDS
from .lab import DEFAULT_CONNECT_TIMEOUT, Lab, default_max_connections
from .server import Server
from .waiting import WAIT_SLICE, Cancelled

#: What the lecture's server sends on every connection (the welcome mode).
GREETING = b"Welcome to Socket Programming in Python!"

__all__ = [
    "ALL_INTERFACES_WARNING", "CLIENT", "COALESCE_AFTER", "COALESCE_SECONDS",
    "DEFAULT_CONNECT_TIMEOUT", "DONE", "GREETING", "SERVER", "WAIT", "WAIT_SLICE",
    "Cancelled", "Endpoint", "Lab", "Received", "Server", "State", "default_max_connections",
]
