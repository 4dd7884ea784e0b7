"""What the log says, folded into the sockets it names.

A socket in the log is ``(side, conn)``; the same pair may name several sockets
over a session (socket() again after a close, a new server's connections
numbered from 1 after Reset), so the oracle follows *incarnations*: one from the
call that made it (socket(), or the accept() that returned it) to the next.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

CALL_OPS_SKIP = ("state", "packet", "predict", "cable", "note", "say", "case",
                 "gethostname", "gethostbyname", "getaddrinfo")

#: Lines about no socket (a learner's prediction, the cable's conditions): logged
#: under a side, but never the start of a socket the log names.
NO_SOCKET_OPS = ("predict", "cable")

Addr = tuple[str, int]


def addr(value: Any) -> Addr | None:
    """An address of the log's (``["::1", 5000]``, maybe with flowinfo, scope id)."""
    if isinstance(value, (list, tuple)) and len(value) >= 2 and isinstance(value[1], int):
        host = value[0]
        try:
            host = str(ipaddress.ip_address(host.split("%")[0]))
        except (ValueError, AttributeError):
            return None
        return host, value[1]
    return None


def is_call(event: dict) -> bool:
    return event.get("op") not in CALL_OPS_SKIP and event.get("side") in ("server", "client")


@dataclass
class Incarnation:
    """One socket of the log: where it starts and ends, and its two addresses."""

    side: str
    conn: int | None
    opened: int                      # seq of the socket()/accept() that made it
    kind: str = "SOCK_STREAM"
    closed: int | None = None        # seq of its close()
    listened: int | None = None      # seq of a successful listen()
    local: Addr | None = None
    peer: Addr | None = None
    host: str | None = None          # the host its events name
    events: list[dict] = field(default_factory=list)
    listener: Incarnation | None = None
    #: Lines about this socket logged before the call that made it (a lie of order).
    early: list[dict] = field(default_factory=list)
    #: Made by a line about a socket no call made.
    phantom: bool = False

    @property
    def name(self) -> str:
        conn = "" if self.conn is None else f"[{self.conn}]"
        return f"{self.side}{conn}@{self.opened}"

    @property
    def tcp(self) -> bool:
        return self.kind == "SOCK_STREAM"

    def states(self) -> list[dict]:
        return [e for e in self.events if e.get("op") == "state"]


def load(text: str) -> list[dict]:
    """The JSON Lines of a log (other lines, such as a human note, are left out)."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


class Model:
    """Every incarnation of the log, and which one each event belongs to."""

    def __init__(self, events: list[dict]) -> None:
        self.events = sorted(events, key=lambda e: e["seq"])
        self.incarnations: list[Incarnation] = []
        self.of: dict[int, Incarnation] = {}          # seq -> incarnation
        current: dict[tuple, list[Incarnation]] = {}
        for event in self.events:
            if event.get("side") not in ("server", "client") \
                    or event.get("op") in NO_SOCKET_OPS:
                continue
            key = (event.get("side"), event.get("conn"))
            inc = self._current(current.get(key))
            if self._starts(event):
                inc = self._new(event, key, inc, current)
            elif inc is None:  # a line about a socket no call made (yet)
                inc = Incarnation(key[0], key[1], event["seq"], phantom=True)
                current[key] = [inc]
                self.incarnations.append(inc)
            inc.events.append(event)
            self.of[event["seq"]] = inc
            if event.get("host") is not None and inc.host is None:
                inc.host = event["host"]
            self._note(inc, event)

    @staticmethod
    def _current(stack: list[Incarnation] | None) -> Incarnation | None:
        """The socket a line about (side, conn) means: the newest one still open (two
        servers can be open at once, both unnumbered), else the newest."""
        if not stack:
            return None
        return next((inc for inc in reversed(stack) if inc.closed is None), stack[-1])

    def _new(self, event: dict, key: tuple, inc: Incarnation | None,
             current: dict[tuple, list[Incarnation]]) -> Incarnation:
        new = Incarnation(key[0], key[1], event["seq"])
        if event["op"] == "socket" and len(event.get("args") or ()) > 1:
            new.kind = event["args"][1]
        if event["op"] == "accept":
            new.listener = self._current(current.get(("server", None)))
            new.peer = addr(event.get("result"))
            if new.listener is not None:
                new.local = new.listener.local
                new.kind = new.listener.kind
        if event["op"] == "accept" and inc is not None and inc.phantom \
                and not any(is_call(e) for e in inc.events):
            # lines about it before the call that made it: adopted, and told
            new.early = inc.events
            new.events = list(inc.events)
            for e in inc.events:
                self.of[e["seq"]] = new
            self.incarnations.remove(inc)
            current[key].remove(inc)
        current.setdefault(key, []).append(new)
        self.incarnations.append(new)
        return new

    @staticmethod
    def _starts(event: dict) -> bool:
        op, done = event.get("op"), event.get("phase") == "done"
        if op == "socket" and done and event.get("ok"):
            return True
        return op == "accept" and done and event.get("ok") and event.get("conn") is not None

    @staticmethod
    def _note(inc: Incarnation, event: dict) -> None:
        op, ok, done = event.get("op"), event.get("ok"), event.get("phase") == "done"
        if op == "connect" and inc.peer is None:  # where it goes, even if it never gets there
            inc.peer = addr((event.get("args") or [None])[0])
        if not (done and ok):
            return
        result = addr(event.get("result"))
        if op == "bind" and result:
            inc.local = result
        elif op == "listen":
            inc.listened = inc.listened or event["seq"]
            inc.local = result or inc.local
        elif op == "connect":
            inc.peer = addr((event.get("args") or [None])[0])
            local = result or addr(event.get("local"))
            inc.local = local or inc.local
        elif op == "close" and inc.closed is None:
            inc.closed = event["seq"]

    def at(self, seq: int) -> Incarnation | None:
        return self.of.get(seq)
