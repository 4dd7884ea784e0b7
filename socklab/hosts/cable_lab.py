"""The cable in a lab: each change of its conditions is an event in the log.

`set_cable` gives a two-hosts lab's cable new conditions and emits the
``cable`` event (SPEC §3): ``args`` the cable's words, ``result`` each
condition and the words again (``"spec"``), ``lesson`` what a learner should
expect to see.  `report` emits what the cable did to the packets so far (the
same op, with ``"counts"`` in its result).  So a saved log says which cable
every call crossed, and a replay shows it.  UI-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import SERVER, Event
from .cable import Conditions

if TYPE_CHECKING:
    from ..engine import Lab


class NoHosts(OSError):
    """The lab is on one machine: there is no cable to change."""


def expectations(c: Conditions) -> str:
    """What these conditions will show, in a learner's words."""
    if c.perfect:
        return ("a perfect cable: every packet arrives at once, in order, exactly once "
                "(as on loopback)")
    parts = []
    if c.delay_ms:
        parts.append(f"each packet takes {c.delay_ms:g} ms each way, so connect() takes a "
                     f"round trip ({2 * c.delay_ms:g} ms) and each request/reply one more")
    if c.jitter_ms:
        parts.append(f"delays vary by up to {c.jitter_ms:g} ms, so packets can overtake "
                     "each other")
    if c.loss:
        parts.append(f"{c.loss:g}% of packets are lost: TCP sends them again "
                     "(retransmissions), UDP's datagrams are simply gone")
    if c.duplicate:
        parts.append(f"{c.duplicate:g}% arrive twice: TCP discards the copy (a duplicate ACK "
                     "says so), UDP delivers it twice")
    if c.reorder:
        parts.append(f"{c.reorder:g}% are held back and arrive after later ones: TCP puts "
                     "the bytes back in order")
    if c.rate_bps:
        parts.append(f"the cable carries {c.rate_bps / 1000:g} kbit/s, so a big send "
                     "takes time and queues")
    return "; ".join(parts)


def set_cable(lab: Lab, conditions: Conditions) -> Event:
    """The two-hosts lab's cable from now on: changed, then said in the log."""
    if lab.hosts is None:
        raise NoHosts("the cable joins two hosts: turn two-hosts mode on first (F7)")
    lab.hosts.set_cable(conditions)
    return lab.bus.emit(side=SERVER, conn=None, op="cable", args=(conditions.spec(),),
                        result=conditions.to_dict(), lesson=expectations(conditions),
                        host=None)


def report(lab: Lab) -> Event | None:
    """What the cable did so far (carried, lost, duplicated… each way), as an event."""
    if lab.hosts is None:
        return None
    counts = lab.hosts.cable_counts()
    conditions = lab.hosts.conditions
    return lab.bus.emit(side=SERVER, conn=None, op="cable", args=(conditions.spec(),),
                        result={**conditions.to_dict(), "counts": counts},
                        lesson=COUNTS_LESSON, host=None)


COUNTS_LESSON = ("what the cable did to the packets it carried each way (A→B: host A to host "
                 "B): a packet lost here is what TCP sent again and what UDP never delivered")
