"""``socklab replay FILE``: a saved session (the lab's ``j``, any ``--json``) played back.

A file that is not a socklab log is one line naming the line and exit status 2;
the lab's screen opens only for a log that reads.  ``FILE`` may also name a
recording shipped with socklab (``welcome``, ``backlog``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..replay import NotALog, load, recording_names
from .output import note
from .usage import EXIT_USAGE


def add_parser(sub: argparse._SubParsersAction) -> None:
    shipped = ", ".join(recording_names())
    replay = sub.add_parser("replay", help="play back a saved JSON Lines log, step by step")
    replay.add_argument("file", metavar="FILE",
                        help=f"a saved .jsonl log, or a shipped recording: {shipped}")
    replay.add_argument("--speed", type=_speed, default=1.0,
                        help="playing speed: 1 is about two events a second (default 1)")
    replay.add_argument("--play", action="store_true",
                        help="start playing from the first event at once")


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: give a speed from 0.1 to 100")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        recording = load(Path(args.file))
    except NotALog as exc:
        note(str(exc))
        return EXIT_USAGE
    from ..ui.replay import run_replay
    return run_replay(recording, speed=args.speed, play=args.play)
