"""``python -m tests.oracle [demos] [lessons] [random] [--long] [--steps N] [--keep DIR]``

Runs scenarios in network namespaces of their own and prints what the oracle
found in each: every demo, every lesson played by --auto, and random lab
sessions (CI's size; ``--long``: thousands of steps, ``--steps N``: about N).
Violations are grouped by the known lie they match (`lies.py`) or marked NEW.
Exit 0 when nothing new was found, 1 otherwise, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from .checks import Violation
from .lies import known
from .runner import Outcome, run_demo, run_lesson, run_random, unavailable

DEMOS = ("welcome", "echo", "udp", "ipv6", "http", "refused", "inuse", "two-hosts",
         "backlog", "close", "reset", "boundaries")
#: Steps per random example: long enough for a session to build up state.
STEPS_PER_EXAMPLE = 12


def _lessons() -> list[str]:
    from socklab.guided import all_lessons
    return [lesson.name for lesson in all_lessons()]


def _tell(name: str, violations: list[Violation], found: Counter) -> None:
    for v in violations:
        lie = known(v)
        found[lie.name if lie else f"NEW [{v.check}] {v.message}"] += 1
    names = Counter(known(v).name if known(v) else "NEW" for v in violations)
    print(f"{name}: " + (", ".join(f"{n} ×{c}" for n, c in names.items()) or "true"),
          flush=True)
    for v in violations:
        if known(v) is None:
            print(f"    {v}")


def _scenario(outcome: Outcome, found: Counter) -> None:
    if outcome.rc < 0:  # stopped (too slow): its log is cut short, not judged
        print(f"{outcome.name}: stopped before it ended (signal {-outcome.rc}): not judged")
        found[f"NEW not judged: {outcome.name} did not end in time"] += 1
        return
    done = "" if outcome.rc == 0 else f" (exit status {outcome.rc})"
    _tell(f"{outcome.name}{done}", outcome.violations, found)


def _random(steps: int, keep: Path | None, found: Counter) -> None:
    examples = max(1, steps // STEPS_PER_EXAMPLE)
    started = time.monotonic()
    tally = run_random(examples, STEPS_PER_EXAMPLE, randomize=True, keep=keep)
    found_here = [Violation(v["check"], v["seq"], f"example {v['example']}: {v['message']}")
                  for v in tally["violations"]]
    print(f"random sessions: {tally['examples']} examples, {tally['steps']} steps "
          f"({tally['resets']} resets) in {time.monotonic() - started:.0f} s; claims "
          f"checked: {dict(tally['checked'])}")
    if tally["error"]:
        found[f"NEW invariant: {tally['error'].splitlines()[-1]}"] += 1
        print(tally["error"])
    _tell("random sessions", found_here, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.oracle")
    parser.add_argument("what", nargs="*", choices=["demos", "lessons", "random", []],
                        default=[])
    parser.add_argument("--long", action="store_true", help="random: thousands of steps")
    parser.add_argument("--steps", type=int, default=None, help="random: about this many")
    parser.add_argument("--keep", type=Path, default=None, help="keep the evidence here")
    args = parser.parse_args(argv)
    why = unavailable()
    if why:
        print(f"oracle: {why}", file=sys.stderr)
        return 2
    what = set(args.what or ["demos", "lessons", "random"])
    found: Counter = Counter()
    if "demos" in what:
        for name in DEMOS:
            _scenario(run_demo(name, args.keep), found)
    if "lessons" in what:
        for name in _lessons():
            _scenario(run_lesson(name, args.keep), found)
    if "random" in what:
        _random(args.steps or (6000 if args.long else 250), args.keep, found)
    print("\nfound:" if found else "\nfound: nothing")
    for name, count in found.most_common():
        print(f"  {count:5d}  {name}")
    return 1 if any(name.startswith("NEW") for name in found) else 0


if __name__ == "__main__":
    sys.exit(main())
