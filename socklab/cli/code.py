"""``socklab code server|client``: the lecture's program for these settings."""

from __future__ import annotations

import argparse
import sys

from ..codegen import generate
from ..inputs import InputError
from .output import note
from .usage import EXIT_OK, UsageError


def run(args: argparse.Namespace) -> int:
    if args.json:
        raise UsageError("--json: code prints a Python program, not events "
                         "(use --output FILE to save it)")
    try:
        program = generate(args.role, args.family, args.kind, args.host, args.port,
                           backlog=args.backlog, mode=args.mode)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(program)
        except OSError as exc:
            raise UsageError(f"--output: cannot write {args.output}: {exc.strerror}") from None
        note(f"wrote {args.output}")
        return EXIT_OK
    sys.stdout.write(program)
    return EXIT_OK
