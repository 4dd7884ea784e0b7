"""The ``socklab`` command line: its options, each checked by socklab.inputs' parsers.

Bad usage raises `UsageError`: one line on stderr and exit status 2, never a
traceback.  The server modes and the demos are listed once, in socklab.modes
and socklab.demos; the options offer exactly those.
"""

from __future__ import annotations

import argparse
import socket
from typing import NoReturn

from .. import __version__
from ..inputs import (
    InputError,
    family_name,
    parse_backlog,
    parse_family,
    parse_host,
    parse_type,
)
from .usage import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PACKETS_HELP,
    UsageError,
    checked,
    port_arg,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _add_endpoint_options(p: argparse.ArgumentParser, port_default: str | None,
                          events: bool = True) -> None:
    p.add_argument("--family", type=checked(parse_family), default=socket.AF_INET,
                   metavar="inet|inet6", help="address family (default inet)")
    p.add_argument("--type", dest="kind", type=checked(parse_type), default=socket.SOCK_STREAM,
                   metavar="stream|dgram", help="socket type (default stream)")
    # A command that prints no events (code) still takes --json, to refuse it in words.
    p.add_argument("--json", action="store_true",
                   help="print JSON Lines, one event per line" if events else argparse.SUPPRESS)
    if port_default is not None:
        p.add_argument("--host", type=checked(parse_host), default=None,
                       help="address to bind (default 127.0.0.1, or ::1 for inet6)")
        p.add_argument("--port", type=port_arg, default=int(port_default),
                       help=f"port to bind, 0 = let the kernel choose (default {port_default})")


#: ``--packets`` (serve, connect, demo): the wire under the calls (socklab.capture).


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser.  ``command`` (the command main() was given
    first): only its options are built in full, the other commands are named
    bare, so a command's start-up imports none of the others' modules (demos,
    replay, the program checker).  None builds every command (``--help``)."""
    parser = _Parser(
        prog="socklab",
        description="An interactive lab for learning network sockets with real calls. "
        "With no command, opens the lab.",
    )
    parser.add_argument("--version", action="version", version=f"socklab {__version__}")
    parser.add_argument("--theme", help="the lab's theme (e.g. projector)")
    parser.add_argument("--two-hosts", action="store_true",
                        help="open the lab with the server on host A and the client on "
                        "host B: two network namespaces joined by a cable (needs root)")
    parser.add_argument("--server-program", metavar="FILE", default=None,
                        help="open the lab with your own server program running in the "
                        "server pane (FILE: a Python file or a command): its calls in the "
                        "log, the lab's client talks to it (F3 switches the pane)")
    parser.add_argument("--client-program", metavar="FILE", default=None,
                        help="open the lab with your own client program in the client "
                        "pane, to Start once the lab's server runs (F5); F4 switches the pane")
    parser.add_argument("--cable", dest="lab_cable", type=_cable, default=None,
                        metavar="CONDITIONS",
                        help="with --two-hosts: the cable's conditions, e.g. "
                        "'delay 100ms loss 10%%'")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run a server and print every call it makes")
    _add_endpoint_options(serve, "1024")
    from ..engine.endpoint import somaxconn
    serve.add_argument("--backlog", type=checked(parse_backlog), default=None,
                       help="listen() backlog (default: the kernel's cap, net.core.somaxconn, "
                       f"{somaxconn()} here, as servers such as Go's do: a burst of a "
                       "thousand clients waits in the queue instead of timing out; the "
                       "lab's panes keep the lecture's listen(5))")
    from ..modes import MODES, REQUEST_TIMEOUT
    serve.add_argument("--mode", choices=MODES, default="welcome",
                       help="what the server does (default welcome)")
    serve.add_argument("--count", type=checked(_positive), default=None,
                       help="stop after N connections (or datagrams)")
    serve.add_argument("--reuseaddr", action="store_true", help="set SO_REUSEADDR before bind")
    serve.add_argument("--request-timeout", type=checked(_seconds), default=REQUEST_TIMEOUT,
                       metavar="SECONDS",
                       help="http mode: how long to wait for a request's blank line before "
                            f"answering 408 (default {REQUEST_TIMEOUT:g})")
    serve.add_argument("--max-connections", type=checked(_positive), default=None,
                       help="connections kept open at once; more are refused")
    serve.add_argument("--packets", action="store_true",
                       help=PACKETS_HELP)

    connect = sub.add_parser("connect", help="connect to HOST PORT, send, print the reply")
    connect.add_argument("host", type=checked(parse_host), help="host to connect to")
    connect.add_argument("port", type=lambda t: port_arg(t, allow_zero=False), help="port")
    _add_endpoint_options(connect, None)
    connect.add_argument("--send", action="append", default=[], metavar="TEXT",
                         help=r"text to send; \r\n \t \xNN escapes work; repeatable")
    connect.add_argument("--send-file", metavar="FILE", help="send this file's bytes")
    connect.add_argument("--idle", type=checked(_seconds), default=2.0, metavar="SECONDS",
                         help="stop waiting for data after this long with none "
                         "(more than 0, at most 3600; default 2)")
    connect.add_argument("--timeout", type=checked(_seconds), default=10.0, metavar="SECONDS",
                         help="connect timeout (more than 0, at most 3600; default 10)")
    connect.add_argument("--half-close", action="store_true",
                         help="shutdown(SHUT_WR) after sending, so the peer sees EOF")
    connect.add_argument("--packets", action="store_true",
                         help=PACKETS_HELP)

    if command in (None, "demo"):
        _add_demo(sub)
    else:
        sub.add_parser("demo")

    lesson = sub.add_parser("lesson", help="open the lab on a guided lesson "
                            "(--list names them)")
    lesson.add_argument("name", nargs="?", default="welcome",
                        help="a lesson's name, or a lesson file (.md); default welcome")
    lesson.add_argument("--list", action="store_true", help="list the lessons: name, title")
    lesson.add_argument("--auto", action="store_true",
                        help="play the lesson by itself, step by step, for a class")
    lesson.add_argument("--pause", type=checked(_pause), default=3.0, metavar="SECONDS",
                        help="with --auto: seconds to read each step and each "
                        "explanation, 0 to 3600 (default 3)")

    ports = sub.add_parser("ports", help="port ranges, service names, and what listens here")
    ports.add_argument("range", nargs="?", default=None, metavar="RANGE",
                       help="a port (80), a range (1-1024) or a service name (http); "
                       "default: the lecture's table of common ports")
    ports.add_argument("--scan", action="store_true",
                       help="check which ports listen on this machine (loopback only)")
    ports.add_argument("--host", default="127.0.0.1",
                       help="scan target: 127.0.0.1 or ::1 (default 127.0.0.1)")
    ports.add_argument("--all", action="store_true",
                       help="list every port of a big range, not only the interesting ones")
    ports.add_argument("--json", action="store_true", help="print JSON Lines, one port per line")

    sub.add_parser("cleanup", help="remove the network namespaces of two-hosts runs "
                   "that were killed (running labs' are left alone)")

    code = sub.add_parser("code", help="print the lecture's server or client program "
                          "for these settings")
    code.add_argument("role", choices=("server", "client"), help="which program")
    _add_endpoint_options(code, "1024", events=False)
    code.add_argument("--backlog", type=checked(parse_backlog), default=5,
                      help="listen() backlog (default 5)")
    code.add_argument("--mode", choices=MODES, default="welcome",
                      help="what the server does (default welcome)")
    code.add_argument("--output", "-o", metavar="FILE", help="write the program to FILE")
    _add_classroom(sub, command)
    return parser


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from ..demos import DEMOS
    demo = sub.add_parser("demo", help="run a lecture demo: " + ", ".join(DEMOS))
    demo.add_argument("name", nargs="?", default="welcome", choices=list(DEMOS),
                      help="which demo (default welcome)")
    demo.add_argument("--json", action="store_true", help="print JSON Lines")
    demo.add_argument("--packets", action="store_true",
                      help=PACKETS_HELP)
    demo.add_argument("--cable", type=_cable, default=None, metavar="CONDITIONS",
                      help="the two-hosts demos' cable, e.g. 'delay 100ms loss 10%%' "
                      "(delay, jitter, loss, duplicate, reorder, rate; or a preset)")


def _add_classroom(sub: argparse._SubParsersAction, command: str | None = None) -> None:
    """The classroom's commands (issue 13): each module adds its own options;
    with ``command`` another command, each is only named (see `build_parser`)."""
    import importlib
    # web, replay: issue 13; run, check: the learner's own program (issue 25).
    for name in ("web", "replay", "run", "check"):
        if command in (None, name):
            importlib.import_module(f"{__package__}.{name}").add_parser(sub)
        else:
            sub.add_parser(name)


def _cable(text: str) -> object:
    """``--cable``: the cable's conditions in words (socklab.hosts.cable)."""
    from ..hosts.cable import CableError, parse
    try:
        return parse(text)
    except CableError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{text!r} is not a whole number of 1 or more")
    return int(raw)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise InputError(f"{text!r}: give more than 0 and at most 3600 seconds")
    return value


def _pause(text: str) -> float:
    """``--pause``: 0 is allowed (each step still waits for its real events)."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise InputError(f"{text!r}: give from 0 to 3600 seconds")
    return value


def resolve_or_usage(host: str, port: int, family: int, kind: int) -> None:
    """An unknown host is bad usage (exit 2), said in one line."""
    try:
        socket.getaddrinfo(host, port, family, kind)
    except socket.gaierror as exc:
        raise UsageError(f"host {host!r} does not resolve for {family_name(family)} "
                         f"({exc.strerror}); {_resolve_hint(host, port, family, kind)}") from None
    except (UnicodeError, ValueError) as exc:
        raise UsageError(f"host {host!r} is not a valid name: {exc}") from None


#: The option that picks each family, as typed on the command line.
_FAMILY_OPTION = {socket.AF_INET: "--family inet", socket.AF_INET6: "--family inet6"}


def _resolve_hint(host: str, port: int, family: int, kind: int) -> str:
    """What to try instead: the other family's option when the host is of that
    family (``::1`` without ``--family inet6``), else loopback names other than
    the one typed."""
    other = socket.AF_INET6 if family == socket.AF_INET else socket.AF_INET
    try:
        socket.getaddrinfo(host, port, other, kind)
    except (OSError, UnicodeError, ValueError):
        pass
    else:
        return f"it is an {family_name(other)} host: add {_FAMILY_OPTION[other]}"
    loopback = ("127.0.0.1", "localhost") if family == socket.AF_INET else ("::1", "localhost")
    return "try " + " or ".join(name for name in loopback if name != host)


