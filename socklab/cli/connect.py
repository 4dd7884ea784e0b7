"""``socklab connect HOST PORT``: Run client, headless — connect, send, print the reply."""

from __future__ import annotations

import argparse

from ..capture import watching
from ..engine import Lab
from ..inputs import InputError, decode_escapes
from ..scenarios import ClientPlan, run_client
from .output import Printer, closing, note
from .parser import EXIT_FAILED, EXIT_OK, UsageError, resolve_or_usage


def _payloads(args: argparse.Namespace) -> list[bytes]:
    """What --send and --send-file ask to send, in order."""
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
    return payloads


def run(args: argparse.Namespace) -> int:
    payloads = _payloads(args)
    resolve_or_usage(args.host, args.port, args.family, args.kind)
    printer = Printer(args.json)
    lab = Lab(connect_timeout=args.timeout)
    lab.subscribe(printer)
    plan = ClientPlan(args.family, args.kind, args.host, args.port, tuple(payloads),
                      half_close=args.half_close, idle=args.idle, recv_size=65536)
    with watching(lab, args.packets, note, (args.port,)), closing(lab):
        ok = run_client(lab, lab.client(args.family, args.kind), plan)
        return EXIT_OK if ok else EXIT_FAILED
    return EXIT_OK  # stopped with Ctrl-C: every socket closed, each logged
