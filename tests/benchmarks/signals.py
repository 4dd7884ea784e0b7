"""Figure 12: keys and stop signals win over a regular expression (issue 23).

The issue's "done when" figures, timed here instead of in the tests (which
check what happens, not how fast: tests/test_signals_win.py), with the same
steps in a real terminal (tmux):

- a key typed into the regex box while the catastrophic pattern backtracks
  over romeo.txt is answered within 1 s;
- SIGTERM, SIGINT and SIGHUP each end a lab whose UI thread is stuck in that
  pattern within 2 s (the signal watchdog), and SIGTERM ends a lab whose box
  is backtracking within 2 s.

Each time is polled: the terminal every 50 ms, the process every 20 ms.  There
is no baseline: the targets are the issue's seconds.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

TESTS = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _in_a_terminal(args: list[str], steps: Callable[..., T]) -> T:
    """Run ``steps(term, folder)`` on socklab (``args``) in a tmux of its own."""
    from test_terminal import Terminal
    with tempfile.TemporaryDirectory(prefix="socklab-fig12-") as folder:
        term = Terminal(args, Path(folder))
        try:
            return steps(term, Path(folder))
        finally:
            term.close()


def _regex_box() -> tuple[float, float, float]:
    """Idle answer, answer while backtracking, SIGTERM while backtracking (s)."""
    from test_signals_win import FETCH_ROMEO, answer_while_backtracking, stop_while_backtracking

    def steps(term, folder: Path) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
        idle, answered = answer_while_backtracking(term)
        term.wait_for(lambda s: "pattern took too long" in s, "the time limit's message")
        _pid, took = stop_while_backtracking(term)
        return idle, answered, took

    with tempfile.TemporaryDirectory(prefix="socklab-fig12-lesson-") as lessons:
        lesson = Path(lessons) / "romeo.md"
        lesson.write_text(FETCH_ROMEO)
        return _in_a_terminal(["-m", "socklab", "lesson", str(lesson), "--auto",
                               "--pause", "0.1"], steps)


def _stuck(signum: int) -> float:
    from test_signals_win import STUCK, stop_a_stuck_lab
    return _in_a_terminal(["-c", STUCK],
                          lambda term, folder: stop_a_stuck_lab(term, folder, signum)[1])


def signals_figures(repeats: int) -> list:  # type: ignore[type-arg]
    from .report import Figure
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))  # the tests' own steps (tests/ is no package)
    answers, stops, regex_stops, idles = [], [], [], []
    for _ in range(repeats):
        idle, answered, took = _regex_box()
        idles.append(idle)
        answers.append(answered)
        regex_stops.append(took)
        stops += [_stuck(signum) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)]
    key = Figure("12 key answered while a regex backtracks", max(answers), None, "s", 1.0,
                 False, goal="the regex box never hangs the lab")
    key.notes.append(f"the slowest of {repeats}; each: "
                     + ", ".join(f"{a:.2f}" for a in answers)
                     + " s (a key idle: " + ", ".join(f"{i:.2f}" for i in idles) + " s)")
    stop = Figure("12 stop signal over a stuck UI thread", max(stops), None, "s", 2.0, False,
                  goal="signals always win")
    stop.notes.append("SIGTERM, SIGINT, SIGHUP in turn, the slowest of "
                      f"{len(stops)}: " + ", ".join(f"{s:.2f}" for s in stops) + " s")
    regex = Figure("12 SIGTERM while a regex backtracks", max(regex_stops), None, "s", 2.0,
                   False, goal="signals always win")
    regex.notes.append("each: " + ", ".join(f"{s:.2f}" for s in regex_stops) + " s")
    return [key, stop, regex]
