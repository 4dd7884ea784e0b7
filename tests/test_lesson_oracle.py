"""Every lesson played by hand, as a learner does it (`lesson_learner.by_hand`),
passes the oracle as the ``--auto`` plays do: in a network namespace of its own,
with tcpdump and ss as the evidence (tests/test_oracle_scenarios.py).

It is played at 80×21, the size of ``socklab web ?fontsize=28``
(tests/test_lesson_web.py); tests/test_lesson_learner.py plays it at 80×24 and
120×36.

A lesson that is a known lie under --auto (`LESSON_LIES`) has the same mark here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lesson_learner import NAMES, skip_unplayable
from oracle.evidence import load_samples
from oracle.lies import verdict
from oracle.runner import run_command, unavailable
from test_lesson_web import WEB_28
from test_oracle_scenarios import LESSON_LIES

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

LEARNER = Path(__file__).resolve().parent / "lesson_learner.py"


@pytest.mark.parametrize("name", [pytest.param(n, marks=LESSON_LIES[n]) if n in LESSON_LIES
                                  else n for n in NAMES])
def test_a_lesson_played_by_hand_passes_the_oracle(name: str) -> None:
    skip_unplayable(name)
    outcome = _by_hand(name)
    assert outcome.rc == 0, f"the lesson was not completed by hand: {outcome.stderr[-3000:]}"
    assert sum(outcome.judge.checked.values()) > 0, outcome.report()
    verdict(outcome.violations, outcome.report())


def _by_hand(name: str, keep: Path | None = None):
    return run_command(f"lesson {name} by hand",
                       [sys.executable, str(LEARNER), name, "x".join(map(str, WEB_28))],
                       sample_hosts=True, keep=keep)


def test_the_states_the_latency_lesson_names_are_the_kernels(tmp_path: Path) -> None:
    """Issue 26: across the satellite cable, the lesson's LAST_ACK (the client's, a
    round trip long) and SYN_RECV (host A's, seen by ss only) are in the kernel's own
    socket table, sampled by the oracle in each host's namespace."""
    skip_unplayable("latency")
    outcome = _by_hand("latency", keep=tmp_path)
    assert outcome.rc == 0, outcome.stderr[-3000:]
    seen = {(sample.ns.rsplit("-", 1)[-1], state) for sample in
            load_samples(outcome.folder / "ss.jsonl") if sample.ns
            for proto, state, _, _ in sample.rows if proto == "tcp"}
    assert ("b", "LAST-ACK") in seen and ("a", "TIME-WAIT") in seen, sorted(seen)
    assert ("a", "SYN-RECV") in seen, sorted(seen)
    log = (outcome.folder / "log.jsonl").read_text()
    assert '"state": "LAST_ACK"' in log
