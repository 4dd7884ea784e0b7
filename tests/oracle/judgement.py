"""All the checks, in the order they build on each other, and `judge` to run them."""

from __future__ import annotations

from .checks import Judge, check_credit, check_packets, fit_offset, resolve_clients
from .claims import check_hosts, check_lessons, check_ss, check_states
from .evidence import Evidence
from .order import check_causality, check_time

CHECKS = (check_packets, fit_offset, resolve_clients, check_credit, check_states, check_ss,
          check_lessons, check_hosts, check_causality, check_time)


WIRE_CHECKS = (check_packets, check_credit, check_states, check_lessons)


def judge(events: list[dict], evidence: Evidence, *, packets_claimed: bool = True,
          wire: bool = True) -> Judge:
    """Run every check; the verdict is in ``.violations`` (and ``.checked``)."""
    j = Judge(events, evidence, packets_claimed=packets_claimed, wire=wire)
    for check in CHECKS:
        if wire or check not in WIRE_CHECKS:
            check(j)
    return j
