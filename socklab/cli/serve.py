"""``socklab serve``: Run server, headless — every call it makes, printed as it happens."""

from __future__ import annotations

import argparse
import socket

from ..capture import watching
from ..engine import Lab
from ..engine.endpoint import somaxconn
from ..engine.lab import raise_descriptor_limit
from ..inputs import LOOPBACK, host_scope
from ..modes import STREAM_ONLY
from ..scenarios import ServerPlan, run_server
from .output import Printer, closing, note
from .parser import EXIT_FAILED, EXIT_OK, UsageError, resolve_or_usage


def run(args: argparse.Namespace) -> int:
    if args.mode in STREAM_ONLY and args.kind != socket.SOCK_STREAM:
        raise UsageError(f"--mode {args.mode} needs --type stream")
    host = args.host if args.host is not None else LOOPBACK[args.family]
    everywhere = host_scope(host, args.family) == "all"
    if not everywhere:
        resolve_or_usage(host, args.port, args.family, args.kind)
    printer = Printer(args.json)
    raise_descriptor_limit()
    lab = Lab(max_connections=args.max_connections)
    lab.subscribe(printer)
    if everywhere:
        note("warning: listening on every interface: anyone on your network "
             "can connect (use --host 127.0.0.1 to keep it to this machine)")
    backlog = somaxconn() if args.backlog is None else args.backlog
    plan = ServerPlan(args.family, args.kind, host, args.port, backlog, args.mode,
                      reuseaddr=args.reuseaddr, count=args.count,
                      request_timeout=args.request_timeout)
    with watching(lab, args.packets, note), closing(lab):
        service = run_server(lab, lab.server(args.family, args.kind), plan)
        if service is None:
            return EXIT_FAILED
        while not service.wait(0.2):
            pass
        return EXIT_FAILED if service.failed else EXIT_OK
    return EXIT_OK  # stopped with Ctrl-C: every socket closed, each logged
