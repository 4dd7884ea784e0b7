"""``socklab``: the lab with no arguments, a headless command else.

Each command is a module of this package with a ``run(args)``, imported only
when chosen.  Exit status: 0 success, 1 a socket call failed (the event says
why), 2 bad usage (one line on stderr, never a traceback), 128 + N when signal
N (SIGTERM, SIGHUP) stopped it after every socket was closed, 70 an unexpected
error (one line on stderr saying where the full report was written).
"""

from __future__ import annotations

import importlib
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn

from ..guard import exit_status, report_crash, stop_signals
from .parser import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, build_parser

#: The headless commands, each the module of this package that runs it.
COMMANDS = ("serve", "connect", "demo", "ports", "code", "web", "replay", "lesson", "cleanup",
            "run", "check")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A command given first is the one argparse runs: only its options are built.
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
        if args.lab_cable is not None and (args.command is not None or not args.two_hosts):
            raise UsageError("--cable goes with --two-hosts (socklab --two-hosts --cable "
                             "'delay 100ms'), or on a demo (socklab demo reliability "
                             "--cable 'loss 5%')")
        if args.command is None:
            from ..ui.app import run_app
            from ..ui.two_hosts import TwoHosts
            if args.two_hosts and not TwoHosts.can_start():
                return EXIT_FAILED  # one line said why (not root) and how to run it
            _check_programs(args.server_program, args.client_program)
            return run_app(theme=args.theme, two_hosts=args.two_hosts, cable=args.lab_cable,
                           server_program=args.server_program,
                           client_program=args.client_program)
        command = importlib.import_module(f"{__package__}.{args.command}")
        with stop_signals() as received:
            try:
                status = int(command.run(args))
            except KeyboardInterrupt:
                status = EXIT_OK  # stopped before the lab had a socket to close
        return exit_status(received[0]) if received else status
    except UsageError as exc:
        print(f"socklab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # never a traceback: the report goes to a file
        return report_crash(f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _check_programs(*programs: str | None) -> None:
    """``--server-program`` / ``--client-program``: a missing file or command is bad
    usage, said before the screen opens."""
    from ..program.runner import ProgramError, command_for, pane_argv
    for program in programs:
        if program is None:
            continue
        try:
            command_for(pane_argv(program))
        except ProgramError as exc:
            raise UsageError(str(exc)) from None


def _thread_excepthook(hook_args: threading.ExceptHookArgs) -> None:
    # An unexpected error in a lab thread is one line (and a report), never a traceback.
    name = hook_args.thread.name if hook_args.thread else "?"
    details = "".join(traceback.format_exception(
        hook_args.exc_type, hook_args.exc_value, hook_args.exc_traceback))
    report_crash(f"in {name}: {hook_args.exc_type.__name__}: {hook_args.exc_value}",
                 f"thread: {name}\n{details}")


def entry() -> NoReturn:
    threading.excepthook = _thread_excepthook
    sys.exit(main())
