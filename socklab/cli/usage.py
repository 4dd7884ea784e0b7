"""Usage: the commands' exit statuses, `UsageError`, and argument checks.

Every command module takes these from here (and `socklab.cli.parser` builds
the parser with them), so a command that adds its own options never imports
the parser that imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from ..inputs import InputError, parse_port

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: ``--packets``' help, the same for every command that has it.
PACKETS_HELP = ("also show the TCP segments under each call (captured on lo; needs "
                "CAP_NET_RAW, else inferred from TCP_INFO counters)")
T = TypeVar("T")


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


def port_arg(text: str, allow_zero: bool = True) -> int:
    """A port option or argument (0 allowed unless ``allow_zero`` is False)."""
    try:
        return parse_port(text, allow_zero=allow_zero)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` from one of socklab.inputs' parsers: same rules, same words."""
    def check(text: str) -> T:
        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    check.__name__ = parse.__name__.removeprefix("parse_")
    return check
