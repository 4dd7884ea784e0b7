"""What a pane asks the lab to do: a call, the pane's settings, which socket.

The screen's panes build a `Request` from their fields and hand it to the
session (`socklab.session.LabSession.request`), which makes the real calls on
the lab's threads.  This module is the vocabulary the two share, so a pane
never needs the engine: UI-free, and it holds no socket.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from .engine import GREETING
from .modes import MODES, STREAM_ONLY

__all__ = ["GREETING", "MODES", "STREAM_ONLY", "Request", "Settings", "SERVER_CALLS",
           "CLIENT_CALLS", "CLIENT_KEY_CALLS", "BULK_BYTES"]

#: The calls each pane can ask for ("run" is the whole usual sequence).
SERVER_CALLS = ("run", "socket", "bind", "listen", "accept", "send", "recv", "close")
CLIENT_CALLS = ("run", "socket", "connect", "connect-n", "send", "recv", "shutdown", "close")
#: The client's calls that have a key and a palette command, not a button (the pane
#: at 80x24 has no room for another): "send-bulk" is one send() of BULK_BYTES.
CLIENT_KEY_CALLS = ("send-bulk",)
#: What the bulk send sends: more than both hosts' socket buffers hold at first, so
#: a receiver that does not read closes its window and the send() waits (issue 26).
BULK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """A pane's fields, checked and converted (the real port, not a displayed one)."""

    family: int
    kind: int
    host: str
    port: int
    message: bytes
    backlog: int = 5
    mode: str = "welcome"
    #: How many clients "connect ×N" opens.
    count: int = 1
    #: recv(n) / recvfrom(n): the buffer size (message boundaries, issue 10).
    recv_size: int = 1024
    #: setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) after socket() (the server).
    reuseaddr: bool = False
    #: settimeout(t) after socket(); 0.0 is setblocking(False); None: no call.
    timeout: float | None = None

    @property
    def stream(self) -> bool:
        return self.kind == socket.SOCK_STREAM


@dataclass(frozen=True)
class Request:
    """One press of a pane's button."""

    side: str
    call: str
    settings: Settings
    #: The socket it acts on: a connection's or client's number, or None for
    #: the server's own socket / the client made last.
    target: int | None = None
    #: Where sendto() goes on the server: the last datagram's sender.
    reply_to: tuple[str, int] | None = None
