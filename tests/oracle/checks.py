"""Every claim of a log checked against the evidence: the oracle's judgement.

Each check is a function ``(Judge) -> None`` that adds `Violation`s; `judge`
runs them all.  A check that cannot decide (no evidence for that claim) says
nothing rather than guess; `Judge.checked` counts the claims decided.
"""

from __future__ import annotations

import difflib
import statistics
from collections import Counter
from dataclasses import dataclass

from .evidence import Evidence
from .model import Addr, Incarnation, Model, addr, is_call
from .pcap import Relative

#: Clock slack between the log's times and the evidence's (seconds).
EPS = 0.002


@dataclass(frozen=True)
class Violation:
    check: str       # packet, credit, state, ss, lesson, host, causality, time
    seq: int | None  # the log line it is about
    message: str

    def __str__(self) -> str:
        where = f"#{self.seq} " if self.seq is not None else ""
        return f"[{self.check}] {where}{self.message}"


def _key(src: Addr | None, dst: Addr | None, flags, seq: int, ack: int, length: int) -> tuple:
    return (src, dst, frozenset(flags), seq, ack, length)


def row_key(event: dict) -> tuple:
    r = event.get("result") or {}
    return _key(addr(r.get("src")), addr(r.get("dst")), r.get("flags") or (),
                r.get("seq") or 0, r.get("ack") or 0, r.get("len") or 0)


def seg_key(rel: Relative) -> tuple:
    s = rel.segment
    return _key(s.src, s.dst, s.flags, rel.seq, rel.ack, s.length)


def describe(key: tuple) -> str:
    src, dst, flags, seq, ack, length = key
    return (f"{'/'.join(sorted(flags)) or 'UDP'} seq={seq} ack={ack} len={length} "
            f"{src}→{dst}")


class Judge:
    """A log, its evidence, and what the checks found."""

    def __init__(self, events: list[dict], evidence: Evidence, *,
                 packets_claimed: bool = True, wire: bool = True) -> None:
        self.model = Model(events)
        self.events = self.model.events
        self.evidence = evidence
        self.packets_claimed = packets_claimed
        #: False: the capture cannot see the scenario's wire (two hosts' own
        #: namespaces): the checks that need segments say nothing.
        self.wire = wire
        self.violations: list[Violation] = []
        self.checked: Counter[str] = Counter()
        self.rows = [e for e in self.events if e.get("op") == "packet"]
        #: log seq of a packet row -> its captured segment, and back.
        self.segment_of: dict[int, Relative] = {}
        self.row_of: dict[int, int] = {}
        self.offset = evidence.offset
        self.events_by_seq = {e["seq"]: e for e in self.events}

    def add(self, check: str, seq: int | None, message: str) -> None:
        self.violations.append(Violation(check, seq, message))

    # -- time ---------------------------------------------------------------------

    def lab_time(self, real: float) -> float | None:
        return None if self.offset is None else real + self.offset

    def before(self, rel: Relative, seq: int, t: float, by_time: bool = False) -> bool:
        """Did segment ``rel`` happen before the log line (seq, t)?  Its packet row's
        place when it has one (``by_time``: always its time), else its time."""
        row = self.row_of.get(rel.segment.index)
        if row is not None and not by_time:
            return row < seq
        at = self.lab_time(rel.segment.ts)
        return at is None or at <= t + EPS

    def after_open(self, rel: Relative, inc: Incarnation) -> bool:
        """Not a segment of an earlier connection (the handshake of an accepted one
        comes before its accept: from its listener on)."""
        first = inc.opened
        if inc.side == "server" and inc.conn is not None:
            first = inc.listener.opened if inc.listener is not None else 0
        row = self.row_of.get(rel.segment.index)
        if row is not None:
            return row > first
        opened = self.events_by_seq[first]["t"] if first in self.events_by_seq else 0.0
        at = self.lab_time(rel.segment.ts)
        return at is None or at >= opened - EPS

    # -- which segments concern a socket --------------------------------------------

    def ends(self, inc: Incarnation) -> tuple[Addr | None, Addr | None]:
        local, peer = inc.local, inc.peer
        if local is not None and local[0] in ("0.0.0.0", "::") and peer is not None:
            local = None  # bound to every address: the port alone is known
        return local, peer

    def direction(self, rel: Relative, inc: Incarnation) -> str | None:
        """"out" (sent by ``inc``'s end), "in" (to it) or None (not its connection)."""
        s = rel.segment
        local, peer = self.ends(inc)
        if peer is None and inc.local is None:
            return None
        for way, mine, theirs in (("out", s.src, s.dst), ("in", s.dst, s.src)):
            if peer is not None and theirs != peer:
                continue
            if local is not None and mine != local:
                continue
            if local is None and inc.local is not None and mine[1] != inc.local[1]:
                continue
            if peer is None and inc.tcp and (inc.listened is None or theirs is None):
                continue  # (a datagram socket with no peer speaks to anyone)
            return way
        return None


def fit_offset(judge: Judge) -> None:
    """lab t = real + offset: the median over matched packet rows."""
    if judge.offset is not None or not judge.segment_of:
        return
    diffs = [judge.events_by_seq[seq]["t"] - rel.segment.ts
             for seq, rel in judge.segment_of.items()]
    judge.offset = statistics.median(diffs)


def resolve_clients(judge: Judge) -> None:
    """A client whose connect has not returned (or failed) has no local address in
    the log: it is the source of the SYN to its peer sent while its connect ran, when
    exactly one such source is owned by no other socket (several clients connecting
    to one port at once stay unknown: the checks then go by the peer alone)."""
    if judge.offset is None:
        return
    owned = {inc.local for inc in judge.model.incarnations if inc.local is not None}
    waiting = [inc for inc in judge.model.incarnations
               if inc.side == "client" and inc.local is None and inc.peer is not None
               and inc.tcp and any(e.get("op") == "connect" for e in inc.events)]
    changed = True
    while changed:
        changed = False
        for inc in waiting:
            candidates = _syns_while_connecting(judge, inc) - owned
            if inc.local is None and len(candidates) == 1:
                inc.local = candidates.pop()
                owned.add(inc.local)
                changed = True


def _syns_while_connecting(judge: Judge, inc: Incarnation) -> set[Addr]:
    began = _connect_started(inc) - 0.25
    done = [e["t"] for e in inc.events if e.get("op") == "connect" and e.get("phase") == "done"]
    end = done[0] + EPS if done else float("inf")
    return {rel.segment.src for rel in judge.evidence.segments
            if rel.segment.dst == inc.peer and rel.segment.flags == {"SYN"}
            and began <= judge.lab_time(rel.segment.ts) <= end}


def _connect_started(inc: Incarnation) -> float:
    """When its connect began, at the latest (its wait, else its socket())."""
    connect = next(e for e in inc.events if e.get("op") == "connect")
    if connect.get("phase") == "wait":
        return connect["t"]
    earlier = [e for e in inc.events if e["seq"] < connect["seq"] and is_call(e)]
    return earlier[-1]["t"] if earlier else connect["t"]


def check_packets(judge: Judge) -> None:
    """Each packet row ⇔ one captured segment, in the same order."""
    if not judge.packets_claimed:
        return
    segs = [r for r in judge.evidence.segments]
    log_keys = [row_key(e) for e in judge.rows]
    wire_keys = [seg_key(r) for r in segs]
    matcher = difflib.SequenceMatcher(None, log_keys, wire_keys, autojunk=False)
    unmatched_log, unmatched_wire = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                judge.segment_of[judge.rows[i]["seq"]] = segs[j]
                judge.row_of[segs[j].segment.index] = judge.rows[i]["seq"]
            continue
        unmatched_log.extend(range(i1, i2))
        unmatched_wire.extend(range(j1, j2))
    judge.checked["packet"] += len(log_keys)
    wire_left = Counter(wire_keys[j] for j in unmatched_wire)
    log_left = Counter(log_keys[i] for i in unmatched_log)
    for i in unmatched_log:
        key = log_keys[i]
        if wire_left[key] > 0:
            judge.add("packet", judge.rows[i]["seq"],
                      f"packet row {describe(key)} is out of the wire's order")
        else:
            judge.add("packet", judge.rows[i]["seq"],
                      f"packet row {describe(key)} matches no captured segment")
    for j in unmatched_wire:
        if log_left[wire_keys[j]] == 0:
            judge.add("packet", None, f"captured segment {describe(wire_keys[j])} "
                      f"(capture #{segs[j].segment.index}) has no packet row")


def _owner_problem(judge: Judge, event: dict, rel: Relative) -> str | None:
    """Why the socket a packet row credits could not have sent that segment, or None."""
    inc = judge.model.at(event["seq"])
    if inc is None:
        return "it names no socket of the log"
    if inc.phantom:
        return f"{inc.name} never had a socket (no socket() or accept() made one)"
    way = judge.direction(rel, inc)
    if way == "out":
        if inc.peer is None and inc.listened is not None and inc.closed is not None \
                and inc.closed < event["seq"] \
                and not (rel.segment.flags >= {"RST"}
                         and event["t"] <= judge.events_by_seq[inc.closed]["t"] + 0.25):
            # (the RSTs its close() sends to connections it never accepted are its own;
            # the close's line carries the time the call began)
            return f"{inc.name} stopped listening (closed at #{inc.closed}) before it"
        return None
    if way == "in":
        return f"{inc.name} received it; it did not send it"
    if inc.closed is not None and inc.closed < event["seq"]:
        return (f"{inc.name} was closed at #{inc.closed} and never had this connection: "
                "the kernel sent it (by: \"kernel\")")
    if inc.local is None and inc.peer is None:
        return None  # nothing known of its addresses: cannot tell
    if _a_later_attempt(judge, inc, rel):
        return None
    return f"{inc.name} is {inc.local}→{inc.peer}, not this connection"


def _a_later_attempt(judge: Judge, inc: Incarnation, rel: Relative) -> bool:
    """A SYN to ``inc``'s peer, sent while one of its connect() calls ran, from an
    address no other socket owns: after a failed connect, Linux lets the same
    socket connect again, from a new port (a new connection, the same socket)."""
    s = rel.segment
    at = judge.lab_time(s.ts)
    if not inc.tcp or inc.side != "client" or s.flags != {"SYN"} or s.dst != inc.peer \
            or at is None:
        return False
    if any(other is not inc and other.local == s.src for other in judge.model.incarnations):
        return False
    calls = [e for e in inc.events if is_call(e)]
    for index, e in enumerate(calls):
        if e.get("op") != "connect" or e.get("phase") != "done":
            continue
        # (a call's line carries the time it began: its SYN left before the next call)
        began = calls[index - 1]["t"] if index else e["t"]
        ended = calls[index + 1]["t"] if index + 1 < len(calls) else float("inf")
        if began - EPS <= at <= ended + EPS:
            return True
    return False


def _kernel_problem(judge: Judge, event: dict, rel: Relative) -> str | None:
    """A row credited to the kernel that an open lab socket did send."""
    for inc in judge.model.incarnations:
        if inc.opened > event["seq"] or (inc.closed is not None and inc.closed < event["seq"]):
            continue
        if inc.peer is not None and judge.direction(rel, inc) == "out":
            return f"{inc.name}, open, owns this connection"
    return None


def check_credit(judge: Judge) -> None:
    """Each packet row credited to the socket that sent it, or to the kernel."""
    for seq, rel in judge.segment_of.items():
        event = judge.events_by_seq[seq]
        judge.checked["credit"] += 1
        if event.get("by") == "kernel":
            problem = _kernel_problem(judge, event, rel)
        else:
            problem = _owner_problem(judge, event, rel)
        if problem:
            who = "the kernel" if event.get("by") == "kernel" else \
                f"{event['side']}[{event.get('conn')}]"
            judge.add("credit", seq, f"{describe(seg_key(rel))} credited to {who}: {problem}")
