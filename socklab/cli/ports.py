"""``socklab ports [RANGE]``: port ranges, service names, and (--scan) what listens here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from .. import ports
from ..inputs import InputError
from .usage import EXIT_OK, UsageError

#: Above this many ports, `socklab ports` lists only ports with a service name
#: or a finding (use --all for every row).
PORTS_LIST_ALL_UP_TO = 1024


def run(args: argparse.Namespace) -> int:
    try:
        wanted = (list(ports.parse_range(args.range)) if args.range is not None
                  else [c.port for c in ports.COMMON_PORTS])
        result = ports.scan(args.host, wanted) if args.scan else None
    except InputError as exc:
        raise UsageError(str(exc)) from None
    keep = args.all or args.range is None or len(wanted) <= PORTS_LIST_ALL_UP_TO
    shown = _shown(wanted, result, keep)
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
        _write_lecture_table(out, state)
    out.write(f"{'PORT':>5}  {'CLASS':<10}  {'TCP':<16}  {'UDP':<16}  {'PRIV':<4}  {'EPH':<3}"
              + ("  STATE" if state else "") + "\n")
    for i in shown:
        out.write(f"{i.port:>5}  {i.range_class:<10}  {i.tcp or '-':<16}  {i.udp or '-':<16}  "
                  f"{'yes' if i.privileged else '':<4}  {'*' if i.ephemeral else '':<3}"
                  + (f"  {state(i.port)}" if state else "") + "\n")
    out.write("\n" + "".join(f"{n}\n" for n in _notes(len(shown), len(wanted), result)))
    return EXIT_OK


def _shown(wanted: list[int], result: ports.ScanResult | None,
           keep: bool) -> list[ports.PortInfo]:
    """The rows to list: all of them (``keep``), or only ports with a service
    name or a finding."""
    table = ports.services()
    if not keep and table.source != "getservbyport":
        # Only ports with a service name or a finding are listed: look up only
        # those (building all 65,535 rows was a fifth of a full scan's time).
        named = set(table.tcp) | set(table.udp) | (set(result.states) if result else set())
        infos = ports.port_infos(p for p in wanted if p in named)
    else:
        infos = ports.port_infos(wanted)
    return [i for i in infos if keep or i.tcp or i.udp
            or (result is not None and result.status(i.port) != ports.FREE)]


def _write_lecture_table(out: TextIO, state: Callable[[int], str] | None) -> None:
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


def _notes(shown: int, wanted: int, result: ports.ScanResult | None) -> list[str]:
    who = ports.bind_privilege()
    notes = [
        f"listed {shown} of {wanted} ports"
        + ("" if shown == wanted else
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
    return notes
