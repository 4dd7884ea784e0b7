"""The Wire view's model: the textbooks' two-column time diagram of one connection.

Client on the left, server on the right, time going down; each call is written
on its own side, each segment is an arrow between the two lifelines, in the
order the log numbered them (Wireshark's flow graph, in a terminal).  UI-free:
it gives rows of ``(text, style-name)`` parts for a width, and every width down
to 1 gives rows (the view crops them, never fails).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..events import CLIENT, DONE, SERVER, Event
from ..logformat import format_result
from .text import WIRE_OPS, segment_text

Parts = list[tuple[str, str]]
#: Events kept for the diagram (older ones scroll out of it).
MAX_EVENTS = 5_000
#: Connections kept selectable.
MAX_CONNECTIONS = 256
_LIFELINE = "│"


@dataclass
class Connection:
    """One connection as the wire saw it: both ends' addresses and lab numbers."""

    client: tuple[str, int]
    server: tuple[str, int]
    client_conn: int | None = None
    server_conn: int | None = None
    #: Two-hosts mode: the host each end's segments were sent from ("A", "B").
    hosts: dict[str, str] = field(default_factory=dict)

    def title(self) -> tuple[str, str]:
        def end(side: str, conn: int | None, addr: tuple[str, int]) -> str:
            who = side if conn is None else f"{side}[{conn}]"
            host = self.hosts.get(side)
            return f"{who}{'' if host is None else '@' + host} {addr[0]}:{addr[1]}"
        return (end(CLIENT, self.client_conn, self.client),
                end(SERVER, self.server_conn, self.server))


@dataclass
class WireDiagram:
    """The lab's connections seen on the wire, and the diagram of the chosen one."""

    events: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    connections: dict[frozenset, Connection] = field(default_factory=dict)
    #: The chosen connection; None follows the newest.
    chosen: frozenset | None = None

    def add(self, events: Iterable[Event]) -> bool:
        """Take a batch of the lab's events; True if the diagram may have changed."""
        changed = False
        for event in events:
            if event.op == "packet" and isinstance(event.result, dict):
                self._learn(event)
            elif event.conn is None or event.op in WIRE_OPS or event.phase != DONE \
                    or event.op == "tcp_info":  # numbers, not a moment on the time line
                continue
            self.events.append(event)
            changed = True
        return changed

    def _learn(self, event: Event) -> None:
        src, dst = tuple(event.result["src"]), tuple(event.result["dst"])
        key = frozenset((src, dst))
        connection = self.connections.get(key)
        if connection is None:
            client, server = (src, dst) if event.side == CLIENT else (dst, src)
            if len(self.connections) >= MAX_CONNECTIONS:
                del self.connections[next(iter(self.connections))]
            connection = self.connections[key] = Connection(client, server)  # type: ignore[arg-type]
        if event.host is not None:  # who sent it: B's own reset is server@B, not A
            connection.hosts[event.side] = event.host
        if event.conn is not None:
            if event.side == CLIENT:
                connection.client_conn = event.conn
            else:
                connection.server_conn = event.conn

    # -- choosing ---------------------------------------------------------------

    @property
    def current(self) -> tuple[frozenset, Connection] | None:
        if not self.connections:
            return None
        key = self.chosen if self.chosen in self.connections else next(reversed(self.connections))
        return key, self.connections[key]

    def choose(self, step: int) -> None:
        """The previous (-1) or next (+1) connection; past the newest: follow the newest."""
        keys = list(self.connections)
        if not keys:
            return
        current = self.current
        index = keys.index(current[0]) if current else len(keys) - 1
        index += step
        self.chosen = None if index >= len(keys) - 1 and step > 0 else keys[max(0, index)]

    # -- drawing ----------------------------------------------------------------

    def rows(self, width: int) -> list[Parts]:
        """The diagram for ``width`` columns: a header, then one row per call or segment."""
        current = self.current
        if current is None:
            return [[("No TCP segments captured yet: run the server and the client "
                      "(socklab needs CAP_NET_RAW to capture).", "dim")]]
        key, connection = current
        keys = list(self.connections)
        follow = "following the newest" if self.chosen is None else "[ ] other connections"
        label = max(0, min(18, (width - 12) // 4))
        middle = max(0, width - 2 * label - 2)
        left, right = connection.title()
        rows: list[Parts] = [
            [(f"connection {keys.index(key) + 1} of {len(keys)} · {follow}", "dim")],
            [(left.ljust(max(len(left) + 1, width - len(right))), "client"), (right, "server")],
        ]
        for event in self._story(key, connection):
            rows.append(_crop(self._row(event, label, middle), width))
        return rows

    def _story(self, key: frozenset, connection: Connection) -> list[Event]:
        """This connection's calls (both sides) and segments, in log order."""
        ends = {(CLIENT, connection.client_conn), (SERVER, connection.server_conn)}
        story = []
        for event in self.events:
            if event.op == "packet":
                if frozenset((tuple(event.result["src"]), tuple(event.result["dst"]))) == key:
                    story.append(event)
            elif (event.side, event.conn) in ends:
                story.append(event)
        return story

    def _row(self, event: Event, label: int, middle: int) -> Parts:
        style = "client" if event.side == CLIENT else "server"
        if event.op == "state":
            style = "dim"  # what the kernel says, quieter than the calls
        if event.op != "packet":
            call = _fit(short_call(event), label - 1)
            if event.side == CLIENT:
                return [(f"{call} ".rjust(label), style), (_LIFELINE, "dim"),
                        (" " * middle, "dim"), (_LIFELINE, "dim")]
            return [(" " * label, "dim"), (_LIFELINE, "dim"), (" " * middle, "dim"),
                    (_LIFELINE, "dim"), (f" {call}", style)]
        return [(" " * label, "dim"), (_LIFELINE, "dim"),
                (arrow(segment_text(event.result), middle, event.side == CLIENT), style),
                (_LIFELINE, "dim")]


def short_call(event: Event) -> str:
    """A call as the diagram's side column has room for: ``send() → 40``, ``close()``."""
    if event.op == "state" and isinstance(event.result, dict):
        return str(event.result.get("state", "?"))  # the kernel's name: ESTABLISHED
    if not event.ok or event.op in ("send", "recv", "sendto", "recvfrom"):
        return f"{event.op}() → {format_result(event)}"
    return f"{event.op}()"


def _crop(parts: Parts, width: int) -> Parts:
    """A diagram row cut to ``width`` columns (its text is all one cell a character)."""
    out: Parts = []
    for text, style in parts:
        if width <= 0:
            break
        out.append((text[:width], style))
        width -= len(out[-1][0])
    return out


def _fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns (cut with … when it does not fit)."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…" if width > 0 else ""


def arrow(label: str, width: int, rightwards: bool) -> str:
    """``──── SYN seq=0 ────▶`` in exactly ``width`` columns (or fewer, if tiny)."""
    if width < 3:
        return ("▶" if rightwards else "◀")[:width]
    text = _fit(f" {label} ", width - 3)
    rest = width - 3 - len(text)
    if rightwards:
        return "──" + text + "─" * rest + "▶"
    return "◀" + "─" * rest + text + "──"
