"""``socklab demo NAME``: one of the lecture's demos, every call printed."""

from __future__ import annotations

import argparse

from ..demos import run_demo
from .output import Printer


def run(args: argparse.Namespace) -> int:
    return run_demo(args.name, Printer(args.json), packets=args.packets)
