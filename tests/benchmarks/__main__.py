"""``python -m tests.benchmarks``: run every figure and print the table.

Exit status 0 when every figure meets its target, 1 otherwise.  Options:
``--only 1,3`` runs some figures; ``--quick`` runs fewer repeats.
"""

from __future__ import annotations

import argparse
import sys
import time

from .run import FIGURES, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks",
                                     description="socklab's performance benchmark")
    parser.add_argument("--only", default="", help="figures to run, e.g. 1,3 (default all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    args = parser.parse_args(argv)
    wanted = {int(x) for x in args.only.split(",") if x.strip()} or set(FIGURES)
    started = time.perf_counter()
    figures, text = run(wanted, quick=args.quick, progress=sys.stderr)
    print(text)
    print(f"\n{sum(f.passed for f in figures)} of {len(figures)} figures meet their target "
          f"({time.perf_counter() - started:.0f} s)")
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
