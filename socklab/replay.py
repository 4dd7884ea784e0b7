"""Reading a saved session back: a JSON Lines log as the events it recorded.

A log is what the lab's ``j`` saves or what any command prints with
``--json``: one JSON object per line, each an event (SPEC §3).  Replaying it
needs the events back exactly as they were logged, in order, so the log view,
the Wire view and the kernel's view can be rebuilt at any point of the session.

The contract only grows: keys this reader does not know are ignored (a newer
lab's log still plays), and keys added after a log was written take their
defaults.  What makes a file not a socklab log — a line that is not JSON, or
not an event — is said once, naming the line.  A last line cut short (the
writer was stopped mid-line) is not an error: what came before it plays, and
the learner is told.

UI-free: the ``replay`` command and the tests use it without textual.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .capture.diagram import WireDiagram
from .events import CLIENT, DONE, SERVER, Event, escape_text
from .logformat import format_line
from .viewstate import ViewState

#: Keys every event line has had since the first lab: without them a line is
#: not a socklab event (a ``ports --json`` line, say, or another program's log).
REQUIRED = ("seq", "t", "side", "op")
#: Shipped recordings (socklab/recordings/NAME.jsonl), for learners who cannot capture.
RECORDINGS = "recordings"
#: Bytes of a file read at most: a replay is a lesson, not a 1 GB log viewer.
MAX_BYTES = 256 * 1024 * 1024

_FIELDS = {f.name for f in fields(Event)} - {"raw"}
_TUPLES = frozenset({"args"})


class NotALog(Exception):
    """The file is not a socklab log; the message names the line."""


@dataclass(frozen=True)
class Recording:
    """A session read back: its events in the order they happened."""

    name: str
    events: list[Event]
    #: Said when the last line was cut short (and left out), else None.
    truncated: str | None = None


#: How deep a value may nest (an address in a list in a result is 3): deeper is
#: not a socklab event, and never reaches a recursive reader.
MAX_DEPTH = 16
#: The largest whole number a field may hold (a 5,000-digit seq is no event).
MAX_INT = 2**63 - 1
#: The largest time, in seconds from the session's start (a year is plenty).
MAX_T = 366 * 24 * 3600.0
_SIDES = frozenset({SERVER, CLIENT})
#: Whole-number fields: (the least value, whether null is allowed).
_INTS = {"seq": (0, False), "conn": (0, True), "nbytes": (0, True), "errno": (0, True),
         "call": (0, False), "peer_conn": (0, True), "count": (0, True)}
_TEXTS = ("phase", "error", "lesson", "data", "by", "host", "bytes_repr")


def event_from_json(obj: Any, where: str) -> Event:
    """One event line's object as the `Event` it was (``raw`` bytes are not saved).

    Everything in it came from a file, so it passes the boundary here: every
    string is escaped as network bytes are (`escape_text`), every number is
    finite and in range, nesting is bounded; anything else is `NotALog`."""
    if not isinstance(obj, dict):
        raise NotALog(f"{where}: not a socklab event (a JSON {type(obj).__name__}, "
                      "not an object)")
    missing = [key for key in REQUIRED if key not in obj]
    if missing:
        raise NotALog(f"{where}: not a socklab event (no {', '.join(map(repr, missing))})")
    try:
        values = {key: _clean(value, 0) for key, value in obj.items() if key in _FIELDS}
        _check_fields(values)
    except (TypeError, ValueError) as exc:
        raise NotALog(f"{where}: not a socklab event ({exc})") from None
    for key in _TUPLES:
        if isinstance(values.get(key), list):
            values[key] = _tupled(values[key])
    if isinstance(values.get("result"), list):  # an address: a tuple when it was logged
        values["result"] = _tupled(values["result"])
    values.setdefault("phase", DONE)
    values.setdefault("conn", None)
    values["count"] = values.get("count") or 1
    return Event(**values)


def _tupled(items: list) -> tuple:
    return tuple(_tupled(item) if isinstance(item, list) else item for item in items)


def _clean(value: Any, depth: int) -> Any:
    """A JSON value from a file, made safe to show (ValueError if it cannot be)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} deep")
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"a number out of range ({len(str(abs(value)))} digits)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a number that is not finite ({value})")
        return value
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_clean(key, depth + 1): _clean(item, depth + 1) for key, item in value.items()}
    raise TypeError(f"a {type(value).__name__}")


def _check_fields(values: dict[str, Any]) -> None:
    """The fields the views rely on have the types the lab writes."""
    if values["side"] not in _SIDES:
        raise ValueError(f"side {values['side']!r} is neither server nor client")
    if not isinstance(values["op"], str) or not values["op"]:
        raise TypeError("op is text")
    for key in _TEXTS:
        if values.get(key) is not None and not isinstance(values[key], str):
            raise TypeError(f"{key} is text or null")
    for key, (least, nullable) in _INTS.items():
        value = values.get(key)
        if value is None and (nullable or key not in values):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{key} {value!r} is not a whole number from {least}")
    t = values["t"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or abs(t) > MAX_T:
        raise ValueError(f"t {t!r} is not a time in seconds")
    values["t"] = float(t)
    if not isinstance(values.get("ok", True), bool):
        raise TypeError("ok is true or false")
    if not isinstance(values.get("args", []), list):
        raise TypeError("args is a list")


def parse_lines(lines: Iterable[str], name: str) -> Recording:
    """The events of a log's lines; `NotALog` names the first bad line."""
    events: list[Event] = []
    numbers: list[int] = []  # each event's line
    truncated = None
    pending: tuple[int, str] | None = None  # a line that failed to parse
    for number, line in enumerate(lines, start=1):
        if pending is not None:  # a bad line with more after it: not a cut-short end
            raise NotALog(pending[1])
        if not line.strip():
            continue
        where = f"{name}: line {number}"
        try:
            obj = json.loads(line)
        except RecursionError:
            raise NotALog(f"{where}: not a socklab event (nested too deep)") from None
        except ValueError as exc:
            if not line.endswith("\n") and isinstance(exc, json.JSONDecodeError):
                truncated = (f"{where} is cut short (the file ends mid-line): "
                             f"replaying the {len(events)} events before it")
                continue
            pending = (number, f"{where}: not JSON ({_why(exc)})")
            continue
        events.append(event_from_json(obj, where))
        numbers.append(number)
    if pending is not None:
        raise NotALog(pending[1])
    if not events:
        raise NotALog(f"{name}: no events in it (an empty file is not a socklab log)")
    _check_shown(events, numbers, name)
    return Recording(name, events, truncated)


def _check_shown(events: list[Event], numbers: list[int], name: str) -> None:
    """Fold the events as the replay's views will (the sides' kernel view, the
    wire diagram, the log's line): a value of the wrong shape for its op (a
    state that is a number, a packet's flags that are text) is named by its
    line here, instead of breaking the screen later."""
    view, diagram = ViewState(), WireDiagram()
    for event, number in zip(events, numbers, strict=True):
        try:
            view.apply([event])
            diagram.add([event])
            format_line(event)
        except Exception as exc:  # noqa: BLE001 - any failure is the file's: said, not raised
            raise NotALog(f"{name}: line {number}: not a socklab event ({event.op} event: "
                          f"{type(exc).__name__})") from None


def _why(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg}, column {exc.colno}"
    return str(exc).split(";")[0]  # a number of over 4300 digits, said by int()


def load(path: Path) -> Recording:
    """A saved log (or a shipped recording's name) as a `Recording`."""
    if not path.exists() and path.name in recording_names():
        path = recording_path(path.name)
    too_big = f"{path}: over {MAX_BYTES // (1024 * 1024)} MiB, too big to replay"
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as raw:
            info = os.fstat(raw.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NotALog(f"{path}: not a regular file (a log is a file)")
            if info.st_size > MAX_BYTES:  # said before a byte is read
                raise NotALog(too_big)
            data = raw.read(MAX_BYTES + 1)
    except OSError as exc:
        raise NotALog(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:  # it grew while it was read
        raise NotALog(too_big)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise NotALog(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from None
    return parse_lines(text.splitlines(keepends=True), str(path))


def recording_names() -> list[str]:
    """The sessions shipped in the package, by name (``welcome``, ``backlog``)."""
    folder = resources.files(__package__).joinpath(RECORDINGS)
    return sorted(item.name.removesuffix(".jsonl") for item in folder.iterdir()
                  if item.name.endswith(".jsonl"))


def recording_path(name: str) -> Path:
    """Where the shipped recording ``name`` lives (a file inside the package)."""
    return Path(str(resources.files(__package__).joinpath(RECORDINGS, f"{name}.jsonl")))
