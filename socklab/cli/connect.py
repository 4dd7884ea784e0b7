"""``socklab connect HOST PORT``: Run client, headless — connect, send, print the reply."""

from __future__ import annotations

import argparse
import socket

from ..capture import watching
from ..engine import Lab
from ..inputs import InputError, decode_escapes
from ..scenarios import ClientPlan, run_client
from .output import Printer, closing, note
from .parser import EXIT_FAILED, EXIT_OK, UsageError, resolve_or_usage

#: The largest UDP payload: a file sent over dgram goes as one datagram.
MAX_DATAGRAM = 65507


def _payloads(args: argparse.Namespace) -> list[bytes]:
    """What --send asks to send, then --send-file's bytes when they go as one datagram.

    Over a stream the file is not read here: it is streamed as it is sent
    (engine/sendfile.py), so its size does not matter.
    """
    try:
        payloads = [decode_escapes(text) for text in args.send]
    except InputError as exc:
        raise UsageError(f"--send: {exc}") from None
    if args.send_file:
        try:
            with open(args.send_file, "rb") as f:
                if args.kind != socket.SOCK_STREAM:
                    data = f.read(MAX_DATAGRAM + 1)
                    if len(data) > MAX_DATAGRAM:
                        raise UsageError(f"--send-file: over --type dgram the file goes "
                                         f"as one datagram, at most {MAX_DATAGRAM} bytes")
                    payloads.append(data)
        except OSError as exc:
            raise UsageError(f"--send-file: cannot read {args.send_file}: {exc.strerror}") from None
    return payloads


def run(args: argparse.Namespace) -> int:
    payloads = _payloads(args)
    resolve_or_usage(args.host, args.port, args.family, args.kind)
    printer = Printer(args.json)
    lab = Lab(connect_timeout=args.timeout)
    lab.subscribe(printer)
    stream_file = args.send_file if args.kind == socket.SOCK_STREAM else None
    plan = ClientPlan(args.family, args.kind, args.host, args.port, tuple(payloads),
                      half_close=args.half_close, idle=args.idle, recv_size=65536,
                      send_file=stream_file, send_timeout=args.timeout)
    with watching(lab, args.packets, note, (args.port,)), closing(lab):
        ok = run_client(lab, lab.client(args.family, args.kind), plan)
        return EXIT_OK if ok else EXIT_FAILED
    return EXIT_OK  # stopped with Ctrl-C: every socket closed, each logged
