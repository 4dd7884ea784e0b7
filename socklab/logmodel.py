"""The live log's model: its rows, bounded, without any UI.

The lab's `EventLog` widget draws these rows; everything else about the log
lives here and imports neither textual nor rich, so tests and benchmarks can
drive it headless:

* `LogBuffer` keeps the rows (at most ``max_rows`` plus some slack, trimmed
  from the top in chunks), marks a "wait" row as resolved when its call
  returns, wraps lessons to the view's width, folds a call too wide for a
  narrow log (its result on a second row) and opens or closes the hex dump
  under an event.
* An event's main row keeps only the event: its ``(text, style-name)`` parts
  come from `socklab.logformat.line_parts` when the row is drawn.  Taking an
  event costs one small object and its width (`socklab.logformat.line_width`:
  the part that varies, the call and its result, is measured once per
  distinct call).
* `coalesce` is the view's own guard against a batch too large to show.

Widths are terminal cells, counted by the function the view gives
(``cells``; the widget passes Rich's ``cell_len``, the width it draws with):
a peer's ``café`` or CJK text must not make the log's scroll width lie.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from .capture.text import WIRE_OPS
from .events import DONE, WAIT, Event
from .logformat import ARROW, LESSON_INDENT, hex_dump, lesson_text, line_parts, line_width

#: Rows kept in memory; older rows are dropped from the top.
MAX_ROWS = 20_000
#: A batch larger than this is coalesced in the view (runs of the same data
#: call on the same connection become one row), so the UI never falls behind.
VIEW_COALESCE_AT = 2_000
#: Extra rows allowed before trimming, so trimming happens in chunks.
_TRIM_SLACK = 1_000

#: What a row is: an event's main line, a line of its lesson, a line of its hex
#: dump, the result of a main line folded in a narrow log.
MAIN, LESSON, HEX, MORE = 0, 1, 2, 3
_DATA_OPS = frozenset({"send", "recv", "sendto", "recvfrom"})

#: Shown after a call whose bytes the hex view can show (the view's ``x`` key).
HEX_HINT = ("  [x: hex]", "dim")
_HEX_INDENT = " " * 9

Cells = Callable[[str], int]


def has_payload(event: Event) -> bool:
    """Whether the hex view has bytes to show for this event."""
    return bool(event.raw) and event.phase == DONE and event.count == 1


def main_parts(event: Event, resolved: bool = False) -> list[tuple[str, str]]:
    """An event's main row: its log line, and the hex hint when it has bytes."""
    parts = line_parts(event, resolved)
    if has_payload(event):
        parts.append(HEX_HINT)
    return parts


def narrow_parts(parts: Sequence[tuple[str, str]]) -> Sequence[tuple[str, str]]:
    """A main line as a narrow log draws it: without its time (``+1.234s``)."""
    if len(parts) > 2 and parts[1][0].startswith("+") and parts[1][1] == "dim":
        return (parts[0], *parts[2:])
    return parts


def fold_parts(parts: Sequence[tuple[str, str]]) -> tuple[Sequence[tuple[str, str]],
                                                          Sequence[tuple[str, str]] | None]:
    """A narrow line split at its arrow: the call, and the result from the arrow
    on, indented under the call (None: a line without a result, as a packet's)."""
    arrow = next((i for i, (text, _) in enumerate(parts) if text == ARROW), None)
    if arrow is None or arrow < 3:
        return parts, None
    indent = " " * sum(len(text) for text, _ in parts[:2])  # under the call
    return parts[:arrow], ((indent, "dim"), (ARROW.lstrip(), "dim"), *parts[arrow + 1:])


class Row:
    """One line of the log: an event's main line, its lesson, or a hex line.

    A main line keeps only its event: its parts are built when they are read
    (when the row is drawn, saved or inspected).  Lesson and hex lines are rare
    and keep their parts, a tuple of tuples of strings (which the cyclic
    collector stops tracking).
    """

    __slots__ = ("serial", "event", "kind", "_parts", "width", "resolved", "folded")

    def __init__(self, serial: int, event: Event, kind: int,
                 parts: Sequence[tuple[str, str]] | None = None, width: int = 0,
                 resolved: bool = False) -> None:
        self.serial = serial
        self.event = event
        self.kind = kind
        self._parts = None if parts is None else tuple(parts)
        self.width = width
        #: A "wait" row whose call has since returned (shown as "waited").
        self.resolved = resolved
        #: A main line whose result is drawn on the `MORE` row under it.
        self.folded = False

    @property
    def parts(self) -> Sequence[tuple[str, str]]:
        """The row's ``(text, style-name)`` parts: plain strings, never markup."""
        if self._parts is not None:
            return self._parts
        return tuple(main_parts(self.event, self.resolved))

    def __repr__(self) -> str:
        return f"Row(serial={self.serial}, kind={self.kind}, event={self.event!r})"


def lesson_lines(event: Event, width: int = 0) -> list[list[tuple[str, str]]]:
    """The lines under an event that say what its error (or note) means.

    Wrapped to ``width`` columns (0: one long line), so a lesson is read, not
    scrolled to.
    """
    text = lesson_text(event)
    room = width - len(LESSON_INDENT)
    chunks = textwrap.wrap(text, room) if room >= 20 else [text]
    pad = " " * len(LESSON_INDENT)
    return [[(LESSON_INDENT if i == 0 else pad, "dim"), (chunk, "lesson")]
            for i, chunk in enumerate(chunks or [text])]


def hex_lines(event: Event) -> list[list[tuple[str, str]]]:
    """The hex dump under an event, and how many bytes it does not show."""
    raw = event.raw or b""
    lines = [[(_HEX_INDENT, "dim"), (line, "hex")] for line in hex_dump(raw)]
    if event.nbytes and event.nbytes > len(raw):
        lines.append([(_HEX_INDENT, "dim"), (f"… {event.nbytes - len(raw)} more bytes", "dim")])
    return lines


def coalesce(events: Sequence[Event]) -> list[Event]:
    """Merge runs of the same successful data call on one socket into one event.

    The engine already coalesces floods; this is the view's own guard for a
    batch so large that showing every event would only scroll them past.
    """
    out: list[Event] = []
    for event in events:
        prev = out[-1] if out else None
        if (
            prev is not None
            and event.op in _DATA_OPS
            and event.phase == DONE
            and event.ok
            and prev.phase == DONE
            and prev.ok
            and prev.op == event.op
            and prev.side == event.side
            and prev.conn == event.conn
            and not event.lesson
        ):
            total = (prev.nbytes or 0) + (event.nbytes or 0)
            out[-1] = replace(prev, seq=event.seq, t=event.t, count=prev.count + event.count,
                              nbytes=total, result=total, data=None, raw=None)
        else:
            out.append(event)
    return out


@dataclass
class LogBuffer:
    """The log's rows, bounded, with wait resolution and hex expansion.

    Drive it with `add_events` and read `rows`; ``cells`` counts the terminal
    cells a string takes (the view passes the function it draws with).
    """

    cells: Cells
    max_rows: int = MAX_ROWS
    #: Columns lessons are wrapped to (0: not wrapped).
    wrap: int = 0
    #: A narrow log's width: a call wider than this (its time left out) shows
    #: its result on a second row, so the result is read, not cut (0: never).
    fold: int = 0
    rows: list[Row] = field(default_factory=list)
    #: The widest row, in cells (the view's scroll width).
    width: int = 0
    #: Rows dropped from the top since the start (trimmed for memory).
    dropped: int = 0
    #: Events received (before any view coalescing).
    received: int = 0
    _serial: int = 0
    _waits: dict[int, Row] = field(default_factory=dict)
    _hex_open: set[int] = field(default_factory=set)
    #: Packet rows are shown (the view's ``p`` key hides them).
    packets_shown: bool = True
    #: Hidden packet rows, by the serial of the row they sit under (0: the top).
    _stash: dict[int, list[Row]] = field(default_factory=dict)

    def _parts_width(self, parts: Sequence[tuple[str, str]]) -> int:
        # Part by part: every line has a " → ", so a joined line is never
        # ASCII, but the rest nearly always is, and there width is length.
        cells = self.cells
        return sum(len(p) if p.isascii() else cells(p) for p, _ in parts)

    def _row(self, event: Event, kind: int, parts: list[tuple[str, str]]) -> Row:
        self._serial += 1
        width = self._parts_width(parts)
        if width > self.width:
            self.width = width
        return Row(self._serial, event, kind, tuple(parts), width)

    def add_events(self, events: Sequence[Event]) -> tuple[int, set[int]]:
        """Append a batch; returns (rows trimmed from the top, serials changed)."""
        self.received += len(events)
        if len(events) > VIEW_COALESCE_AT:
            events = coalesce(events)
        changed: set[int] = set()
        rows = self.rows
        append = rows.append
        waits = self._waits
        cells = self.cells
        hint = len(HEX_HINT[0])
        serial = self._serial
        widest = self.width
        # Per event: one Row and its width.  Its text is built only if drawn.
        for event in events:
            phase = event.phase
            if waits and phase == DONE and event.call in waits:
                waiting = waits.pop(event.call)
                waiting.resolved = True
                changed.add(waiting.serial)
            serial += 1
            width = line_width(event, cells)
            if event.raw and phase == DONE and event.count == 1:  # has_payload, inlined
                width += hint
            if width > widest:
                widest = width
            row = Row(serial, event, MAIN, None, width)
            if not self.packets_shown and event.op in WIRE_OPS:
                self._stash.setdefault(rows[-1].serial if rows else 0, []).append(row)
                continue
            append(row)
            if phase == WAIT and event.call:
                waits[event.call] = row
            elif self.fold and width > self.fold and phase != WAIT:
                self._serial, self.width = serial, widest
                self._fold(row)
                serial, widest = self._serial, self.width
            if event.lesson:
                self._serial, self.width = serial, widest
                rows.extend(self._row(event, LESSON, parts)
                            for parts in lesson_lines(event, self.wrap))
                serial, widest = self._serial, self.width
        self._serial, self.width = serial, widest
        return self._trim(), changed

    def toggle_packets(self) -> bool:
        """Hide the packet rows (each kept under the row it follows), or show
        them again where they were; returns whether they are shown now."""
        rows: list[Row] = []
        if self.packets_shown:
            anchor = 0
            for row in self.rows:
                if row.kind == MAIN and row.event.op in WIRE_OPS:
                    self._stash.setdefault(anchor, []).append(row)
                    continue
                rows.append(row)
                anchor = row.serial
        else:
            rows.extend(self._stash.pop(0, ()))
            for row in self.rows:
                rows.append(row)
                rows.extend(self._stash.pop(row.serial, ()))
            self._stash.clear()
        self.rows = rows
        self.packets_shown = not self.packets_shown
        self.width = max((row.width for row in rows), default=0)
        return self.packets_shown

    def _fold(self, row: Row) -> None:
        """Fold ``row`` (a call's main line) if it is wider than `fold` drawn
        narrow: its result goes on a `MORE` row after it."""
        parts = narrow_parts(main_parts(row.event))
        if self._parts_width(parts) <= self.fold:
            return
        _, rest = fold_parts(parts)
        if rest is not None:
            row.folded = True
            self.rows.append(self._row(row.event, MORE, list(rest)))

    def rewrap(self, width: int, fold: bool = False) -> bool:
        """Wrap every lesson to a new width and, in a narrow log (``fold``),
        fold the calls wider than it; True if the rows changed."""
        folding = width if fold else 0
        if width == self.wrap and folding == self.fold:
            return False
        self.wrap, self.fold = width, folding
        rows: list[Row] = []
        previous: Event | None = None
        old, self.rows = self.rows, rows
        for row in old:
            if row.kind == MORE:
                continue
            if row.kind == MAIN:
                row.folded = False
                rows.append(row)
                if folding and row.event.phase != WAIT and row.width > folding:
                    self._fold(row)
                previous = None
                continue
            if row.kind == LESSON:
                if row.event is not previous:
                    rows.extend(self._row(row.event, LESSON, parts)
                                for parts in lesson_lines(row.event, width))
                previous = row.event
                continue
            previous = None
            rows.append(row)
        self.width = max((row.width for row in rows), default=0)
        return True

    def _trim(self) -> int:
        excess = len(self.rows) - self.max_rows
        if excess <= _TRIM_SLACK:
            return 0
        gone = self.rows[:excess]
        del self.rows[:excess]
        self.dropped += excess
        for row in gone:
            if row.event.phase == WAIT:
                self._waits.pop(row.event.call, None)
            self._hex_open.discard(row.serial)
            self._stash.pop(row.serial, None)
        self._stash.pop(0, None)
        return excess

    def event_index(self, index: int) -> int:
        """The index of the main row of the event shown at row ``index``."""
        while index > 0 and self.rows[index].kind != MAIN:
            index -= 1
        return index

    def last_with_payload(self) -> int | None:
        """The newest row whose event carries bytes (the default for hex view)."""
        for index in range(len(self.rows) - 1, -1, -1):
            row = self.rows[index]
            if row.kind == MAIN and has_payload(row.event):
                return index
        return None

    def toggle_hex(self, index: int) -> bool:
        """Show or hide the hex dump under the event at ``index``.

        Returns False when that event has no payload to show.
        """
        index = self.event_index(index)
        row = self.rows[index]
        if not row.event.raw:
            return False
        end = index + 1
        while end < len(self.rows) and self.rows[end].event is row.event \
                and self.rows[end].kind != MAIN:
            end += 1
        if row.serial in self._hex_open:
            self._hex_open.discard(row.serial)
            self.rows[index + 1 : end] = [r for r in self.rows[index + 1 : end]
                                         if r.kind != HEX]
        else:
            self._hex_open.add(row.serial)
            self.rows[end:end] = [self._row(row.event, HEX, parts)
                                  for parts in hex_lines(row.event)]
        return True

    def events(self) -> list[Event]:
        """Every event still held, in order (one per main row)."""
        return [row.event for row in self.rows if row.kind == MAIN]

    def clear(self) -> None:
        """Forget every row (the counters of what was received stay)."""
        self.rows.clear()
        self._waits.clear()
        self._hex_open.clear()
        self._stash.clear()
        self.width = 0
