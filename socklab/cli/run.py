"""``socklab run [--side server|client] [--packets] [--json] -- COMMAND [ARGS...]``:
the learner's own program, its socket calls in the lab's log (socklab.program)."""

from __future__ import annotations

import argparse

from .usage import EXIT_FAILED, EXIT_OK, UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .usage import PACKETS_HELP
    run = sub.add_parser("run", help="run your own program: its socket calls in the log")
    run.add_argument("--side", choices=("server", "client"), default=None,
                     help="the side its calls show as (default: from its first call: "
                     "listen → server, connect → client)")
    run.add_argument("--packets", action="store_true", help=PACKETS_HELP)
    run.add_argument("--json", action="store_true", help="print JSON Lines")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="stop the program after this long (default: never)")
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                     help="the program and its arguments (python3 x.py, x.py, -m pkg, nc …)")


def run(args: argparse.Namespace) -> int:
    # Imported here: every command's parser adds this one's options (add_parser),
    # and the others need none of the program runner.
    from ..capture import watching
    from ..engine import Lab
    from ..program.runner import ProgramError, ProgramRun
    from .output import Printer, closing, note
    argv = list(args.program)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise UsageError("no program given: socklab run -- COMMAND [ARGS...]")
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UsageError("--timeout: give between 0 and 3600 seconds")
    printer = Printer(args.json)
    lab = Lab()
    lab.subscribe(printer)
    try:
        program = ProgramRun(lab, argv, args.side)
    except ProgramError as exc:
        raise UsageError(str(exc)) from None
    # strace reports a connect after its SYN: the ports named on the command line
    # pass the capture's filter from the start (a Python program says its own in time).
    ports = [int(a) for a in argv[1:] if a.isdigit() and 0 < int(a) < 65536]
    with watching(lab, args.packets, note, ports), closing(lab):
        try:
            program.start()
        except ProgramError as exc:
            raise UsageError(str(exc)) from None
        try:
            outcome = program.wait(args.timeout)
        except KeyboardInterrupt:
            program.stop()
            program.wait(5.0)
            raise
        if outcome.timed_out:
            note(f"{program.command.name} was still running after {args.timeout:g} s: stopped")
        else:
            note(f"{program.command.name} exited with status {outcome.status}")
        return EXIT_OK if outcome.status == 0 and not outcome.timed_out else EXIT_FAILED
    return EXIT_OK
