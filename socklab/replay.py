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
from collections.abc import Iterable
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .events import DONE, Event

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


def event_from_json(obj: Any, where: str) -> Event:
    """One event line's object as the `Event` it was (``raw`` bytes are not saved)."""
    if not isinstance(obj, dict):
        raise NotALog(f"{where}: not a socklab event (a JSON {type(obj).__name__}, "
                      "not an object)")
    missing = [key for key in REQUIRED if key not in obj]
    if missing:
        raise NotALog(f"{where}: not a socklab event (no {', '.join(map(repr, missing))})")
    values = {key: value for key, value in obj.items() if key in _FIELDS}
    for key in _TUPLES:
        if isinstance(values.get(key), list):
            values[key] = _tupled(values[key])
    if isinstance(values.get("result"), list):  # an address: a tuple when it was logged
        values["result"] = _tupled(values["result"])
    values.setdefault("phase", DONE)
    values.setdefault("conn", None)
    try:
        seq, t = int(values["seq"]), float(values["t"])
        if not isinstance(values["side"], str) or not isinstance(values["op"], str):
            raise TypeError("side and op are text")
        values.update(seq=seq, t=t, count=int(values.get("count") or 1))
        return Event(**values)
    except (TypeError, ValueError) as exc:
        raise NotALog(f"{where}: not a socklab event ({exc})") from None


def _tupled(items: list) -> tuple:
    return tuple(_tupled(item) if isinstance(item, list) else item for item in items)


def parse_lines(lines: Iterable[str], name: str) -> Recording:
    """The events of a log's lines; `NotALog` names the first bad line."""
    events: list[Event] = []
    truncated = None
    pending: tuple[int, str] | None = None  # a line that failed to parse
    for number, line in enumerate(lines, start=1):
        if pending is not None:  # a bad line with more after it: not a cut-short end
            raise NotALog(pending[1])
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            where = f"{name}: line {number}"
            if not line.endswith("\n"):  # the last line, cut short
                truncated = (f"{where} is cut short (the file ends mid-line): "
                             f"replaying the {len(events)} events before it")
                continue
            pending = (number, f"{where}: not JSON ({exc.msg}, column {exc.colno})")
            continue
        events.append(event_from_json(obj, f"{name}: line {number}"))
    if pending is not None:
        raise NotALog(pending[1])
    if not events:
        raise NotALog(f"{name}: no events in it (an empty file is not a socklab log)")
    return Recording(name, events, truncated)


def load(path: Path) -> Recording:
    """A saved log (or a shipped recording's name) as a `Recording`."""
    if not path.exists() and path.name in recording_names():
        path = recording_path(path.name)
    try:
        with path.open("rb") as raw:
            data = raw.read(MAX_BYTES + 1)
    except OSError as exc:
        raise NotALog(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise NotALog(f"{path}: over {MAX_BYTES // (1024 * 1024)} MiB, too big to replay")
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
