"""Every claim of a log checked against the evidence: the oracle's judgement.

Each check is a function ``(Judge) -> None`` that adds `Violation`s; `judge`
runs them all.  A check that cannot decide (no evidence for that claim) says
nothing rather than guess; `Judge.checked` counts the claims decided.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections import Counter
from dataclasses import dataclass

from . import tcp_states as tcp
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
            if peer is None and (inc.listened is None or theirs is None):
                continue
            return way
        return None


def fit_offset(judge: Judge) -> None:
    """lab t = real + offset: the median over matched packet rows."""
    if judge.offset is not None or not judge.segment_of:
        return
    diffs = [judge.events_by_seq[seq]["t"] - rel.segment.ts
             for seq, rel in judge.segment_of.items()]
    judge.offset = statistics.median(diffs)


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
    way = judge.direction(rel, inc)
    if way == "out":
        if inc.peer is None and inc.listened is not None and inc.closed is not None \
                and inc.closed < event["seq"]:
            return f"{inc.name} stopped listening (closed at #{inc.closed}) before it"
        return None
    if way == "in":
        return f"{inc.name} received it; it did not send it"
    if inc.closed is not None and inc.closed < event["seq"]:
        return (f"{inc.name} was closed at #{inc.closed} and never had this connection: "
                "the kernel sent it (by: \"kernel\")")
    if inc.local is None and inc.peer is None:
        return None  # nothing known of its addresses: cannot tell
    return f"{inc.name} is {inc.local}→{inc.peer}, not this connection"


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


def _allowed(judge: Judge, inc: Incarnation, state: dict, since: float):
    seen = seen_events(judge, inc, state["seq"], state["t"])
    elapsed = state["t"] - since

    def allowed(event: tcp.Event) -> bool:
        kind, what = event
        if kind == "app" and what == "listen":
            return inc.listened is not None and inc.listened < state["seq"]
        if kind == "app" and what == "close":
            return inc.closed is not None and inc.closed < state["seq"]
        if kind == "timer":
            return elapsed >= tcp.TIMERS[what]
        return event in seen

    return allowed


def check_states(judge: Judge) -> None:
    """Each state line a legal transition from the one before, given the segments seen."""
    for inc in judge.model.incarnations:
        if not inc.tcp:
            continue
        previous = "SYN_RECV" if inc.conn is not None and inc.side == "server" else "CLOSE"
        since = next(e["t"] for e in judge.events if e["seq"] == inc.opened)
        for state in inc.states():
            now = (state.get("result") or {}).get("state")
            if now is None:
                continue
            judge.checked["state"] += 1
            if now != previous and tcp.path(previous, now,
                                            _allowed(judge, inc, state, since)) is None:
                judge.add("state", state["seq"],
                          f"{inc.name}: {previous} → {now} is no transition of TCP's "
                          "state machine given the segments on the wire and the calls made")
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
            seen = seen_events(judge, inc, event["seq"], event["t"], by_time=True)
            if (way, flag) not in seen:
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


# -- causality and time -----------------------------------------------------------------

def _pairs(judge: Judge) -> dict[int, dict]:
    """done seq -> its wait event; a wait never done, or a done before its wait, is told."""
    waiting: dict[tuple, list[dict]] = {}
    paired: dict[int, dict] = {}
    for e in judge.events:
        if not is_call(e):
            continue
        key = (e["side"], None if e["op"] == "accept" else e.get("conn"), e["op"])
        if e.get("phase") == "wait":
            waiting.setdefault(key, []).append(e)
        elif waiting.get(key):
            wait = waiting[key].pop(0)
            paired[e["seq"]] = wait
            judge.checked["causality"] += 1
            if e["t"] < wait["t"]:
                judge.add("causality", e["seq"],
                          f"{key[0]}[{key[1]}] {key[2]} done at t={e['t']} before its wait "
                          f"(#{wait['seq']}, t={wait['t']})")
    for waits in waiting.values():
        for wait in waits:
            judge.add("causality", wait["seq"], f"{wait['side']}[{wait.get('conn')}] "
                      f"{wait['op']} waits and is never done")
    return paired


def check_causality(judge: Judge) -> None:
    paired = _pairs(judge)
    for inc in judge.model.incarnations:
        for e in inc.early:
            judge.add("causality", e["seq"], f"{inc.name}: {e['op']} line before the "
                      f"accept() that made this socket (#{inc.opened})")
        _after_close(judge, inc, paired)
        _connect_after_established(judge, inc)
    _accept_after_connect(judge)
    _packets_after_call(judge, paired)


def _after_close(judge: Judge, inc: Incarnation, paired: dict[int, dict]) -> None:
    """No call on a socket after its close: none waits, none succeeds (one that fails
    at once with EBADF is the learner's call on a closed socket, truly told), and
    the end of a wait is one the close ended."""
    if inc.closed is None:
        return
    for e in inc.events:
        if e["seq"] <= inc.closed or not is_call(e):
            continue
        judge.checked["causality"] += 1
        wait = paired.get(e["seq"])
        if wait is not None and wait["seq"] < inc.closed:
            continue
        if e.get("phase") == "done" and not e.get("ok") and wait is None:
            continue
        judge.add("causality", e["seq"], f"{inc.name}: {e['op']}() {e.get('phase')} after "
                  f"its close (#{inc.closed})" + (f": {e.get('error')}" if e.get("error")
                                                  else ""))


def _connect_after_established(judge: Judge, inc: Incarnation) -> None:
    """A connect that fails after the kernel said the connection was established."""
    established = [e["seq"] for e in inc.states()
                   if (e.get("result") or {}).get("state") == "ESTABLISHED"]
    for e in inc.events:
        if e.get("op") == "connect" and e.get("phase") == "done" and not e.get("ok") \
                and established and established[0] < e["seq"]:
            judge.add("causality", e["seq"], f"{inc.name}: connect() fails with "
                      f"{e.get('error')} after the connection was ESTABLISHED "
                      f"(#{established[0]})")


def _accept_after_connect(judge: Judge) -> None:
    clients = {inc.local: inc for inc in judge.model.incarnations
               if inc.side == "client" and inc.local is not None}
    for inc in judge.model.incarnations:
        if inc.side != "server" or inc.conn is None or inc.peer is None:
            continue
        client = clients.get(inc.peer)
        if client is None:
            continue
        connects = [e["seq"] for e in client.events if e.get("op") == "connect"]
        judge.checked["causality"] += 1
        if not connects or connects[0] > inc.opened:
            judge.add("causality", inc.opened, f"{inc.name}: accept() returned "
                      f"{client.name}'s connection before its connect() began")


def _call_began(inc: Incarnation, seq: int, paired: dict[int, dict]) -> float | None:
    """When the call a packet row of ``inc`` at ``seq`` follows began, at the latest."""
    calls = [e for e in inc.events if is_call(e) and e["seq"] < seq]
    if not calls:
        return None
    last = calls[-1]
    if last.get("phase") == "wait":
        return last["t"]
    if last["seq"] in paired:
        return paired[last["seq"]]["t"]
    earlier = [e for e in calls[:-1] if e["seq"] not in (w["seq"] for w in paired.values())]
    return earlier[-1]["t"] if earlier else None


def _packets_after_call(judge: Judge, paired: dict[int, dict]) -> None:
    """A call's packets carry times after the call began."""
    for row in judge.rows:
        inc = judge.model.at(row["seq"])
        if inc is None or row.get("by") == "kernel":
            continue
        began = _call_began(inc, row["seq"], paired)
        judge.checked["causality"] += 1
        if began is not None and row["t"] < began - EPS:
            judge.add("causality", row["seq"], f"{inc.name}: packet row at t={row['t']} "
                      f"before the call it is shown under began (t={began})")


def check_time(judge: Judge) -> None:
    """Times never go backwards in seq order: calls and states among themselves, packet
    rows among themselves, and no packet row after a wait or a state that came later."""
    last_other, last_packet = None, None
    latest_wait_or_state: dict | None = None
    for e in judge.events:
        judge.checked["time"] += 1
        if e.get("op") == "packet":
            if last_packet is not None and e["t"] < last_packet["t"] - EPS:
                judge.add("time", e["seq"], f"packet row at t={e['t']} after one at "
                          f"t={last_packet['t']} (#{last_packet['seq']})")
            if latest_wait_or_state is not None and e["t"] < latest_wait_or_state["t"] - EPS:
                w = latest_wait_or_state
                judge.add("time", e["seq"], f"packet row at t={e['t']} placed after "
                          f"#{w['seq']} {w['side']}[{w.get('conn')}] {w['op']} "
                          f"{w.get('phase')} at t={w['t']}, which happened later")
            last_packet = e
            continue
        if last_other is not None and e["t"] < last_other["t"]:
            judge.add("time", e["seq"], f"t={e['t']} after #{last_other['seq']} at "
                      f"t={last_other['t']}")
        last_other = e
        if e.get("op") == "state" or e.get("phase") == "wait":
            if latest_wait_or_state is None or e["t"] > latest_wait_or_state["t"]:
                latest_wait_or_state = e


CHECKS = (check_packets, fit_offset, check_credit, check_states, check_ss, check_lessons,
          check_hosts, check_causality, check_time)


WIRE_CHECKS = (check_packets, check_credit, check_states, check_lessons)


def judge(events: list[dict], evidence: Evidence, *, packets_claimed: bool = True,
          wire: bool = True) -> Judge:
    """Run every check; the verdict is in ``.violations`` (and ``.checked``)."""
    j = Judge(events, evidence, packets_claimed=packets_claimed, wire=wire)
    for check in CHECKS:
        if wire or check not in WIRE_CHECKS:
            check(j)
    return j
