"""The TCP state machine of RFC 9293 (section 3.3.2, figure 5), written once as data.

Transitions are ``(state, event) -> state`` (the h11 way), with Linux's state
names (what the log and ``ss`` print).  An event is either a segment, seen
from the connection's end: ``("in" | "out", FLAG)``, or something the
application or a timer did: ``("app", "listen" | "close")``, ``("timer", name)``.
The Linux specifics the RFC leaves open are marked: an abortive close sends a
RST, an orphaned FIN_WAIT2 ends by its own timer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

Event = tuple[str, str]

LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED = "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED"
FIN_WAIT1, FIN_WAIT2, CLOSING, TIME_WAIT = "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "TIME_WAIT"
CLOSE_WAIT, LAST_ACK, CLOSE = "CLOSE_WAIT", "LAST_ACK", "CLOSE"

STATES = (CLOSE, LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSING,
          TIME_WAIT, CLOSE_WAIT, LAST_ACK)

SYNCHRONIZED = (SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSING, CLOSE_WAIT, LAST_ACK)

TRANSITIONS: dict[tuple[str, Event], str] = {
    # opening
    (CLOSE, ("app", "listen")): LISTEN,                 # passive OPEN
    (CLOSE, ("out", "SYN")): SYN_SENT,                  # active OPEN / snd SYN
    (LISTEN, ("in", "SYN")): SYN_RECV,                  # rcv SYN / snd SYN,ACK
    (LISTEN, ("app", "close")): CLOSE,
    (LISTEN, ("out", "SYN")): SYN_SENT,                 # SEND on a listener (RFC only)
    (SYN_SENT, ("in", "SYN")): SYN_RECV,                # simultaneous open
    (SYN_SENT, ("in", "SYNACK")): ESTABLISHED,          # rcv SYN,ACK / snd ACK
    (SYN_SENT, ("app", "close")): CLOSE,
    (SYN_SENT, ("in", "RST")): CLOSE,                   # connection refused
    (SYN_SENT, ("timer", "connect")): CLOSE,            # SYNs never answered
    (SYN_RECV, ("in", "ACK")): ESTABLISHED,             # rcv ACK of SYN
    (SYN_RECV, ("out", "FIN")): FIN_WAIT1,              # CLOSE / snd FIN
    (SYN_RECV, ("in", "RST")): CLOSE,                   # (a passive one goes back to LISTEN)
    # closing
    (ESTABLISHED, ("out", "FIN")): FIN_WAIT1,           # CLOSE / snd FIN
    (ESTABLISHED, ("in", "FIN")): CLOSE_WAIT,           # rcv FIN / snd ACK
    (FIN_WAIT1, ("in", "ACK")): FIN_WAIT2,              # rcv ACK of FIN
    (FIN_WAIT1, ("in", "FIN")): CLOSING,                # rcv FIN / snd ACK
    (FIN_WAIT1, ("in", "FINACK")): TIME_WAIT,           # rcv FIN and the ACK of ours at once
    (FIN_WAIT2, ("in", "FIN")): TIME_WAIT,              # rcv FIN / snd ACK
    (FIN_WAIT2, ("timer", "fin_timeout")): CLOSE,       # Linux: an orphan's FIN_WAIT2 timer
    (CLOSING, ("in", "ACK")): TIME_WAIT,                # rcv ACK of FIN
    (CLOSE_WAIT, ("out", "FIN")): LAST_ACK,             # CLOSE / snd FIN
    (LAST_ACK, ("in", "ACK")): CLOSE,                   # rcv ACK of FIN
    (TIME_WAIT, ("timer", "2msl")): CLOSE,              # Timeout = 2MSL
}
# Any synchronized state: a RST received, or an abort (close with unread data,
# SO_LINGER 0) that sends one, ends the connection at once.
for _state in SYNCHRONIZED:
    TRANSITIONS.setdefault((_state, ("in", "RST")), CLOSE)
    TRANSITIONS.setdefault((_state, ("out", "RST")), CLOSE)

#: How long each timer runs at the least (seconds; Linux's values, the fin
#: timeout read from /proc where it can be).
TIMERS = {"2msl": 60.0, "fin_timeout": 60.0, "connect": 1.0}


def events_from(state: str) -> list[tuple[Event, str]]:
    return [(event, to) for (frm, event), to in TRANSITIONS.items() if frm == state]


def path(start: str, end: str, allowed: Callable[[Event], bool]) -> list[Event] | None:
    """The shortest list of events leading ``start`` to ``end`` using only events
    ``allowed`` says the evidence bears out; [] when equal; None when none does."""
    if start == end:
        return []
    seen, todo = {start}, deque([(start, [])])
    while todo:
        state, how = todo.popleft()
        for event, to in events_from(state):
            if to in seen or not allowed(event):
                continue
            if to == end:
                return [*how, event]
            seen.add(to)
            todo.append((to, [*how, event]))
    return None


#: ss's names (``ss -tan``) for the kernel's states.
SS_NAMES = {"ESTAB": ESTABLISHED, "SYN-SENT": SYN_SENT, "SYN-RECV": SYN_RECV,
            "FIN-WAIT-1": FIN_WAIT1, "FIN-WAIT-2": FIN_WAIT2, "TIME-WAIT": TIME_WAIT,
            "CLOSE-WAIT": CLOSE_WAIT, "LAST-ACK": LAST_ACK, "LISTEN": LISTEN,
            "CLOSING": CLOSING, "UNCONN": CLOSE, "CLOSE": CLOSE}
