"""``socklab connect HOST PORT``: Run client, headless — connect, send, print the reply."""

from __future__ import annotations

import argparse
import os
import select
import socket
import stat

from ..capture import watching
from ..engine import Lab
from ..engine.lab import raise_descriptor_limit
from ..inputs import InputError, decode_escapes
from ..scenarios import ClientPlan, run_client
from .output import Printer, closing, note
from .parser import EXIT_FAILED, EXIT_OK, UsageError, resolve_or_usage

#: The largest UDP payload: a file sent over dgram goes as one datagram.
MAX_DATAGRAM = 65507


#: Seconds --send-file waits for a FIFO's writer (nothing written: a clear error).
FIFO_WAIT = 5.0


def _from_a_fifo(path: str) -> str:
    """``path``, or for a FIFO (``mkfifo``, ``<(cat file)``) a temporary copy of what
    its writer sends.  A FIFO with no writer would block the read for ever,
    silently: its first bytes are waited for at most `FIFO_WAIT` seconds, then
    that is said.  (Copied once read: opening a FIFO again after its writer has
    finished would wait for ever too.)"""
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            return path
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return path  # said by the open that follows, with its reason
    with os.fdopen(fd, "rb") as fifo:
        if not select.select([fd], [], [], FIFO_WAIT)[0]:
            raise UsageError(f"--send-file: {path} is a FIFO and nothing was written to it "
                             f"in {FIFO_WAIT:g} s: start the program that writes to it first")
        os.set_blocking(fd, True)
        import atexit  # here: only a FIFO needs them (not at every connect's start)
        import shutil
        import tempfile
        copy = tempfile.NamedTemporaryFile(prefix="socklab-send-", delete=False)  # noqa: SIM115
        atexit.register(os.unlink, copy.name)
        with copy:
            shutil.copyfileobj(fifo, copy)
    return copy.name


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
        args.send_file = _from_a_fifo(args.send_file)
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
    raise_descriptor_limit()
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
