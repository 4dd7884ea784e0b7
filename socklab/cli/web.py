"""``socklab web [--host H] [--port P]``: the lab in a browser (each browser its own lab).

Loopback by default: any other address is an explicit choice, and the command
says, before serving, that whoever reaches it drives real sockets here.
"""

from __future__ import annotations

import argparse
import socket

from ..inputs import LOOPBACK, parse_host
from .usage import checked, port_arg

DEFAULT_PORT = 8000
#: Labs at once by default (a classroom's worth), and the most --max-sessions allows.
DEFAULT_MAX_SESSIONS, MAX_SESSIONS = 16, 500


def add_parser(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="serve the lab to a browser (a classroom's projector)")
    web.add_argument("--host", type=checked(parse_host), default=LOOPBACK[socket.AF_INET],
                     help="address to serve on (default 127.0.0.1: this machine only; "
                          "any other address lets others drive real sockets here)")
    web.add_argument("--port", type=port_arg, default=DEFAULT_PORT,
                     help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    web.add_argument("--max-sessions", type=_sessions, default=DEFAULT_MAX_SESSIONS,
                     metavar="N", help="labs open at once, at most (default "
                     f"{DEFAULT_MAX_SESSIONS}; each is a process of about 60 MB)")
    web.add_argument("--allow-two-hosts", action="store_true",
                     help="let the browsers' labs turn on two-hosts mode (F7: network "
                          "namespaces, made as the user running socklab web)")
    web.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                     help="a name the browsers may use for this machine (besides its IP "
                          "addresses, localhost and its own host name); repeatable")


def _sessions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_SESSIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to {MAX_SESSIONS}")
    return value


def run(args: argparse.Namespace) -> int:
    from ..ui.web import serve_web
    return serve_web(args.host, args.port, max_sessions=args.max_sessions,
                     allow_two_hosts=args.allow_two_hosts,
                     allowed_hosts=frozenset(args.allow_host))
