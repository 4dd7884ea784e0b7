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


def add_parser(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="serve the lab to a browser (a classroom's projector)")
    web.add_argument("--host", type=checked(parse_host), default=LOOPBACK[socket.AF_INET],
                     help="address to serve on (default 127.0.0.1: this machine only; "
                          "any other address lets others drive real sockets here)")
    web.add_argument("--port", type=port_arg, default=DEFAULT_PORT,
                     help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")


def run(args: argparse.Namespace) -> int:
    from ..ui.web import serve_web
    return serve_web(args.host, args.port)
