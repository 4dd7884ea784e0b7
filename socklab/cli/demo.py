"""``socklab demo NAME``: one of the lecture's demos, every call printed."""

from __future__ import annotations

import argparse

from ..demos import HOSTS_DEMOS, run_demo
from .output import Printer
from .usage import UsageError


def run(args: argparse.Namespace) -> int:
    if args.cable is not None and args.name not in HOSTS_DEMOS:
        raise UsageError(f"--cable joins two hosts: it goes with the demos "
                         f"{', '.join(sorted(HOSTS_DEMOS))}, not {args.name}")
    return run_demo(args.name, Printer(args.json), packets=args.packets, cable=args.cable)
