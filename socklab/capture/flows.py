"""Which lab connection a segment belongs to, and its numbers as Wireshark shows them.

A TCP connection is its four values (both addresses and ports).  The lab's own
events say which four belong to which connection: ``connect`` (the local
address it returns and the address it connected to), ``listen`` (the
listener's address) and ``accept`` (the peer it returns).  Tuples are kept
after the sockets close, so the FIN exchange, TIME_WAIT's last ACK and a RST
still find their connection; segments of sockets the lab did not make match
nothing and are ignored.

Sequence numbers are shown relative to each direction's first SYN (or its
first segment seen), as Wireshark and the textbooks do: ``SYN seq=0``,
``SYN/ACK seq=0 ack=1``.  UI-free; fed under the bus lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events import CLIENT, DONE, SERVER, Event
from .segments import MAX_PORTS, Segment

Address = tuple[str, int]
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
#: Connections remembered (oldest forgotten first): a bound on memory, far above a lesson.
MAX_FLOWS = 4096


def _addr(value: Any) -> Address | None:
    if isinstance(value, (tuple, list)) and len(value) >= 2 and isinstance(value[1], int):
        return (str(value[0]), value[1])
    return None


class Flow:
    """One connection's two ends: who each is in the lab, and their first sequence numbers."""

    __slots__ = ("ends", "gone", "isn", "opened")

    def __init__(self) -> None:
        #: address -> (side, conn); an end outside the lab is absent.
        self.ends: dict[Address, tuple[str, int | None]] = {}
        #: address -> the sequence number its relative numbers count from.
        self.isn: dict[Address, int] = {}
        #: Ends seen sending a SYN: a socket was there to open (or answer) the connection.
        self.opened: set[Address] = set()
        #: Ends of a connection never accepted whose listener the lab closed: no
        #: socket of the lab was ever theirs, and now no listener is either.
        self.gone: set[Address] = set()

    def by_kernel(self, segment: Segment) -> bool:
        """A segment no socket sent: a RST from an end where no socket is (not the
        lab's, and it never sent a SYN: a connect to a closed port, a segment to a
        connection that is gone), or anything from a connection never accepted
        once its listener is closed (the kernel's last ACK or RST of it)."""
        src = segment.src
        if src in self.gone:
            return True
        return "RST" in segment.flags and src not in self.ends and src not in self.opened

    def sender(self, src: Address, dst: Address) -> tuple[str, int | None]:
        """The sending end's side and connection (an outside end: the other side)."""
        end = self.ends.get(src)
        if end is not None:
            return end
        other = self.ends.get(dst)
        return (SERVER if other is None or other[0] == CLIENT else CLIENT), None

    def relative(self, segment: Segment) -> tuple[int, int]:
        """(seq, ack) relative to each direction's first sequence number."""
        src, dst = segment.src, segment.dst
        base = self.isn.get(src)
        if base is None:
            base = self.isn[src] = segment.seq
        seq = (segment.seq - base) & 0xFFFFFFFF
        if "ACK" not in segment.flags:
            return seq, 0
        peer = self.isn.get(dst)
        if peer is None:  # the peer's SYN was not seen: count from what it acks
            peer = self.isn[dst] = (segment.ack - 1) & 0xFFFFFFFF
        return seq, (segment.ack - peer) & 0xFFFFFFFF


class Flows:
    """The lab's connections by their four values, learnt from its events."""

    def __init__(self, client_from: Callable[[Address, int], int | None] | None = None) -> None:
        #: The lab client whose connect left from an address to a port (the
        #: engine notes it as the connect is made, before its SYN is read).
        self._client_from = client_from or (lambda _local, _port: None)
        self._flows: dict[frozenset[Address], Flow] = {}
        #: Listening addresses -> True (a SYN to one of them starts a lab flow).
        self._listeners: dict[Address, None] = {}
        #: Connects still waiting: (client conn, the address it connects to).
        self._connecting: list[tuple[int, Address]] = []
        #: The lab's listening ports and the ports its clients connect to (one end
        #: of every lab connection: what the kernel filter keeps), oldest first.
        self.ports: dict[int, None] = {}
        #: Datagram sockets of the lab: which are (by side, conn), and their
        #: addresses (bound, connected, or seen sending right after a sendto).
        self._dgram: set[tuple[str, int | None]] = set()
        self._datagram_ends: dict[Address, tuple[str, int | None]] = {}
        #: The last sendto a lab datagram socket made: (side, conn, destination).
        self._sent: tuple[str, int | None, Address] | None = None

    def watch_port(self, port: int) -> None:
        """Keep segments to or from ``port`` (the newest `MAX_PORTS` are kept)."""
        if port and port not in self.ports:
            self.ports[port] = None
            if len(self.ports) > MAX_PORTS:
                del self.ports[next(iter(self.ports))]

    # -- learning from events -------------------------------------------------

    def learn(self, event: Event) -> None:
        """A sink: note the addresses a connect, listen or accept reveals."""
        op = event.op
        if op in ("socket", "bind", "sendto", "connect") and self._learn_datagram(event):
            return
        if op == "connect":
            self._learn_connect(event)
        elif op in ("bind", "listen") and event.ok and (op == "listen" or event.phase == DONE):
            local = _addr(event.result)
            if local is not None:
                if op == "listen":
                    self._listeners[local] = None
                self.watch_port(local[1])  # a connect to a bound port is refused: that RST too
        elif op == "close" and event.side == SERVER and event.conn is None \
                and event.ok and event.phase == DONE:
            self._listener_closed()
        elif op == "accept" and event.ok and event.phase == DONE:
            peer = _addr(event.result)
            local = self._listener_for(peer) if peer is not None else None
            if peer is not None and local is not None:
                flow = self._flow(local, peer)
                flow.ends[local] = (event.side, event.conn)
                flow.gone.discard(local)

    def _listener_closed(self) -> None:
        """The server's listening socket is closed: the connections it never
        accepted (their server end still the listener's) belong to the kernel."""
        for flow in self._flows.values():
            for address, end in flow.ends.items():
                if end == (SERVER, None):
                    flow.gone.add(address)

    def _learn_connect(self, event: Event) -> None:
        """A TCP connect: waiting, its SYN is its; done, its flow's end is its."""
        remote = _addr(event.args[0]) if event.args else None
        if remote is None:
            return
        self.watch_port(remote[1])
        if event.phase != DONE:
            self._connecting.append((event.conn or 0, remote))
            return
        self._connecting = [(c, r) for c, r in self._connecting if c != event.conn]
        local = _addr(event.result)
        if event.ok and local is not None:
            self._flow(local, remote).ends[local] = (event.side, event.conn)
        elif not event.ok:  # refused or timed out: its SYN (and RST) are still its
            self._connecting.append((event.conn or 0, remote))
            del self._connecting[:-MAX_PORTS]

    def _learn_datagram(self, event: Event) -> bool:
        """Datagram sockets: True when ``event`` was one of theirs (learnt here)."""
        end = (event.side, event.conn)
        if event.op == "socket":
            if len(event.args) > 1 and event.args[1] == "SOCK_DGRAM" and event.ok:
                self._dgram.add(end)
            else:
                self._dgram.discard(end)
            return False
        if end not in self._dgram or event.phase != DONE or not event.ok:
            return False
        if event.op == "sendto":
            remote = _addr(event.args[0]) if event.args else None
            if remote is not None:
                self.watch_port(remote[1])
                self._sent = (event.side, event.conn, remote)
            return True
        local = _addr(event.result)
        if local is not None:
            if len(self._datagram_ends) >= MAX_FLOWS:
                self._datagram_ends.clear()
            self._datagram_ends[local] = end
            self.watch_port(local[1])
        if event.op == "connect" and event.args and _addr(event.args[0]) is not None:
            self.watch_port(_addr(event.args[0])[1])  # type: ignore[index]
        return True

    def _datagram_end(self, address: Address) -> tuple[str, int | None] | None:
        end = self._datagram_ends.get(address)
        if end is None:  # bound to every interface: the port says
            end = next((e for (host, port), e in self._datagram_ends.items()
                        if port == address[1] and host in _WILDCARDS), None)
        return end

    def place_datagram(self, segment: Segment) -> tuple[str, int | None, dict[str, Any],
                                                       str | None] | None:
        """A UDP datagram: (its sender's side and number, the packet event's result,
        None), or None when no datagram socket of the lab sent or receives it."""
        src, dst = segment.src, segment.dst
        sender = self._datagram_end(src)
        if sender is None and self._sent is not None and self._sent[2] == dst:
            # Sent by the sendto just made (on loopback a datagram is delivered in
            # the call): that socket's address, learnt for what it sends later.
            sender = self._datagram_ends[src] = self._sent[:2]
        if sender is None:
            receiver = self._datagram_end(dst)
            if receiver is None:
                return None
            sender = (SERVER if receiver[0] == CLIENT else CLIENT, None)
        return sender[0], sender[1], {"proto": "UDP", "flags": [], "len": segment.length,
                                      "src": list(src), "dst": list(dst)}, None

    def _listener_for(self, peer: Address) -> Address | None:
        """The listening address a peer connected to (a wildcard listener: the
        peer's host, as loopback answers from the address it was asked on)."""
        candidates = [(peer[0] if host in _WILDCARDS else host, port)
                      for host, port in self._listeners]
        for local in candidates:
            if frozenset((peer, local)) in self._flows:
                return local
        # No segment of it seen yet: the only listener, if there is one.
        return candidates[0] if len(candidates) == 1 else None

    def _listening(self, address: Address) -> bool:
        if address in self._listeners:
            return True
        return any(port == address[1] and host in _WILDCARDS for host, port in self._listeners)

    def _flow(self, a: Address, b: Address) -> Flow:
        key = frozenset((a, b))
        flow = self._flows.get(key)
        if flow is None:
            if len(self._flows) >= MAX_FLOWS:
                del self._flows[next(iter(self._flows))]
            flow = self._flows[key] = Flow()
        return flow

    # -- segments ---------------------------------------------------------------

    def place(self, segment: Segment) -> tuple[str, int | None, dict[str, Any], str | None] | None:
        """(sender side, its connection, the packet event's result, who sent it
        when no socket did: "kernel"), or None when the segment belongs to no
        socket of the lab."""
        if segment.proto == "UDP":
            return self.place_datagram(segment)
        src, dst = segment.src, segment.dst
        flow = self._flows.get(frozenset((src, dst)))
        if flow is None:
            flow = self._new_flow(segment)
            if flow is None:
                return None
        if segment.flags == ("SYN",) and flow.gone:
            flow.gone.clear()  # the same four values, a new connection (a port used again)
        side, conn = flow.sender(src, dst)
        seq, ack = flow.relative(segment)
        if "SYN" in segment.flags:
            flow.opened.add(src)
        return side, conn, {"flags": list(segment.flags), "seq": seq, "ack": ack,
                            "len": segment.length, "src": list(src), "dst": list(dst)}, \
            "kernel" if flow.by_kernel(segment) else None

    def _new_flow(self, segment: Segment) -> Flow | None:
        """A first segment of a connection no event has named yet: a lab connect's
        SYN (its connect still waiting), or a SYN to a lab listener."""
        if segment.flags != ("SYN",):
            return None
        noted = self._client_from(segment.src, segment.dst[1])
        if noted is not None:  # the connect that left from this address: exact
            self._connecting = [(c, r) for c, r in self._connecting if c != noted]
            return self._client_flow(segment, noted)
        # A connect not noted (a program's): the oldest still waiting for that address.
        for index, (conn, remote) in enumerate(self._connecting):
            if remote == segment.dst:
                del self._connecting[index]
                return self._client_flow(segment, conn)
        if self._listening(segment.dst):
            flow = self._flow(segment.src, segment.dst)
            flow.ends[segment.dst] = (SERVER, None)  # its connection: known at accept
            return flow
        return None

    def _client_flow(self, segment: Segment, conn: int | None) -> Flow:
        """A lab client's SYN: its flow, and when it goes to a lab listener, the
        listener's end too (its connection is known at accept; closed before, what
        that end sends is the kernel's: `_listener_closed` needs it listed)."""
        flow = self._flow(segment.src, segment.dst)
        flow.ends[segment.src] = (CLIENT, conn)
        if self._listening(segment.dst):
            flow.ends.setdefault(segment.dst, (SERVER, None))
        return flow
