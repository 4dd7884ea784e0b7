"""``socklab check EXERCISE FILE [--json]``: a learner's program checked against
real lab peers (socklab.program.exercises); exit 0 when every test passes."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .usage import EXIT_FAILED, EXIT_OK, UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..program.client_exercises import EXERCISES
    check = sub.add_parser("check", help="check your program against the lab: "
                           + ", ".join(EXERCISES))
    check.add_argument("exercise", choices=list(EXERCISES), metavar="EXERCISE",
                       help="which exercise: " + ", ".join(EXERCISES))
    check.add_argument("file", metavar="FILE", help="your program (a .py file)")
    check.add_argument("--json", action="store_true",
                       help="print the results as Gradescope's results.json")


def run(args: argparse.Namespace) -> int:
    from ..program.client_exercises import EXERCISES
    if not os.path.isfile(args.file):
        raise UsageError(f"{args.file}: no such file")
    from ..program.checker import finish_all
    try:
        results = EXERCISES[args.exercise](args.file)
    finally:
        finish_all()  # Ctrl-C, a signal, an error: no program is left running
    passed = all(result.passed for result in results)
    if args.json:
        tests = [result.gradescope() for result in results]
        report = {"score": sum(t["score"] for t in tests),
                  "max_score": sum(t["max_score"] for t in tests), "tests": tests}
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=True) + "\n")
    else:
        for result in results:
            mark = "✓" if result.passed else "✗"
            print(f"{mark} {result.name}")
            for line in result.output.splitlines():
                print(f"    {line}")
        count = sum(result.passed for result in results)
        print(f"{count}/{len(results)} passed" + ("" if passed else
                                                  f": {args.exercise} is not done yet"))
    sys.stdout.flush()
    return EXIT_OK if passed else EXIT_FAILED
