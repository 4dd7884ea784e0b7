"""How an event reads as text: the one formatter for the log view, the
commands' human output and saved logs.

UI-free (no textual, no rich): the lab screen styles the same parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from .capture.text import WIRE_OPS, packet_line
from .events import PREDICT, WAIT, Event, escape_bytes
from .kernel.describe import describe_state


def hex_dump(data: bytes, width: int = 16) -> list[str]:
    """Classic hex view: offset, hex bytes, and a dotted ASCII column."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<{width * 3 - 1}}  {text}")
    return lines


def decoded_lines(data: bytes) -> str:
    """The bytes as the receiving program would print them after decode():
    UTF-8, line breaks kept, every other control character and every byte
    that is not UTF-8 shown as an escape (``\\r``, ``\\x1b``, ``\\xff``)."""
    return "\n".join(escape_bytes(line, cap=len(line)) for line in data.split(b"\n"))


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
    if event.op == PREDICT and isinstance(event.result, dict):
        return _prediction(event.result)
    if event.phase == WAIT:
        return "waiting…"
    if not event.ok:
        num = f" ({event.errno})" if event.errno is not None else ""
        return f"{event.error}{num}"
    if event.op == "state":
        return describe_state(event.result)
    if event.op == "cable" and isinstance(event.result, dict):
        return cable_result(event.result)
    if event.op == "tcp_info" and isinstance(event.result, dict):
        r = event.result
        return (f"rtt {r.get('rtt_ms')} ms · cwnd {r.get('cwnd')} segments · "
                f"{r.get('retransmitted')} sent again · {r.get('unacked')} segments unacked")
    if event.count > 1:
        return f"{format_bytes(event.nbytes or 0)} in all"
    if event.op == "recv" and event.nbytes == 0:
        return "b'' (EOF)"
    if event.result is None:
        return "None"
    note = ADDRESS_NOTES.get(event.op)
    if note is not None and isinstance(event.result, (tuple, list)):
        # Python returns None; the address is the lab's note (JSON keeps it as result).
        return f"None · {note} {_format_value(event.result)}"
    return _format_value(event.result)


def _prediction(result: dict[str, Any]) -> str:
    """``answer 15: held ✓`` (or ``did not hold ✗: it was 3``; before the event: to see)."""
    answer = f"answer {result.get('answer')}"
    if "held" not in result:
        return f"{answer}: to be seen"
    if result["held"]:
        return f"{answer}: held ✓"
    return f"{answer}: did not hold ✗: it was {result.get('actual')}"


#: Calls that return None in Python, whose event's result is an address the
#: lab read after them (getsockname): the line says None, then the address.
ADDRESS_NOTES = {"bind": "bound to", "listen": "listening on", "connect": "local address"}


def cable_result(result: dict[str, Any]) -> str:
    """A ``cable`` event: the cable's conditions set, or what it did to the packets."""
    counts = result.get("counts")
    if not isinstance(counts, dict):
        return f"the cable now: {result.get('spec', '?')}"
    ways = []
    for way, numbers in counts.items():
        if isinstance(numbers, dict):
            said = ", ".join(f"{n} {what}" for what, n in numbers.items()
                             if n or what == "carried")
            ways.append(f"{way} {said}")
    return " · ".join(ways) or "nothing carried"


def payload_repr(event: Event) -> str | None:
    """The event's bytes as Python's ``repr(bytes)`` writes them (None: no bytes).

    A log saved before ``bytes_repr`` existed has only ``data``: it is shown as
    it was then."""
    if event.bytes_repr is not None:
        return event.bytes_repr
    return None if event.data is None else f"b'{event.data}'"


def decoded_text(event: Event) -> str | None:
    """The bytes decoded as UTF-8 (errors escaped), when that reads differently
    from their repr (non-ASCII, quotes): offered beside it.  None otherwise."""
    if event.data is None or event.bytes_repr is None:
        return None
    return None if event.bytes_repr == f"b'{event.data}'" else event.data


#: Before the decoded text beside a payload.
DECODED_LABEL = "  utf-8: "


def format_call(event: Event) -> str:
    """``op(args)`` as the lecture writes it; sends show what they send."""
    if event.op in ("state", "tcp_info"):
        return event.op  # the kernel's view, not a call
    if event.op == PREDICT:
        question = event.result.get("question") if isinstance(event.result, dict) else None
        return f"predict({_format_value(str(question))})"  # the learner's, not a call
    args = format_args(event.args)
    payload = payload_repr(event)
    if event.op in ("send", "sendto", "sendall") and payload is not None and event.count == 1:
        args = f"{payload}, {args}" if args else payload
    times = f" ×{event.count}" if event.count > 1 else ""
    return f"{event.op}({args}){times}"


#: Style names the parts of a line carry; the lab screen maps each to a style,
#: the plain-text writers ignore them.
STYLE_NAMES = ("dim", "server", "client", "ok", "error", "wait", "lesson", "data", "hex")

#: Where a lesson line starts (under the call it explains).
LESSON_INDENT = "       ↳ "
ARROW = " → "

Parts = tuple[tuple[str, str], ...]


def side_style(event: Event) -> str:
    """The style name of a side: every line of one side has its colour."""
    return "server" if event.side == "server" else "client"


def who(event: Event) -> str:
    """``server``, or ``client[2]`` for one of several connections; ``server@A``
    on host A in two-hosts mode."""
    name = event.side if event.conn is None else f"{event.side}[{event.conn}]"
    if event.by == "program":  # a learner's program's call (socklab run / check)
        name = f"{PROGRAM_MARK}{name}"
    return name if event.host is None else f"{name}@{event.host}"


#: Before the side of a learner's program's calls: ``prog:client[1]``.
PROGRAM_MARK = "prog:"


def head_parts(event: Event) -> list[tuple[str, str]]:
    """The fixed columns of a line: ``#seq``, ``+time`` and who made the call."""
    return [
        (f"#{event.seq:<5} ", "dim"),
        (f"+{event.t:.3f}s".ljust(10), "dim"),
        (f"{who(event):<10} ", side_style(event)),
    ]


def _tail_parts(event: Event, resolved: bool) -> list[tuple[str, str]]:
    """What follows the arrow: the result, and the payload a recv returned."""
    if event.op == PREDICT:  # the learner's answer: to be seen, held or not
        held = event.result.get("held") if isinstance(event.result, dict) else None
        return [(format_result(event), "wait" if held is None else "ok" if held else "error")]
    if event.phase == WAIT:
        return [("waited" if resolved else "waiting…", "dim" if resolved else "wait")]
    if not event.ok:
        return [(format_result(event), "error")]
    parts = [(format_result(event), "ok")]
    if event.peer_conn is not None:
        parts.append((f" = client[{event.peer_conn}]", "client"))
    if event.count != 1 or not event.data:
        return parts
    if event.op in ("recv", "recvfrom"):
        parts.append((f"  {payload_repr(event)}", "data"))
    text = decoded_text(event)
    if text is not None:
        parts.extend(((DECODED_LABEL, "dim"), (text, "data")))
    return parts


class _Call:
    """A call's parts after the fixed columns, and their width once measured."""

    __slots__ = ("parts", "cells", "width")

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        #: The width function ``width`` was counted with (None: not yet).
        self.cells: Callable[[str], int] | None = None
        self.width = 0


def _call(event: Event, resolved: bool) -> _Call:
    """``op(args) → result`` as parts, built once per distinct call.

    They depend on the call and its result, not on the sequence number or the
    time: a flood repeats a few calls with new numbers, and the log view takes
    (and measures) a batch without formatting them again.
    """
    if event.op in WIRE_OPS:  # a segment under its call (socklab.capture)
        return _Call(((packet_line(event), "dim"),))
    if event.op == "output":  # a learner's program's stdout/stderr line (socklab.program)
        stream = event.args[0] if event.args else "output"
        return _Call(((f"{stream}: ", "dim"), (event.data or "", "data")))
    # The result's type too: True == 1 == 1.0 as keys, but they print
    # differently.  (Inside tuples the engine only puts str and int.)
    key = (event.side, event.op, event.phase, event.ok, event.args, event.result,
           type(event.result), event.error, event.errno, event.nbytes, event.data,
           event.bytes_repr, event.peer_conn, event.count, resolved)
    try:
        call = _CALLS.get(key)
    except TypeError:  # an unhashable argument or result: build it every time
        key, call = None, None
    if call is None:
        call = _Call(((format_call(event), side_style(event)), (ARROW, "dim"),
                      *_tail_parts(event, resolved)))
        if key is not None:
            if len(_CALLS) >= 4096:
                _CALLS.clear()
            _CALLS[key] = call
    return call


#: `_call` by what decides it (bounded: emptied when full).
_CALLS: dict[tuple, _Call] = {}


def call_parts(event: Event, resolved: bool = False) -> Parts:
    """A line after its fixed columns: ``op(args) → result``, as parts (the
    same tuple again for the same call)."""
    return _call(event, resolved).parts


def line_width(event: Event, cells: Callable[[str], int], resolved: bool = False) -> int:
    """The terminal cells `line_parts` take, counted without building the line.

    ``cells`` measures a string (the lab passes the function it draws with, so
    a peer's ``café`` or CJK text is counted as drawn).  This is all an event
    costs the log view when it arrives: the fixed columns are ASCII (numbers
    and a side name) and counted by arithmetic; the call and its result are
    measured once per distinct call.
    """
    call = _call(event, resolved)
    if call.cells is not cells:
        call.width = sum(len(t) if t.isascii() else cells(t) for t, _ in call.parts)
        call.cells = cells
    seq = event.seq
    width = call.width + 2 + (5 if 0 <= seq < 100_000 else len(str(seq)))
    t = event.t
    width += 10 if 0.0 <= t < 9999.0 else max(10, len(f"+{t:.3f}s"))
    side = event.side
    who_width = len(side) if event.conn is None else len(f"{side}[{event.conn}]")
    if event.by == "program":
        who_width += len(PROGRAM_MARK)
    if event.host is not None:
        who_width += len(event.host) + 1
    return width + (who_width if who_width > 10 else 10) + 1


def line_parts(event: Event, resolved: bool = False) -> list[tuple[str, str]]:
    """One event's line as ``(text, style-name)`` parts: the one line formatter.

    ``#seq +time who op(args) → result``: the lab's log styles these parts,
    the commands and saved text logs join them (`format_line`).  ``resolved``
    marks a "wait" whose call has since returned: the line stays (so the order
    stays visible) but says "waited".
    """
    parts = head_parts(event)
    if event.op in WIRE_OPS:  # a packet row is dimmer than the calls around it
        parts = [(text, "dim") for text, _ in parts]
    parts.extend(call_parts(event, resolved))
    return parts


def lesson_text(event: Event) -> str:
    """What an error (or a note) means: ``EADDRINUSE: another socket …``."""
    return f"{event.error}: {event.lesson}" if event.error else str(event.lesson)


def format_line(event: Event) -> str:
    """The plain-text line, and the lesson under it: the parts of `line_parts`."""
    line = "".join(text for text, _ in line_parts(event))
    if event.lesson:
        line += f"\n{LESSON_INDENT}{lesson_text(event)}"
    return line


def format_bytes(n: int) -> str:
    """A byte count as a person reads it: ``40 B``, ``75.0 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def event_text(event: Event, json_lines: bool) -> str:
    """One event as a saved log or a command prints it: its JSON line, or its
    text line (and lesson).  No trailing newline."""
    return event.to_json() if json_lines else format_line(event)


def write_events(events: Iterable[Event], out: TextIO, json_lines: bool) -> int:
    """Write events as text lines or JSON Lines (the one writer); returns how many."""
    count = 0
    for event in events:
        out.write(event_text(event, json_lines) + "\n")
        count += 1
    return count


def log_name(json_lines: bool, stamp: str | None = None) -> str:
    """A saved log's file name: ``socklab-log-<time>.jsonl`` (or ``.txt``)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    return f"socklab-log-{stamp}.{'jsonl' if json_lines else 'txt'}"


def write_log(events: Iterable[Event], directory: Path, json_lines: bool) -> Path:
    """Save events as text lines or JSON Lines; returns the file written."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = "jsonl" if json_lines else "txt"
    path = directory / log_name(json_lines, stamp)
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"socklab-log-{stamp}-{counter}.{suffix}"
    with path.open("w", encoding="utf-8") as f:
        write_events(events, f, json_lines)
    return path
