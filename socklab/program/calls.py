"""A learner's program's calls, as events on the lab's bus.

Both tracers (the in-process one for Python, strace for any other program)
describe each call as a "start" and an "end" message (dicts, the tracer's
JSON).  `ProgramCalls` turns them into the lab's events: the same ops, args,
results, errno names and lessons as the lab's own calls, with ``by:
"program"`` and ``program: NAME``, each socket given its side and number.

Order.  A call another process can observe (connect, send, close...) takes the
bus lock at its start and keeps it until its end is reported, as the engine
does for its own causal calls: nothing the lab does can be numbered between
the call and its event, and the packets it caused are read right after it.
If the call has not ended after `HOLD` seconds (it blocks: a send into a full
buffer), its "wait" is emitted and the lock let go, as the engine does for a
call that would block.  A call that may block (accept, recv) gets its "wait"
once it has not ended after `HOLD`.
"""

from __future__ import annotations

import errno as _errno
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import explain
from ..engine.calls import client_ports
from ..events import CLIENT, DONE, RAW_CAP, SERVER, WAIT, bytes_repr, escape_bytes

if TYPE_CHECKING:
    from ..engine import Lab
    from .states import ProgramStates

#: Payload text a program's call shows (``nbytes`` is always the true count): less
#: than the lab's own calls, as a program's data calls are not counted into floods
#: and escaping each one's text was most of their cost (a 4 MiB echo in 1 KiB calls).
PROGRAM_DATA_CAP = 128
#: How long a call may run before its "wait" is shown (and a causal call's lock let go).
HOLD = 0.02
#: Calls whose effect another process can observe: made under the bus lock.
CAUSAL = frozenset({"connect", "connect_ex", "send", "sendall", "sendto", "shutdown",
                    "close", "listen"})
#: Calls that can block: a "wait" event when they do.
WAITABLE = CAUSAL | {"accept", "recv", "recvfrom"}
#: Calls that say which side a program is: a listener's or a client's.
SERVER_CALLS = frozenset({"listen", "accept"})
CLIENT_CALLS = frozenset({"connect", "connect_ex", "sendto", "send", "sendall"})
#: The socket module's constants, by number, as the lecture writes them.
_CONSTANTS = {
    "family": {int(socket.AF_INET): "AF_INET", int(socket.AF_INET6): "AF_INET6",
               int(socket.AF_UNIX): "AF_UNIX"},
    "type": {int(socket.SOCK_STREAM): "SOCK_STREAM", int(socket.SOCK_DGRAM): "SOCK_DGRAM"},
    "how": {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"},
}


#: setsockopt's levels and options, by number, as a program names them.
_LEVELS = {socket.SOL_SOCKET: "SOL_SOCKET", socket.IPPROTO_TCP: "IPPROTO_TCP",
           socket.IPPROTO_IP: "IPPROTO_IP", socket.IPPROTO_IPV6: "IPPROTO_IPV6"}
_OPTIONS = {(socket.SOL_SOCKET, getattr(socket, name)): name
            for name in ("SO_REUSEADDR", "SO_REUSEPORT", "SO_RCVBUF", "SO_SNDBUF",
                         "SO_KEEPALIVE", "SO_BROADCAST", "SO_LINGER", "SO_RCVTIMEO",
                         "SO_SNDTIMEO") if hasattr(socket, name)}
_OPTIONS.update({(socket.IPPROTO_TCP, socket.TCP_NODELAY): "TCP_NODELAY",
                 (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY): "IPV6_V6ONLY"})


@dataclass
class ProgramSocket:
    """One socket of the program: its side and number once known."""

    family: int = socket.AF_INET
    kind: int = socket.SOCK_STREAM
    side: str | None = None
    conn: int | None = None
    listening: bool = False
    accepted: bool = False
    local: Any = None
    peer: Any = None


@dataclass
class Pending:
    """A call that started and has not ended."""

    start: dict
    sock: ProgramSocket | None
    began: float
    call: int = 0
    held: bool = False


@dataclass
class Summary:
    """What the program did, for the command's last lines and the checker."""

    calls: int = 0
    failed: list[dict] = field(default_factory=list)


def _address(value: Any) -> Any:
    if isinstance(value, list) and len(value) >= 2:
        return (value[0], value[1])
    return value


def _port_of(address: Any) -> int:
    """The port of an (address, port) pair; 0 when there is none."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        return address[1]
    return 0


class ProgramCalls:
    """Turns a program's start/end messages into the lab's events."""

    def __init__(self, lab: Lab, name: str, side: str | None = None,
                 states: ProgramStates | None = None) -> None:
        self.lab = lab
        self.name = name
        self.side = side
        self.states = states
        self.summary = Summary()
        self._socks: dict[tuple[int, int], ProgramSocket] = {}
        self._pending: dict[tuple[int, int], Pending] = {}
        self._numbers = {SERVER: 0, CLIENT: 0}
        #: Events made before the program's side was known: emitted when it is.
        self._early: list[tuple[ProgramSocket | None, dict]] = []
        self._held: tuple[int, int] | None = None

    # -- messages ------------------------------------------------------------

    def handle(self, message: dict) -> None:
        """One start or end message, in the order the program made them."""
        key = (int(message.get("pid", 0)), int(message.get("id", 0)))
        if self._held is not None and not (message.get("k") == "end" and key == self._held):
            self._let_go(announce=True)
        if message.get("k") == "start":
            self._start(key, message)
        else:
            self._end(key, message)

    def tick(self) -> float | None:
        """Show the "wait" of calls running longer than `HOLD`; the seconds
        until the next one is due (None: nothing pending)."""
        now = time.monotonic()
        due: float | None = None
        for key, pending in list(self._pending.items()):
            if pending.call or pending.start.get("op") not in WAITABLE:
                continue
            left = pending.began + HOLD - now
            if left <= 0:
                if self._held == key:
                    self._let_go(announce=True)
                else:
                    self._announce(pending)
            else:
                due = left if due is None else min(due, left)
        return due

    def pending(self) -> list[Pending]:
        """The calls that started and have not ended (under the bus lock)."""
        return list(self._pending.values())

    def finish(self) -> None:
        """The program ended: what was still waiting ends unreported; let go of the lock."""
        self._let_go(announce=False)
        self._decide(CLIENT if self.side is None else self.side)

    # -- start and end ---------------------------------------------------------

    def _start(self, key: tuple[int, int], message: dict) -> None:
        op = message.get("op", "?")
        sock = self._sock(message)
        if sock is not None and "family" in message:
            sock.family, sock.kind = int(message["family"]), int(message["type"])
        if op in SERVER_CALLS or (op in ("recv", "recvfrom") and self.side is None):
            self._decide(SERVER)  # a listener, or a datagram server's first recvfrom
        elif op in CLIENT_CALLS:
            self._decide(CLIENT)
        pending = Pending(message, sock, time.monotonic())
        self._pending[key] = pending
        if op in CAUSAL:
            self.lab.bus.lock.acquire()
            self._held = key
            pending.held = True
            if op in ("connect", "connect_ex") and message.get("args"):
                port = _address(message["args"][0])
                if isinstance(port, tuple) and isinstance(port[1], int):
                    self.lab.will_connect(port[1])

    def _end(self, key: tuple[int, int], message: dict) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        try:
            self._report(pending, message)
        finally:
            if self._held == key:
                self._held = None
                self.lab.bus.lock.release()

    def _let_go(self, announce: bool) -> None:
        if self._held is None:
            return
        pending = self._pending.get(self._held)
        try:
            if announce and pending is not None:
                self._announce(pending)
        finally:
            self._held = None
            self.lab.bus.lock.release()

    def _announce(self, pending: Pending) -> None:
        if pending.call:
            return
        pending.call = self.lab.bus.new_call()
        op, args = self._op_args(pending.start)
        self._emit(pending.sock, op=op, phase=WAIT, args=args, call=pending.call)

    # -- what an end says ----------------------------------------------------------

    def _report(self, pending: Pending, end: dict) -> None:
        start, sock = pending.start, pending.sock
        op, args = self._op_args(start)
        if op in ("socket", "fromfd"):
            sock = self._made(end)
            if op == "socket" and sock is not None:  # socket(): its real family and type
                args = (_CONSTANTS["family"].get(sock.family, sock.family),
                        _CONSTANTS["type"].get(sock.kind, sock.kind))
        self.summary.calls += 1
        fields: dict[str, Any] = {"op": op, "args": args, "call": pending.call}
        if not end.get("ok"):
            self.summary.failed.append({**start, **end})
            self._failed(fields, op, end, sock)
        else:
            self._succeeded(fields, op, start, end, sock)
        if sock is not None and end.get("local") is not None:
            sock.local = _address(end["local"])
        if sock is not None and end.get("peer") is not None:
            sock.peer = _address(end["peer"])
        event_sock = sock
        if op == "accept" and end.get("ok"):
            event_sock = self._accepted(start, end)
        if event_sock is not None:
            self._place(event_sock)
        if op in ("connect", "connect_ex") and end.get("ok") and event_sock is not None:
            # The lab's server can say which client it accepted: = client[n]
            # (noted by the port it connected to, as the lab's own clients are).
            client_ports(self.lab).note(event_sock.local, event_sock.conn,
                                        _port_of(event_sock.peer))
        # Followed before the event: the state it caused is read right after it.
        self._follow(op, end, sock, event_sock)
        self._emit(event_sock, **fields)

    def _failed(self, fields: dict, op: str, end: dict, sock: ProgramSocket | None) -> None:
        number = end.get("errno")
        name = end.get("exc") or "OSError"
        if isinstance(number, int) and number and name not in ("gaierror", "TimeoutError"):
            name = _errno.errorcode.get(number, name)
            if number == _errno.EOPNOTSUPP:
                name = "EOPNOTSUPP"
        lesson = explain.lesson_for(name, op)
        if CHECK_GUARD in (end.get("text") or ""):
            lesson = end.get("text")  # socklab check kept the program on this machine
        if lesson is None:
            lesson = _teaching(name, op, end.get("text") or name)
        fields.update(ok=False, error=name, errno=number if isinstance(number, int) else None,
                      lesson=lesson)

    def _succeeded(self, fields: dict, op: str, start: dict, end: dict,
                   sock: ProgramSocket | None) -> None:
        result = end.get("result")
        data_hex = end.get("data", start.get("data") if op in ("send", "sendall",
                                                                "sendto") else None)
        nbytes = end.get("nbytes", start.get("nbytes"))
        if op in ("bind", "listen") and sock is not None:
            result = end.get("local")  # the bound address: port 0 shows the port chosen
        elif op in ("connect", "connect_ex") and (result in (None, 0)):
            result = end.get("local") if result is None else result
        if op == "send" and isinstance(result, int):
            given, nbytes = nbytes, result
            if isinstance(given, int) and result < given:
                fields["lesson"] = partial_send(result, given)
        fields["result"] = _address(result) if isinstance(result, list) else result
        if nbytes is not None:
            fields["nbytes"] = nbytes
        if isinstance(data_hex, str):
            data = bytes.fromhex(data_hex)
            if op == "send" and isinstance(result, int):
                data = data[:result]
            fields.update(data=escape_bytes(data, PROGRAM_DATA_CAP),
                          bytes_repr=bytes_repr(data, PROGRAM_DATA_CAP), raw=data[:RAW_CAP])
            if op == "recv" and not data and sock is not None and sock.kind == socket.SOCK_STREAM:
                fields["lesson"] = explain.lesson_for("EOF", "recv")

    def _accepted(self, start: dict, end: dict) -> ProgramSocket:
        """The new connection accept() returned: the program's server[n]."""
        listener = self._sock(start)
        new = ProgramSocket(family=listener.family if listener else socket.AF_INET,
                            accepted=True, local=_address(end.get("new_local")),
                            peer=_address(end.get("result")))
        self._socks[(int(end.get("pid", 0)), int(end.get("new_fd", -1)))] = new
        self._place(new)
        return new

    def _follow(self, op: str, end: dict, sock: ProgramSocket | None,
                event_sock: ProgramSocket | None) -> None:
        """The kernel's view follows the program's TCP sockets."""
        states = self.states
        if states is None or not end.get("ok") or event_sock is None \
                or event_sock.kind != socket.SOCK_STREAM or event_sock.side is None:
            return
        if op == "listen":
            states.follow(event_sock.side, event_sock.conn, event_sock.family,
                          event_sock.local, None, self.name)
        elif op in ("connect", "connect_ex", "accept") and event_sock.peer is not None:
            states.follow(event_sock.side, event_sock.conn, event_sock.family,
                          event_sock.local, event_sock.peer, self.name)
        elif op == "close" and sock is not None:
            states.closed(sock.side, sock.conn)  # type: ignore[arg-type]

    # -- sides and numbers ------------------------------------------------------

    def _sock(self, message: dict) -> ProgramSocket | None:
        fd = message.get("fd", -1)
        if not isinstance(fd, int) or fd < 0:
            return None  # socket(): made by its end message (its fd is known then)
        key = (int(message.get("pid", 0)), fd)
        sock = self._socks.get(key)
        if sock is None:
            sock = self._socks[key] = ProgramSocket()
        return sock

    def _decide(self, side: str) -> None:
        """The program's side is known: the events held until now go out."""
        if self.side is None:
            self.side = side
        early, self._early = self._early, []
        for sock, fields in early:
            self._emit(sock, **fields)

    def _place(self, sock: ProgramSocket) -> None:
        """Give ``sock`` its side and number (a listener and a UDP server: none)."""
        if sock.side is not None or self.side is None:
            return
        sock.side = self.side
        if self.side == SERVER and not sock.accepted:
            sock.conn = None
        else:
            self._numbers[sock.side] += 1
            sock.conn = self._numbers[sock.side]

    def _emit(self, sock: ProgramSocket | None, **fields: Any) -> None:
        if self.side is None:
            self._early.append((sock, fields))
            return
        if sock is not None:
            if sock.listening is False and fields.get("op") == "listen":
                sock.listening = True
            self._place(sock)
            side, conn = sock.side, sock.conn
        else:
            side, conn = self.side, None
        if fields.get("op") == "accept" and fields.get("phase", DONE) == DONE \
                and fields.get("ok", True):
            fields["peer_conn"] = client_ports(self.lab).client_at(
                fields.get("result"), _port_of(sock.local if sock is not None else None))
        self.lab.bus.emit(side=side, conn=conn, by="program", program=self.name, **fields)

    def _made(self, end: dict) -> ProgramSocket | None:
        """socket()'s (or fromfd()'s) end names its descriptor: a new socket."""
        fd = end.get("fd")
        if not end.get("ok") or not isinstance(fd, int):
            return None
        sock = self._socks[(int(end.get("pid", 0)), fd)] = ProgramSocket()
        sock.family = int(end.get("family", socket.AF_INET))
        sock.kind = int(end.get("type", socket.SOCK_STREAM))
        return sock

    def _op_args(self, start: dict) -> tuple[str, tuple]:
        op = start.get("op", "?")
        args = [_address(a) for a in start.get("args", [])]
        if op == "socket":
            names = ("family", "type")
            args = [_CONSTANTS[n].get(a, a) for n, a in zip(names, args, strict=False)]
        elif op == "shutdown" and args:
            args = [_CONSTANTS["how"].get(args[0], args[0])]
        elif op == "setsockopt" and len(args) >= 2:
            level, option = args[0], args[1]
            args = [_LEVELS.get(level, level), _OPTIONS.get((level, option), option), *args[2:]]
        return op, tuple(args)


#: The tracer's words when socklab check refuses a connection off this machine.
CHECK_GUARD = "socklab check keeps every connection on this machine"

#: How the lesson of a send() that sent less than it was given begins.
PARTIAL_SEND = "send() sent only"


def partial_send(sent: int, given: int) -> str:
    """A send() that returned before sending everything: the rest is the program's job."""
    return (f"{PARTIAL_SEND} {sent} of the {given} bytes it was given: send() may send "
            "less (the peer reads slowly, a signal came, a timeout); the rest is sent "
            "only if the program calls send() again — use sendall(), or loop")


def _teaching(name: str, op: str, text: str) -> str:
    """What an error with no lesson of its own means: the learner's classic mistakes."""
    if name == "TypeError" and op in ("send", "sendall", "sendto"):
        return (f"{text}: a socket sends bytes, not str — encode the text first "
                "(b'...' or text.encode())")
    return f"the call failed: {text}"
