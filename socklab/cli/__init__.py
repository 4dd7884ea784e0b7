"""The ``socklab`` command: the lab with no arguments, headless subcommands else.

Subcommands import no textual or rich: they print events from the engine, as
human lines or JSON Lines (one object per event, flushed, so another program
can follow along).  Exit status: 0 success, 1 a socket call failed (the event
says why), 2 bad usage (one line on stderr, never a traceback).

- `parser`  the options (bad usage is `UsageError`)
- `main`    ``main(argv)`` and the ``socklab`` entry point
- `output`  `Printer`: events as human lines or JSON Lines
- `serve`, `connect`, `demo`, `ports`, `code`: one module per command
"""

from __future__ import annotations

from .main import COMMANDS, entry, main
from .output import Printer
from .parser import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    _positive,
    _seconds,
    build_parser,
)

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Printer", "UsageError",
           "_positive", "_seconds", "build_parser", "entry", "main"]
