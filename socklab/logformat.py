"""How an event reads as text: the one formatter for the log view, the
commands' human output and saved logs.

UI-free (no textual, no rich): the lab screen styles the same parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from .events import DONE, WAIT, Event


def hex_dump(data: bytes, width: int = 16) -> list[str]:
    """Classic hex view: offset, hex bytes, and a dotted ASCII column."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<{width * 3 - 1}}  {text}")
    return lines


def format_args(args: Iterable[Any]) -> str:
    """Arguments as the lecture writes them: ``('127.0.0.1', 1024)``, ``5``."""
    return ", ".join(_format_value(a) for a in args)


def _format_value(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_format_value(v) for v in value)
        return f"({inner})"
    if isinstance(value, str) and value.isupper() and value.replace("_", "").isalnum():
        return value  # a constant such as AF_INET
    if isinstance(value, str):
        return repr(value)
    return str(value)


def format_result(event: Event) -> str:
    """What comes after the arrow in one log line."""
    if event.phase == WAIT:
        return "waiting…"
    if not event.ok:
        num = f" ({event.errno})" if event.errno is not None else ""
        return f"{event.error}{num}"
    if event.count > 1:
        return f"{format_bytes(event.nbytes or 0)} in all"
    if event.op == "recv" and event.nbytes == 0:
        return "b'' (EOF)"
    if event.result is None:
        return "None"
    return _format_value(event.result)


def format_call(event: Event) -> str:
    """``op(args)`` as the lecture writes it; sends show what they send."""
    args = format_args(event.args)
    if event.op in ("send", "sendto") and event.data is not None and event.count == 1:
        payload = f"b'{event.data}'"
        args = f"{payload}, {args}" if args else payload
    times = f" ×{event.count}" if event.count > 1 else ""
    return f"{event.op}({args}){times}"


def format_line(event: Event) -> str:
    """The plain-text log line: ``#seq +time side op(args) → result``."""
    who = event.side if event.conn is None else f"{event.side}[{event.conn}]"
    line = (
        f"#{event.seq:<4} +{event.t:7.3f}s {who:<10} "
        f"{format_call(event)} → {format_result(event)}"
    )
    if event.op in ("recv", "recvfrom") and event.data and event.phase == DONE:
        line += f" b'{event.data}'"
    if event.lesson:
        line += f"\n      ↳ {event.error + ': ' if event.error else ''}{event.lesson}"
    return line


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def write_events(events: Iterable[Event], out: TextIO, json_lines: bool) -> int:
    """Write events as text lines or JSON Lines (the one writer); returns how many."""
    count = 0
    for event in events:
        out.write((event.to_json() if json_lines else format_line(event)) + "\n")
        count += 1
    return count
