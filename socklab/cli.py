"""The ``socklab`` command: the lab with no arguments, headless subcommands else.

Subcommands import no textual or rich: they print events from the engine, as
human lines or JSON Lines (one object per event, flushed, so another program
can follow along).  Exit status: 0 success, 1 a socket call failed (the event
says why), 2 bad usage (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from . import __version__
from .events import DONE, Event
from .inputs import (
    InputError,
    family_name,
    host_scope,
    parse_backlog,
    parse_family,
    parse_host,
    parse_port,
    parse_type,
)
from .lessons import CTRL_C, STOPPED
from .logformat import format_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class Printer:
    """A sink that prints each event as it happens and remembers failures."""

    def __init__(self, json_lines: bool, out: TextIO | None = None) -> None:
        self.json = json_lines
        self.out = out or sys.stdout
        self.failures: list[Event] = []
        self.events = 0

    def __call__(self, event: Event) -> None:
        self.events += 1
        if event.phase == DONE and not event.ok:
            self.failures.append(event)
        try:
            self.out.write((event.to_json() if self.json else format_line(event)) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away (``| head``): keep going quietly


def _port(text: str, allow_zero: bool = True) -> int:
    try:
        return parse_port(text, allow_zero=allow_zero)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _checked(parse: Callable[[str], object]) -> Callable[[str], object]:
    def check(text: str) -> object:
        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    check.__name__ = parse.__name__.removeprefix("parse_")
    return check


def _add_endpoint_options(p: argparse.ArgumentParser, port_default: str | None) -> None:
    p.add_argument("--family", type=_checked(parse_family), default=socket.AF_INET,
                   metavar="inet|inet6", help="address family (default inet)")
    p.add_argument("--type", dest="kind", type=_checked(parse_type), default=socket.SOCK_STREAM,
                   metavar="stream|dgram", help="socket type (default stream)")
    p.add_argument("--json", action="store_true", help="print JSON Lines, one event per line")
    if port_default is not None:
        p.add_argument("--host", type=_checked(parse_host), default=None,
                       help="address to bind (default 127.0.0.1, or ::1 for inet6)")
        p.add_argument("--port", type=_port, default=int(port_default),
                       help=f"port to bind, 0 = let the kernel choose (default {port_default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="socklab",
        description="An interactive lab for learning network sockets with real calls. "
        "With no command, opens the lab.",
    )
    parser.add_argument("--version", action="version", version=f"socklab {__version__}")
    parser.add_argument("--theme", help="the lab's theme (e.g. projector)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run a server and print every call it makes")
    _add_endpoint_options(serve, "1024")
    serve.add_argument("--backlog", type=_checked(parse_backlog), default=5,
                       help="listen() backlog (default 5)")
    from .modes import MODES
    serve.add_argument("--mode", choices=MODES, default="welcome",
                       help="what the server does (default welcome)")
    serve.add_argument("--count", type=_checked(_positive), default=None,
                       help="stop after N connections (or datagrams)")
    serve.add_argument("--reuseaddr", action="store_true", help="set SO_REUSEADDR before bind")
    serve.add_argument("--max-connections", type=_checked(_positive), default=None,
                       help="connections kept open at once; more are refused")

    connect = sub.add_parser("connect", help="connect to HOST PORT, send, print the reply")
    connect.add_argument("host", type=_checked(parse_host), help="host to connect to")
    connect.add_argument("port", type=lambda t: _port(t, allow_zero=False), help="port")
    _add_endpoint_options(connect, None)
    connect.add_argument("--send", action="append", default=[], metavar="TEXT",
                         help=r"text to send; \r\n \t \xNN escapes work; repeatable")
    connect.add_argument("--send-file", metavar="FILE", help="send this file's bytes")
    connect.add_argument("--idle", type=_checked(_seconds), default=2.0, metavar="SECONDS",
                         help="stop waiting for data after this long with none (default 2)")
    connect.add_argument("--timeout", type=_checked(_seconds), default=10.0, metavar="SECONDS",
                         help="connect timeout (default 10)")
    connect.add_argument("--half-close", action="store_true",
                         help="shutdown(SHUT_WR) after sending, so the peer sees EOF")

    from .demos import DEMOS
    demo = sub.add_parser("demo", help="run a lecture demo: " + ", ".join(DEMOS))
    demo.add_argument("name", nargs="?", default="welcome", choices=list(DEMOS),
                      help="which demo (default welcome)")
    demo.add_argument("--json", action="store_true", help="print JSON Lines")

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

    code = sub.add_parser("code", help="print the lecture's server or client program "
                          "for these settings")
    code.add_argument("role", choices=("server", "client"), help="which program")
    _add_endpoint_options(code, "1024")
    code.add_argument("--backlog", type=_checked(parse_backlog), default=5,
                      help="listen() backlog (default 5)")
    code.add_argument("--mode", choices=("welcome", "echo", "http", "discard", "manual"),
                      default="welcome",
                      help="what the server does (default welcome)")
    code.add_argument("--output", "-o", metavar="FILE", help="write the program to FILE")
    return parser


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
        raise InputError(f"{text!r}: give between 0 and 3600 seconds")
    return value


def _resolve_or_usage(host: str, port: int, family: int, kind: int) -> None:
    """An unknown host is bad usage (exit 2), said in one line."""
    try:
        socket.getaddrinfo(host, port, family, kind)
    except socket.gaierror as exc:
        raise UsageError(
            f"host {host!r} does not resolve for {family_name(family)} ({exc.strerror}); "
            "try 127.0.0.1, ::1 or localhost"
        ) from None
    except (UnicodeError, ValueError) as exc:
        raise UsageError(f"host {host!r} is not a valid name: {exc}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from .engine import Lab
    from .modes import STREAM_ONLY
    from .scenarios import ServerPlan, run_server

    if args.mode in STREAM_ONLY and args.kind != socket.SOCK_STREAM:
        raise UsageError(f"--mode {args.mode} needs --type stream")
    host = args.host if args.host is not None else ("::1" if args.family == socket.AF_INET6
                                                      else "127.0.0.1")
    if host_scope(host, args.family) != "all":
        _resolve_or_usage(host, args.port, args.family, args.kind)
    printer = Printer(args.json)
    lab = Lab(max_connections=args.max_connections)
    lab.subscribe(printer)
    if host_scope(host, args.family) == "all":
        print("socklab: warning: listening on every interface: anyone on your network "
              "can connect (use --host 127.0.0.1 to keep it to this machine)", file=sys.stderr)
    plan = ServerPlan(args.family, args.kind, host, args.port, args.backlog, args.mode,
                      reuseaddr=args.reuseaddr, count=args.count)
    reason = STOPPED
    try:
        service = run_server(lab, lab.server(args.family, args.kind), plan)
        if service is None:
            return EXIT_FAILED
        while not service.wait(0.2):
            pass
        return EXIT_FAILED if service.failed else EXIT_OK
    except KeyboardInterrupt:
        print("socklab: stopped (Ctrl-C); closing every socket", file=sys.stderr)
        reason = CTRL_C
        return EXIT_OK
    finally:
        lab.close_all(reason)


def cmd_connect(args: argparse.Namespace) -> int:
    from .engine import Lab
    from .inputs import decode_escapes
    from .scenarios import ClientPlan, run_client

    try:
        payloads = [decode_escapes(text) for text in args.send]
    except InputError as exc:
        raise UsageError(f"--send: {exc}") from None
    if args.send_file:
        try:
            with open(args.send_file, "rb") as f:
                payloads.append(f.read())
        except OSError as exc:
            raise UsageError(f"--send-file: cannot read {args.send_file}: {exc.strerror}") from None
    _resolve_or_usage(args.host, args.port, args.family, args.kind)
    printer = Printer(args.json)
    lab = Lab(connect_timeout=args.timeout)
    lab.subscribe(printer)
    plan = ClientPlan(args.family, args.kind, args.host, args.port, tuple(payloads),
                      half_close=args.half_close, idle=args.idle, recv_size=65536)
    reason = STOPPED
    try:
        ok = run_client(lab, lab.client(args.family, args.kind), plan)
        return EXIT_OK if ok else EXIT_FAILED
    except KeyboardInterrupt:
        print("socklab: stopped (Ctrl-C); closing every socket", file=sys.stderr)
        reason = CTRL_C
        return EXIT_OK
    finally:
        lab.close_all(reason)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demos import run_demo

    printer = Printer(args.json)
    return run_demo(args.name, printer)


#: Above this many ports, `socklab ports` lists only ports with a service name
#: or a finding (use --all for every row).
PORTS_LIST_ALL_UP_TO = 1024


def cmd_ports(args: argparse.Namespace) -> int:
    import json

    from . import ports

    try:
        wanted = (list(ports.parse_range(args.range)) if args.range is not None
                  else [c.port for c in ports.COMMON_PORTS])
        result = ports.scan(args.host, wanted) if args.scan else None
    except InputError as exc:
        raise UsageError(str(exc)) from None
    keep = args.all or args.range is None or len(wanted) <= PORTS_LIST_ALL_UP_TO
    table = ports.services()
    if not keep and table.source != "getservbyport":
        # Only ports with a service name or a finding are listed: look up only
        # those (building all 65,535 rows was a fifth of a full scan's time).
        named = set(table.tcp) | set(table.udp) | (set(result.states) if result else set())
        infos = ports.port_infos(p for p in wanted if p in named)
    else:
        infos = ports.port_infos(wanted)
    shown = [i for i in infos if keep or i.tcp or i.udp
             or (result is not None and result.status(i.port) != ports.FREE)]
    state = (lambda p: result.status(p) if p else "-") if result is not None else None
    out = sys.stdout
    if args.json:
        for i in shown:
            row = {"port": i.port, "class": i.range_class, "tcp": i.tcp, "udp": i.udp,
                   "privileged": i.privileged, "ephemeral": i.ephemeral}
            if state is not None:
                row["state"] = state(i.port)
            out.write(json.dumps(row) + "\n")
        return EXIT_OK
    if args.range is None:
        out.write("The lecture's common TCP ports, corrected\n")
        uses = {c.port: c for c in ports.COMMON_PORTS}
        out.write(f"{'PORT':>5}  {'PROTOCOL':<9} {'PYTHON LIBRARY':<50} USE"
                  + ("  · STATE" if state else "") + "\n")
        for c in ports.COMMON_PORTS:
            out.write(f"{c.port:>5}  {c.protocol:<9} {c.modules:<50} {c.use}"
                      + (f"  · {state(c.port)}" if state else "") + "\n")
        out.write("\nWhat the lecture got wrong:\n")
        out.write("".join(f"  {p}: {uses[p].note}\n" for p in uses if uses[p].note))
        out.write("\n")
    out.write(f"{'PORT':>5}  {'CLASS':<10}  {'TCP':<16}  {'UDP':<16}  {'PRIV':<4}  {'EPH':<3}"
              + ("  STATE" if state else "") + "\n")
    for i in shown:
        out.write(f"{i.port:>5}  {i.range_class:<10}  {i.tcp or '-':<16}  {i.udp or '-':<16}  "
                  f"{'yes' if i.privileged else '':<4}  {'*' if i.ephemeral else '':<3}"
                  + (f"  {state(i.port)}" if state else "") + "\n")
    who = ports.bind_privilege()
    notes = [
        f"listed {len(shown)} of {len(wanted)} ports"
        + ("" if len(shown) == len(wanted) else
           " (only those with a service name or a finding; --all lists every port)"),
        f"EPH *: inside this OS's ephemeral range {ports.ephemeral_range()} "
        f"({ports.ephemeral_range().source}); IANA's dynamic range is 49152–65535",
        f"PRIV: binding needs root or CAP_NET_BIND_SERVICE (below "
        f"{ports.unprivileged_port_start()}); this process "
        + (f"may ({who})" if who else "may not"),
    ]
    if result is not None:
        notes.append(result.summary())
        if result.discarded:
            notes.append(f"discarded {result.discarded} connect(s) that only reached "
                         "the scan's own sockets (TCP simultaneous open)")
    out.write("\n" + "".join(f"{n}\n" for n in notes))
    return EXIT_OK


def cmd_code(args: argparse.Namespace) -> int:
    from .codegen import generate

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
        print(f"socklab: wrote {args.output}", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(program)
    return EXIT_OK


COMMANDS = {"serve": cmd_serve, "connect": cmd_connect, "demo": cmd_demo,
            "ports": cmd_ports, "code": cmd_code}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            from .ui.app import run_app
            return run_app(theme=args.theme)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"socklab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK


def _thread_excepthook(hook_args: threading.ExceptHookArgs) -> None:
    # An unexpected error in a lab thread is one line, never a traceback.
    print(f"socklab: internal error in {hook_args.thread.name if hook_args.thread else '?'}: "
          f"{hook_args.exc_type.__name__}: {hook_args.exc_value}", file=sys.stderr)


def entry() -> NoReturn:
    threading.excepthook = _thread_excepthook
    sys.exit(main())
