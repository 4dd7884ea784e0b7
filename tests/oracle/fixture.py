"""A clean, hand-made session (log, capture, ss) the oracle's own tests doctor.

The lecture's exchange on loopback: a server accepts, sends five bytes and
closes first; the client reads, sees the FIN, closes.  Times are on one clock
(offset 0).  Every claim in it is true of its evidence, so the oracle finds
nothing; each test then plants one lie and expects the oracle to name it.
"""

from __future__ import annotations

import copy

from .evidence import Evidence, Sample
from .pcap import Relative, Segment

S, C = ("127.0.0.1", 5000), ("127.0.0.1", 40000)
STREAM = ["AF_INET", "SOCK_STREAM"]


def _e(seq, t, side, conn, op, phase="done", **kw) -> dict:
    event = {"seq": seq, "t": t, "side": side, "conn": conn, "op": op, "phase": phase,
             "args": [], "ok": True, "result": None, "error": None, "lesson": None,
             "by": None, "host": "A"}
    event.update(kw)
    return event


def _p(seq, t, side, conn, src, dst, flags, rseq, rack, length=0) -> dict:
    return _e(seq, t, side, conn, "packet", result={
        "flags": flags, "seq": rseq, "ack": rack, "len": length,
        "src": list(src), "dst": list(dst)})


def _state(seq, t, side, conn, state, lesson=None, **extra) -> dict:
    return _e(seq, t, side, conn, "state", result={"state": state, **extra}, lesson=lesson)


EVENTS = [
    _e(1, 0.001, "server", None, "socket", args=STREAM, result=5),
    _e(2, 0.002, "server", None, "bind", args=[list(S)], result=list(S)),
    _e(3, 0.003, "server", None, "listen", args=[5], result=list(S)),
    _state(4, 0.004, "server", None, "LISTEN", queue=0, backlog=5),
    _e(5, 0.005, "server", None, "accept", phase="wait"),
    _e(6, 0.006, "client", 1, "socket", args=STREAM, result=6),
    _e(7, 0.007, "client", 1, "connect", args=[list(S)], result=list(C)),
    _p(8, 0.0061, "client", 1, C, S, ["SYN"], 0, 0),
    _p(9, 0.0062, "server", None, S, C, ["SYN", "ACK"], 0, 1),
    _p(10, 0.0063, "client", 1, C, S, ["ACK"], 1, 1),
    _state(11, 0.0075, "client", 1, "ESTABLISHED"),
    _e(12, 0.008, "server", 1, "accept", result=list(C)),
    _state(13, 0.0081, "server", 1, "ESTABLISHED"),
    _e(14, 0.009, "server", 1, "send", result=5, nbytes=5),
    _p(15, 0.0085, "server", 1, S, C, ["PSH", "ACK"], 1, 1, 5),
    _p(16, 0.0086, "client", 1, C, S, ["ACK"], 1, 6),
    _e(17, 0.0095, "client", 1, "recv", args=[1024], result=5, nbytes=5),
    _e(18, 0.010, "server", 1, "close"),
    _p(19, 0.0099, "server", 1, S, C, ["FIN", "ACK"], 6, 1),
    _state(20, 0.0101, "server", 1, "FIN_WAIT1"),
    _state(21, 0.0102, "client", 1, "CLOSE_WAIT",
           lesson="the peer closed (its FIN arrived): recv() returns b''"),
    _e(22, 0.011, "client", 1, "close"),
    _p(23, 0.0105, "client", 1, C, S, ["FIN", "ACK"], 1, 7),
    _p(24, 0.0106, "server", 1, S, C, ["ACK"], 7, 2),
    _state(25, 0.0112, "server", 1, "TIME_WAIT"),
    _state(26, 0.0113, "client", 1, "CLOSE"),
    _e(27, 0.012, "server", None, "close"),
]

ISN_S, ISN_C = 1000, 7000


def _absolute(row: dict) -> Relative:
    r = row["result"]
    mine, theirs = (ISN_S, ISN_C) if tuple(r["src"]) == S else (ISN_C, ISN_S)
    seg = Segment(row["seq"], row["t"], "tcp", tuple(r["src"]), tuple(r["dst"]),
                  frozenset(r["flags"]), mine + r["seq"],
                  theirs + r["ack"] if "ACK" in r["flags"] else 0, r["len"])
    return Relative(seg, r["seq"], r["ack"])


def segments() -> list[Relative]:
    return [_absolute(e) for e in EVENTS if e["op"] == "packet"]


def samples() -> list[Sample]:
    listening = ("tcp", "LISTEN", S, None)
    time_wait = ("tcp", "TIME-WAIT", S, C)
    return [Sample(0.0115, 0.0116, None, (listening, time_wait)),
            Sample(0.0200, 0.0201, None, (time_wait,))]


def clean() -> tuple[list[dict], Evidence]:
    """A fresh copy of the session and its evidence (host "A" is the namespace)."""
    return copy.deepcopy(EVENTS), Evidence(segments(), samples(), offset=0.0,
                                           hosts={None: "A"})


def by_seq(events: list[dict], seq: int) -> dict:
    return next(e for e in events if e["seq"] == seq)
