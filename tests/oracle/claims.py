"""The claims about sockets checked: each state line (against TCP's state machine
and ss), each explanation that names a segment, each event's host."""

from __future__ import annotations

import re

from . import tcp_states as tcp
from .checks import EPS, Judge
from .model import Addr, Incarnation, addr, is_call
from .pcap import Relative

# -- states ---------------------------------------------------------------------------

def _segment_event(rel: Relative, way: str) -> list[tcp.Event]:
    flags = rel.segment.flags
    if rel.segment.proto != "tcp":
        return []
    found: list[tcp.Event] = []
    if "SYN" in flags:
        found.append((way, "SYNACK" if "ACK" in flags else "SYN"))
    if "FIN" in flags:
        found.append((way, "FIN"))
        if "ACK" in flags:
            found.append((way, "FINACK"))
    if "RST" in flags:
        found.append((way, "RST"))
    if "ACK" in flags:
        found.append((way, "ACK"))
    return found


def seen_events(judge: Judge, inc: Incarnation, seq: int, t: float,
                by_time: bool = False) -> set[tcp.Event]:
    """The segment events of ``inc``'s connection on the wire before log line (seq, t)."""
    seen: set[tcp.Event] = set()
    for rel in judge.evidence.segments:
        way = judge.direction(rel, inc)
        if way and judge.after_open(rel, inc) and judge.before(rel, seq, t, by_time):
            seen.update(_segment_event(rel, way))
    return seen


def _allowed(judge: Judge, inc: Incarnation, state: dict, since: float, placed: bool):
    """What bears out a step to ``state``: the calls made, timers long enough, and
    segments on the wire.  ``placed``: the call must be logged before the line, and a
    segment it received must have its row before it (a state is shown after what
    caused it); a segment it sent need only have left before (its own call sets the
    state, then sends)."""
    received = seen_events(judge, inc, state["seq"], state["t"], by_time=not placed)
    sent = seen_events(judge, inc, state["seq"], state["t"], by_time=True)
    elapsed = state["t"] - since

    def allowed(event: tcp.Event) -> bool:
        kind, what = event
        if kind == "app":
            seq = inc.listened if what == "listen" else inc.closed
            return seq is not None and (seq < state["seq"] or not placed)
        if kind == "timer":
            return elapsed >= tcp.TIMERS[what]
        return event in (sent if kind == "out" else received)

    return allowed


def _step(judge: Judge, inc: Incarnation, previous: str, now: str, state: dict,
          since: float) -> None:
    if now == previous or tcp.path(previous, now, _allowed(judge, inc, state, since, True)):
        return
    if tcp.path(previous, now, _allowed(judge, inc, state, since, False)) is not None:
        judge.add("state", state["seq"], f"{inc.name}: {previous} → {now} is shown before "
                  "what caused it (the call, or the row of the segment it received, "
                  "comes later)")
        return
    judge.add("state", state["seq"], f"{inc.name}: {previous} → {now} is no transition of "
              "TCP's state machine given the segments on the wire and the calls made")


def check_states(judge: Judge) -> None:
    """Each state line a legal transition from the one before, given the segments seen."""
    for inc in judge.model.incarnations:
        if not inc.tcp:
            continue
        previous = "SYN_RECV" if inc.conn is not None and inc.side == "server" else "CLOSE"
        since = judge.events_by_seq[inc.opened]["t"]
        for state in inc.states():
            now = (state.get("result") or {}).get("state")
            if now is None:
                continue
            judge.checked["state"] += 1
            _step(judge, inc, previous, now, state, since)
            previous, since = now, state["t"]


def _no_reopening(event: tcp.Event) -> bool:
    return event not in (("out", "SYN"), ("app", "listen"))


def _timeline(inc: Incarnation) -> list[tuple[float, str, int]]:
    return [(e["t"], e["result"]["state"], e["seq"]) for e in inc.states()
            if (e.get("result") or {}).get("state")]


def check_ss(judge: Judge) -> None:
    """The states the log claims agree with ``ss`` sampled on its own (TIME_WAIT too)."""
    if judge.offset is None:
        return
    for inc in judge.model.incarnations:
        line = _timeline(inc)
        if not inc.tcp or not line or inc.local is None:
            continue
        ns = judge.evidence.ns_of_host(inc.host)
        told: set[int] = set()
        for sample in judge.evidence.samples:
            if sample.ns == ns:
                _compare_sample(judge, inc, line, sample, told)


def _compare_sample(judge: Judge, inc: Incarnation, line, sample, told: set[int]) -> None:
    """ss's state at the sample must lie on the way from the last state the log showed
    surely before it to the first it showed surely after it."""
    at = sample.t0 + judge.offset
    before = [i for i, (t, _, _) in enumerate(line) if t < at - EPS]
    if not before:
        return
    lo = before[-1]
    hi = next((i for i, (t, _, _) in enumerate(line) if t > sample.t1 + judge.offset + EPS),
              None)
    if inc.peer is not None and inc.local[0] in ("0.0.0.0", "::"):
        return
    seen = sample.state_of("tcp", inc.local, inc.peer)
    seen = tcp.SS_NAMES.get(seen, seen) if seen else "CLOSE"
    judge.checked["ss"] += 1
    if seen in {state for _, state, _ in line[lo:hi]}:
        return
    ahead = tcp.path(line[lo][1], seen, _no_reopening) is not None
    if ahead and hi is not None:
        ahead = tcp.path(seen, line[hi][1], _no_reopening) is not None
    if not ahead and line[lo][2] not in told:
        told.add(line[lo][2])
        judge.add("ss", line[lo][2], f"{inc.name} is {line[lo][1]} in the log from "
                  f"t={line[lo][0]:.4f} but ss showed {seen} for {inc.local}→{inc.peer} "
                  f"at t={at:.4f}")


# -- explanations ---------------------------------------------------------------------

#: What an explanation says was on the wire: (pattern, way, flag) — "in" is to the
#: socket the line is about, "out" from it.
SEGMENT_CLAIMS = (
    (re.compile(r"RST arrived|answered with a RST|reset the connection \(RST\)"), "in", "RST"),
    (re.compile(r"FIN arrived"), "in", "FIN"),
    (re.compile(r"FIN was acknowledged|sent its FIN|its FIN is sent"), "out", "FIN"),
    (re.compile(r"no SYN/ACK yet|the SYN was dropped"), "out", "SYN"),
)


def _client_by_syn(judge: Judge, inc: Incarnation, seq: int) -> None:
    """A client whose connect failed: its local address is the SYN's it sent."""
    if inc.local is not None or inc.peer is None:
        return
    for rel in judge.evidence.segments:
        s = rel.segment
        if s.dst == inc.peer and s.flags == {"SYN"} and judge.after_open(rel, inc) \
                and judge.before(rel, seq, judge.events_by_seq[seq]["t"], by_time=True):
            inc.local = s.src


def _seen_by_call(judge: Judge, inc: Incarnation, event: dict) -> set[tcp.Event]:
    """The segments an explanation may speak of: on the wire by its line's time, or
    shown under its call (a call's line carries the time it began, and its segments
    are the rows that follow it, up to the socket's next call)."""
    seen = seen_events(judge, inc, event["seq"], event["t"], by_time=True)
    later = [e["seq"] for e in inc.events if e["seq"] > event["seq"] and is_call(e)]
    limit = later[0] if later else float("inf")
    for rel in judge.evidence.segments:
        row = judge.row_of.get(rel.segment.index)
        way = judge.direction(rel, inc)
        if way and row is not None and row < limit and judge.after_open(rel, inc):
            seen.update(_segment_event(rel, way))
    return seen


def check_lessons(judge: Judge) -> None:
    """Every explanation that names a segment has that segment on the wire."""
    for event in judge.events:
        text = event.get("lesson") or ""
        inc = judge.model.at(event["seq"])
        if inc is None or not text:
            continue
        if event.get("op") == "connect" and inc.peer is None:
            inc.peer = addr((event.get("args") or [None])[0])
        _client_by_syn(judge, inc, event["seq"])
        if inc.tcp and not inc.phantom and "datagram" in text and event.get("op") != "state":
            judge.checked["lesson"] += 1
            judge.add("lesson", event["seq"], f"{inc.name} is a TCP socket, but its "
                      f"{event.get('op')}() is explained with datagrams: {text[:90]!r}")
        for pattern, way, flag in SEGMENT_CLAIMS:
            if not pattern.search(text):
                continue
            judge.checked["lesson"] += 1
            if (way, flag) not in _seen_by_call(judge, inc, event):
                judge.add("lesson", event["seq"],
                          f"{inc.name}: the explanation says {pattern.pattern.split('|')[0]!r}"
                          f" but no {flag} {'to' if way == 'in' else 'from'} this socket "
                          "is on the wire before it")


# -- hosts ----------------------------------------------------------------------------

def _loopback(a: Addr) -> bool:
    return a[0].startswith("127.") or a[0] == "::1"


def _namespace_of(judge: Judge, inc: Incarnation) -> tuple[bool, str | None]:
    """(found, ns): the namespace whose ss listed this socket's addresses (or, over
    loopback, its peer's: both ends of a loopback connection share a namespace)."""
    proto = "tcp" if inc.tcp else "udp"
    for sample in judge.evidence.samples:
        for p, _state, local, peer in sample.rows:
            if p != proto:
                continue
            if local == inc.local and (inc.peer is None or peer == inc.peer):
                return True, sample.ns
            if inc.peer is not None and (peer, local) == (inc.local, inc.peer) \
                    and _loopback(local):
                return True, sample.ns
    return False, None


def _namespaces(judge: Judge) -> dict[int, str | None]:
    """Each socket's namespace (by its incarnation's id): seen by ss, else its
    listener's (accept() returns a socket of the listener's namespace), else, for a
    loopback client, the namespace of the connection that accepted it."""
    where: dict[int, str | None] = {}
    incs = judge.model.incarnations
    for inc in incs:
        if inc.local is not None and inc.local[0] not in ("0.0.0.0", "::"):
            found, ns = _namespace_of(judge, inc)
            if found:
                where[id(inc)] = ns
    for inc in incs:
        if inc.listener is not None and id(inc) not in where and id(inc.listener) in where:
            where[id(inc)] = where[id(inc.listener)]
    accepted = {inc.peer: inc for inc in incs if inc.listener is not None and inc.peer}
    for inc in incs:
        other = accepted.get(inc.local) if inc.local is not None else None
        if id(inc) not in where and other is not None and _loopback(inc.local) \
                and id(other) in where and inc.peer is not None \
                and inc.peer[1] == (other.local or ("", -1))[1]:
            where[id(inc)] = where[id(other)]
    return where


def check_hosts(judge: Judge) -> None:
    """Every event's host is the namespace its socket lives in."""
    where = _namespaces(judge)
    for inc in judge.model.incarnations:
        if id(inc) not in where:
            continue
        ns = where[id(inc)]
        expected = judge.evidence.hosts.get(ns)
        judge.checked["host"] += 1
        wrong = [e for e in inc.events
                 if e.get("op") != "packet" and e.get("host") != expected]
        if wrong:
            ops = ", ".join(f"#{e['seq']} {e['op']}@{e.get('host')}" for e in wrong[:4])
            judge.add("host", wrong[0]["seq"],
                      f"{inc.name} lives on host {expected} (namespace "
                      f"{ns or 'of the run'}), but {len(wrong)} of its lines say "
                      f"otherwise: {ops}")
