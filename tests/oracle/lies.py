"""The lies the oracle has found that the product has not fixed yet, by their words.

Each is named once here with the reason a test marks its case xfail for; a
violation that matches none is new, and fails the test that met it.  When the
``truth`` branch fixes one, its cases pass (strict xfails turn into failures
that say so) and its entry goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .checks import Violation


class KnownLie(Exception):
    """Raised by a scenario whose only violations are known lies (see `KNOWN_LIES`)."""


@dataclass(frozen=True)
class Lie:
    name: str
    checks: tuple[str, ...]
    words: re.Pattern
    reason: str
    #: Seen in some runs only (a race): its case cannot be a strict xfail.
    intermittent: bool = False

    def matches(self, v: Violation) -> bool:
        return v.check in self.checks and bool(self.words.search(v.message))


KNOWN_LIES = (
    Lie("time-wait-shown-as-close", ("state", "ss"),
        re.compile(r"(FIN_WAIT1|FIN_WAIT2|CLOSING) → CLOSE is no transition|"
                   r"is CLOSE in the log .* ss showed (TIME_WAIT|FIN_WAIT2)"),
        "the kernel view reads the descriptor's state: a connection in TIME_WAIT is "
        "logged CLOSE (issue 20, 'A reset that never happened')"),
    Lie("reset-that-never-happened", ("lesson",),
        re.compile(r"says 'RST arrived' but no RST to this socket"),
        "a connection closed by FIN/ACK is explained 'a RST arrived' (issue 20, 'A reset "
        "that never happened')"),
    Lie("reset-credited-to-a-gone-socket", ("credit",),
        re.compile(r"RST.* credited to .*(never had this connection|not this connection)"),
        "a RST the kernel sent for a closed port is credited to the server socket "
        "(issue 20, 'A reset credited to a socket that was gone')"),
    Lie("refused-syn-credited-to-another-client", ("credit",),
        re.compile(r"SYN seq=0 .* credited to client\[\d+\]: .*(not this connection|"
                   r"never had this connection|never had a socket)"),
        "found by the oracle (random sessions, after truth's capture changes): the SYN of "
        "a connect to a closed port is credited to the client made before the one that "
        "sent it (client[1], whose connect failed with EBADF without a socket, shown "
        "sending client[2]'s SYN)", intermittent=True),
    Lie("udp-not-captured", ("packet",), re.compile(r"captured segment UDP .* no packet row"),
        "datagrams are never captured: UDP has no packet rows (issue 20, 'UDP on the wire')"),
    Lie("host-from-the-side", ("host",), re.compile(r"lives on host"),
        "the host of a state line comes from the side, not from the socket's namespace "
        "(issue 20, 'The wrong host')"),
    Lie("state-before-its-accept", ("causality",),
        re.compile(r"line before the accept\(\) that made this socket"),
        "an accepted connection's state line is numbered before the accept() that "
        "returned it (issue 20, 'Order': states placed when polled)", intermittent=True),
    Lie("state-before-its-segment", ("state",),
        re.compile(r"is shown before what caused it"),
        "a state line is numbered before the segment (or call) that caused it, when the "
        "kernel view read it before the capture (or the call) reported (issue 20, "
        "'Order')", intermittent=True),
    Lie("connect-after-its-own-close", ("causality",),
        re.compile(r"connect\(\) fails with EBADF after the connection was ESTABLISHED"),
        "a connect that reached ESTABLISHED ends, after its socket's close, in EBADF "
        "'closed while the call waited' (issue 20, 'A connect after its own close')",
        intermittent=True),
    Lie("packet-before-its-call", ("causality", "time"),
        re.compile(r"before the call it is shown under began|placed after #\S+ \S+ "
                   r"\w+ wait at"),
        "a call's wait line carries a time after the segments the call sent (issue 20, "
        "'Order': a packet row can carry an earlier time than its call)",
        intermittent=True),
    Lie("call-numbered-after-the-close", ("causality",),
        re.compile(r"\(\) done after its close \(#\S+\)$"),
        "a quick call that ran before the lab's close (Reset, Run again) is numbered "
        "after it with the close's time, succeeding on a closed socket (issue 20, "
        "'Order')", intermittent=True),
    Lie("wait-after-the-close-that-ended-it", ("causality",),
        re.compile(r"\) wait after its close"),
        "a call pressed before the lab's close (Run again, a type change) is logged "
        "waiting after that close, then 'closed while the call waited' (issue 20, "
        "'Order')", intermittent=True),
    Lie("tcp-error-explained-with-datagrams", ("lesson",),
        re.compile(r"TCP socket, but its .* explained with datagrams"),
        "ECONNREFUSED on a TCP socket's send is explained as a datagram's ICMP 'port "
        "unreachable' (issue 20, 'Wrong words')", intermittent=True),
)


def known(v: Violation) -> Lie | None:
    return next((lie for lie in KNOWN_LIES if lie.matches(v)), None)


def verdict(violations: list[Violation], report: str, *, at_random: bool = False) -> None:
    """Fail on any new lie; raise `KnownLie` (or xfail, for a race or a random
    session, which cannot promise to meet a lie) on known ones."""
    import pytest
    new = [v for v in violations if known(v) is None]
    assert not new, "new lies found by the oracle:\n" + report
    if not violations:
        return
    lies = {known(v) for v in violations}
    if at_random or all(lie.intermittent for lie in lies):
        pytest.xfail("known lie(s), seen in this run: "
                     + "; ".join(sorted(lie.reason for lie in lies)))
    raise KnownLie(report)
