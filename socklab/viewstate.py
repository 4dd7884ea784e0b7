"""What the panes show, derived from events alone.

The screen never reads the engine's objects (engine threads write them while
the UI thread would read them).  Everything a pane shows — each socket with
its addresses, bytes in and out and state, what to press next, who sent the
last datagram, which port the server got — is what the log has already said,
folded into this small model.  It is fed the bridge's batches, in order, on
the UI thread.

UI-free (no textual, no rich), so it is tested with real events from a real Lab.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import CLIENT, DONE, SERVER, WAIT, Event, State
from .inputs import ALL_INTERFACES

#: The key of the server's own socket (its connections are keyed by number).
LISTENER = "listener"
_WILDCARDS = frozenset(ALL_INTERFACES.values())


@dataclass
class SocketView:
    """One socket as the log has described it."""

    key: str
    stream: bool = True
    local: tuple | None = None
    peer: tuple | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    state: State = State.NEW
    listening: bool = False
    #: Calls waiting on this socket right now: call id -> op.
    waiting: dict[int, str] = field(default_factory=dict)
    #: The kernel's own name for its TCP state ("ESTABLISHED", "TIME_WAIT"...), once
    #: a state event said it; a listener's accept queue and backlog limit too.
    kernel: str | None = None
    queue: int | None = None
    backlog: int | None = None
    #: Two hosts, a cable with conditions: TCP_INFO's latest numbers for this connection
    #: (rtt_ms, cwnd, retransmitted, unacked: a ``tcp_info`` event's result).
    tcp: dict[str, Any] | None = None
    #: Made by a learner's program (``by: "program"``): the kernel closes it when
    #: the program ends, whatever the program called.
    program: bool = False

    @property
    def is_open(self) -> bool:
        return self.state not in (State.NEW, State.CLOSED)


@dataclass
class SideView:
    """One pane's sockets, in the order they appeared."""

    sockets: dict[str, SocketView] = field(default_factory=dict)
    #: The socket that appeared last (a pane selects a new connection or client).
    newest: str | None = None
    #: Which socket of the other side each of this side's sockets is connected to
    #: (its number), once an accept said so: ``server[1]`` ⇄ ``client[3]``.
    pairs: dict[str, int] = field(default_factory=dict)
    #: Who sent the last datagram this side received: where its sendto() replies.
    last_sender: tuple[str, int] | None = None
    #: Bumped on every change, so a pane redraws only when something changed.
    version: int = 0


@dataclass
class BoundPort:
    """The port the server's socket got, and the port it asked for."""

    port: int
    requested: int


class ViewState:
    """Both sides of the lab, folded from events."""

    def __init__(self) -> None:
        self.sides = {SERVER: SideView(), CLIENT: SideView()}
        #: The server's bound port, once a bind (or an implicit bind) said so.
        self.bound: BoundPort | None = None
        self._waits: dict[int, SocketView] = {}

    # -- feeding --------------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> set[str]:
        """Fold a batch of events in; returns the sides that changed."""
        changed: set[str] = set()
        for event in events:
            if event.side in self.sides and self._apply(event):
                changed.add(event.side)
                if event.op == "accept" and event.peer_conn is not None:
                    changed.add(CLIENT)  # the client's row names its connection
        for side in changed:
            self.sides[side].version += 1
        return changed

    def _socket(self, event: Event, create: bool = False) -> SocketView | None:
        side = self.sides[event.side]
        key = LISTENER if event.side == SERVER and event.conn is None else str(event.conn)
        view = side.sockets.get(key)
        if view is None and create:
            view = side.sockets[key] = SocketView(key)
            side.newest = key
        return view

    def _apply(self, event: Event) -> bool:
        op = event.op
        if event.phase == WAIT:
            view = self._socket(event)
            if view is None:
                return False
            view.waiting[event.call] = op
            self._waits[event.call] = view
            return True
        if event.phase != DONE:
            return False
        waited = self._waits.pop(event.call, None) if event.call else None
        if waited is not None:
            waited.waiting.pop(event.call, None)
        if not event.ok:
            return waited is not None
        own = _OWN_FOLD.get(op)
        if own is not None:
            return own(self, event)
        view = self._socket(event, create=op == "socket")
        if view is None or not self._call_done(event, view):
            return waited is not None
        if op == "socket":
            view.program = event.by == "program"
        return True

    def _tcp_info(self, event: Event) -> bool:
        view = self._socket(event)
        if view is not None and isinstance(event.result, dict):
            view.tcp = dict(event.result)
        return view is not None

    def _program_ended(self, event: Event) -> bool:
        """A learner's program ended: its process's sockets are closed (by the kernel)."""
        if event.by != "program":
            return False
        changed = False
        for view in self.sides[event.side].sockets.values():
            if view.program and view.is_open:
                view.state, view.listening = State.CLOSED, False
                for call in view.waiting:
                    self._waits.pop(call, None)
                view.waiting.clear()
                changed = True
        return changed

    def _call_done(self, event: Event, view: SocketView) -> bool:
        """A call that succeeded on ``view``, folded in; False if it changes nothing."""
        op = event.op
        if op == "socket":
            view.stream = len(event.args) < 2 or event.args[1] != "SOCK_DGRAM"
            view.state, view.local, view.peer, view.listening = State.OPEN, None, None, False
            view.kernel = view.queue = view.backlog = None
        elif op in ("bind", "listen"):
            view.local = _address(event.result)
            view.listening = view.listening or op == "listen"
            self._bound(event, view)
        elif op == "connect":
            view.local = _address(event.result)
            view.peer = _address(event.args[0]) if event.args else None
            view.state = State.CONNECTED
        elif op in ("send", "sendto"):
            view.bytes_out += event.nbytes or 0
        elif op in ("recv", "recvfrom"):
            self._received(event, view)
        elif op in ("close", "refuse"):
            view.state, view.listening = State.CLOSED, False
            view.waiting.clear()
        else:
            return False
        return True

    def _accepted(self, event: Event) -> bool:
        view = self._socket(event)
        if view is not None:
            self.sides[SERVER].sockets.pop(view.key)  # a number used again: a new connection
        view = self._socket(event, create=True)
        assert view is not None
        listener = self.sides[SERVER].sockets.get(LISTENER)
        local = listener.local if listener is not None else None
        # The connection's own address is the listener's, unless the listener
        # took every interface: then the log has not said which one was used.
        view.local = local if local and local[0] not in _WILDCARDS else None
        view.peer = _address(event.result)
        view.state = State.CONNECTED
        view.program = event.by == "program"
        if event.peer_conn is not None:  # the lab's own client: each names the other
            self.sides[SERVER].pairs[view.key] = event.peer_conn
            self.sides[CLIENT].pairs[str(event.peer_conn)] = int(view.key)
        return True

    def _kernel_state(self, event: Event) -> bool:
        """What the kernel says of a socket: its state, a listener's queue."""
        view = self._socket(event)
        result = event.result if isinstance(event.result, dict) else {}
        if view is None or "state" not in result:
            return False
        view.kernel = str(result["state"])
        if "queue" in result:
            view.queue, view.backlog = int(result["queue"]), int(result.get("backlog", 0))
        return True

    def _received(self, event: Event, view: SocketView) -> None:
        view.bytes_in += event.nbytes or 0
        if event.count != 1:
            return
        if event.op == "recvfrom":
            sender = _address(event.result)
            if sender is not None:
                self.sides[event.side].last_sender = sender  # type: ignore[assignment]
        elif event.nbytes == 0 and view.stream:
            view.state = State.PEER_CLOSED  # recv returned b'': the peer closed its side

    def _bound(self, event: Event, view: SocketView) -> None:
        if event.side != SERVER or view.key != LISTENER or view.local is None:
            return
        port = int(view.local[1])
        if self.bound is not None and self.bound.port == port:
            return
        requested = port
        if event.op == "bind" and event.args and isinstance(event.args[0], (tuple, list)):
            requested = int(event.args[0][1])
        self.bound = BoundPort(port, requested)

    def forget_closed(self) -> None:
        """After a Reset: drop the closed sockets from both sides (the server's own stays,
        unless a learner's program made it), and the pairs they were in (numbering
        starts again)."""
        for name, side in self.sides.items():
            kept = {key: view for key, view in side.sockets.items()
                    if view.is_open
                    or (name == SERVER and key == LISTENER and not view.program)}
            pairs = {key: other for key, other in side.pairs.items() if key in kept}
            if kept.keys() != side.sockets.keys() or pairs != side.pairs:
                side.sockets, side.pairs = kept, pairs
                side.version += 1

    def forget_side(self, name: str) -> None:
        """A pane switched to the learner's program: every closed socket of that side
        (the server's own too) leaves its list, and the pairs it was in."""
        side = self.sides[name]
        gone = {key for key, view in side.sockets.items() if not view.is_open}
        if not gone:
            return
        side.sockets = {k: v for k, v in side.sockets.items() if k not in gone}
        side.pairs = {k: v for k, v in side.pairs.items() if k not in gone}
        if side.newest in gone:
            side.newest = None
        side.version += 1

    # -- what to press next ----------------------------------------------------------

    def server_next(self, selected: str | None, stream: bool) -> set[str]:
        """The server's natural next calls, with ``selected`` chosen in its list."""
        side = self.sides[SERVER]
        listener = side.sockets.get(LISTENER)
        if listener is None or not listener.is_open:
            return {"run", "socket"}
        if listener.local is None:
            return {"bind"}
        if stream and not listener.listening:
            return {"listen"}
        chosen = side.sockets.get(selected) if selected and selected != LISTENER else None
        if chosen is not None:
            if chosen.state == State.CONNECTED:
                return {"send", "recv"}
            return {"close"} if chosen.state == State.PEER_CLOSED else set()
        if listener.waiting:
            return set()  # an accept (or recvfrom) already waits: a client is next
        return {"accept" if stream else "recv"}

    def client_next(self, selected: str | None, stream: bool) -> set[str]:
        """The client's natural next calls, for the chosen client (else the newest)."""
        side = self.sides[CLIENT]
        client = side.sockets.get(selected or "") or side.sockets.get(side.newest or "")
        if client is None or not client.is_open:
            return {"run", "socket"}
        if client.state == State.PEER_CLOSED:
            return {"close"}
        if stream and client.peer is None:
            return {"connect"}
        return {"send", "recv"}


#: The ops folded by a method of their own (not a call on one socket).
_OWN_FOLD = {"state": ViewState._kernel_state, "tcp_info": ViewState._tcp_info,
             "accept": ViewState._accepted, "exit": ViewState._program_ended}


def _address(value: Any) -> tuple | None:
    """(host, port) from an event's result or argument, or None."""
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        return (value[0], value[1])
    return None
