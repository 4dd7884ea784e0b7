"""The live event log: one ordered log of every call, for both panes.

Why a Line-API ``ScrollView`` and not ``RichLog``: PERF-NOTES.md measured
``RichLog.write`` at ~4,000 lines/s with 100 ms+ UI stalls and unbounded
memory.  Here the rows live in a bounded list (`LogBuffer`), are turned into
plain ``(text, style-name)`` parts once when they arrive, and only the rows
on screen are ever rendered into a `Strip` (with a small cache).  The app's
sink only appends events to a deque; a timer hands them over in one batch
(`EventLog.add_events`), which costs one ``virtual_size`` update and one
refresh however many events it holds.

Safety: payload text reaches a row only as ``event.data``, which the engine
has already escaped (no control characters, no ESC).  Rows are built with
``Text.append(plain_string, style)``, never from markup, so ``[bold]`` or
``[@click=app.quit]`` sent by a peer is shown literally and does nothing.

`LogBuffer` and `row_text` import nothing from Textual's widget machinery, so
benchmarks can drive them headless without an app.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..events import DONE, WAIT, Event
from ..logformat import format_call, format_result, hex_dump, write_events

#: Rows kept in memory; older rows are dropped from the top.
MAX_ROWS = 20_000
#: A batch larger than this is coalesced in the view (runs of the same data
#: call on the same connection become one row), so the UI never falls behind.
VIEW_COALESCE_AT = 2_000
#: Extra rows allowed before trimming, so trimming happens in chunks.
_TRIM_SLACK = 1_000
#: Drawn rows kept ready (a few screens' worth).
_STRIP_CACHE = 1_024

MAIN, LESSON, HEX = 0, 1, 2
_DATA_OPS = frozenset({"send", "recv", "sendto", "recvfrom"})

#: Style names used in a row's parts (mapped to real styles when rendered).
STYLE_NAMES = ("dim", "server", "client", "ok", "error", "wait", "lesson", "data", "hex")


class Row:
    """One line of the log: an event's main line, its lesson, or a hex line.

    A main line keeps only its event: its ``(text, style-name)`` parts are
    built when they are read (when the row is drawn, saved or inspected), so
    taking an event costs one small object and a width.  Lesson and hex lines
    are rare and keep their parts, a tuple of tuples of strings (which the
    cyclic collector stops tracking).
    """

    __slots__ = ("serial", "event", "kind", "_parts", "width", "resolved")

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

    @property
    def parts(self) -> Sequence[tuple[str, str]]:
        if self._parts is not None:
            return self._parts
        return tuple(event_parts(self.event, self.resolved))

    @parts.setter
    def parts(self, parts: Sequence[tuple[str, str]]) -> None:
        self._parts = tuple(parts)

    def __repr__(self) -> str:
        return f"Row(serial={self.serial}, kind={self.kind}, event={self.event!r})"


def _who(event: Event) -> str:
    return event.side if event.conn is None else f"{event.side}[{event.conn}]"


def event_parts(event: Event, resolved: bool = False) -> list[tuple[str, str]]:
    """The main line of an event as ``(text, style-name)`` parts.

    ``resolved`` marks a "wait" row whose call has since returned: it is kept
    (so the order stays visible) but no longer says it is waiting.
    """
    side = "server" if event.side == "server" else "client"
    parts: list[tuple[str, str]] = [
        (f"#{event.seq:<5} ", "dim"),
        (f"+{event.t:.3f}s".ljust(10), "dim"),
        (f"{_who(event):<10} ", side),
    ]
    parts.extend(_rest(event, resolved)[1])
    return parts


_ARROW = " → "


def _tail_parts(event: Event, resolved: bool = False) -> list[tuple[str, str]]:
    """What follows the arrow: the result, the payload received, the hex hint."""
    if event.phase == WAIT:
        parts = [("waited" if resolved else "waiting…", "dim" if resolved else "wait")]
    elif not event.ok:
        parts = [(format_result(event), "error")]
    else:
        parts = [(format_result(event), "ok")]
        if event.op in ("recv", "recvfrom") and event.data and event.count == 1:
            parts.append((f"  b'{event.data}'", "data"))
    if event.raw and event.phase == DONE and event.count == 1:
        parts.append(("  [x: hex]", "dim"))
    return parts


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def main_width(event: Event, resolved: bool = False) -> int:
    """The cells `event_parts` takes, without building the fixed parts.

    This is all the work an event costs when it arrives (the row's text is
    built only if it is drawn): the fixed-width columns are counted, and the
    call and result are measured once per distinct call (a flood repeats a
    few calls with new sequence numbers and times).
    """
    seq = event.seq
    width = 2 + (5 if 0 <= seq < 100_000 else len(str(seq)))
    t = event.t
    width += 10 if 0.0 <= t < 9999.0 else max(10, _cells(f"+{t:.3f}s"))
    side = event.side
    who = _cells(side) if event.conn is None else _cells(f"{side}[{event.conn}]")
    width += (who if who > 10 else 10) + 1
    return width + _rest(event, resolved)[0]


def _rest(event: Event, resolved: bool = False) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The cells and parts of a main line after the "who" column.

    They depend on the call and its result, not on the sequence number or the
    time, so they are built once per distinct call: a flood repeats a few
    calls, and a batch is measured and drawn without formatting them again.
    """
    # The result's type too: True == 1 == 1.0 as keys, but they print
    # differently.  (Inside tuples the engine only puts str and int.)
    key = (event.side, event.op, event.phase, event.ok, event.args, event.result,
           type(event.result), event.error, event.errno, event.nbytes, event.data,
           event.count, not event.raw, resolved)
    try:
        rest = _REST.get(key)
    except TypeError:  # an unhashable argument or result: build it every time
        key, rest = None, None
    if rest is None:
        side = "server" if event.side == "server" else "client"
        parts = ((format_call(event), side), (_ARROW, "dim"),
                 *_tail_parts(event, resolved))
        rest = (sum(_cells(text) for text, _ in parts), parts)
        if key is not None:
            if len(_REST) >= 4096:
                _REST.clear()
            _REST[key] = rest
    return rest


#: The rest of a main line (cells, parts), by what decides it: see `_rest`.
_REST: dict[tuple, tuple[int, tuple[tuple[str, str], ...]]] = {}


_LESSON_INDENT = "       ↳ "


def lesson_lines(event: Event, width: int = 0) -> list[list[tuple[str, str]]]:
    """The lines under an event that say what its error (or note) means.

    Wrapped to ``width`` columns (0: one long line), so a lesson is read, not
    scrolled to.
    """
    head = f"{event.error}: " if event.error else ""
    text = f"{head}{event.lesson}"
    room = width - len(_LESSON_INDENT)
    chunks = textwrap.wrap(text, room) if room >= 20 else [text]
    pad = " " * len(_LESSON_INDENT)
    return [[(_LESSON_INDENT if i == 0 else pad, "dim"), (chunk, "lesson")]
            for i, chunk in enumerate(chunks or [text])]


def _width(parts: Sequence[tuple[str, str]]) -> int:
    # Part by part: every row has a " → ", so the joined text is never ASCII,
    # but the fixed parts hit Rich's width cache and the rest is nearly always
    # ASCII, where width is length (measuring whole rows was most of ingest).
    return sum(len(p) if p.isascii() else cell_len(p) for p, _ in parts)


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
            out[-1] = replace(
                prev,
                seq=event.seq,
                t=event.t,
                count=prev.count + event.count,
                nbytes=(prev.nbytes or 0) + (event.nbytes or 0),
                result=(prev.nbytes or 0) + (event.nbytes or 0),
                data=None,
                raw=None,
            )
        else:
            out.append(event)
    return out


@dataclass
class LogBuffer:
    """The log's rows, bounded, with wait resolution and hex expansion.

    UI-free apart from Rich text: drive it with `add_events` and read `rows`.
    """

    max_rows: int = MAX_ROWS
    #: Columns lessons are wrapped to (0: not wrapped).
    wrap: int = 0
    rows: list[Row] = field(default_factory=list)
    width: int = 0
    #: Rows dropped from the top since the start (trimmed for memory).
    dropped: int = 0
    #: Events received (before any view coalescing).
    received: int = 0
    _serial: int = 0
    _waits: dict[int, Row] = field(default_factory=dict)
    _hex_open: set[int] = field(default_factory=set)

    def _row(self, event: Event, kind: int, parts: list[tuple[str, str]]) -> Row:
        self._serial += 1
        width = _width(parts)
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
            width = main_width(event)
            if width > widest:
                widest = width
            row = Row(serial, event, MAIN, None, width)
            append(row)
            if phase == WAIT and event.call:
                waits[event.call] = row
            if event.lesson:
                self._serial, self.width = serial, widest
                rows.extend(self._row(event, LESSON, parts)
                            for parts in lesson_lines(event, self.wrap))
                serial, widest = self._serial, self.width
        self._serial, self.width = serial, widest
        return self._trim(), changed

    def rewrap(self, width: int) -> bool:
        """Wrap every lesson to a new width; True if the rows changed."""
        if width == self.wrap:
            return False
        self.wrap = width
        rows: list[Row] = []
        previous: Event | None = None
        for row in self.rows:
            if row.kind == LESSON:
                if row.event is not previous:
                    rows.extend(self._row(row.event, LESSON, parts)
                                for parts in lesson_lines(row.event, width))
                previous = row.event
                continue
            previous = None
            rows.append(row)
        self.rows = rows
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
            if row.kind == MAIN and row.event.raw and row.event.count == 1:
                return index
        return None

    def toggle_hex(self, index: int) -> bool:
        """Show or hide the hex dump under the event at ``index``.

        Returns False when that event has no payload to show.
        """
        index = self.event_index(index)
        row = self.rows[index]
        raw = row.event.raw
        if not raw:
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
            dump = [self._row(row.event, HEX, [("         ", "dim"), (line, "hex")])
                    for line in hex_dump(raw)]
            if row.event.nbytes and row.event.nbytes > len(raw):
                more = row.event.nbytes - len(raw)
                dump.append(self._row(row.event, HEX,
                                      [("         ", "dim"), (f"… {more} more bytes", "dim")]))
            self.rows[end:end] = dump
        return True

    def events(self) -> list[Event]:
        """Every event still held, in order (one per main row)."""
        return [row.event for row in self.rows if row.kind == MAIN]

    def clear(self) -> None:
        self.rows.clear()
        self._waits.clear()
        self._hex_open.clear()
        self.width = 0


def default_styles() -> dict[str, Style]:
    """Styles for rendering rows without an app (benchmarks, plain export)."""
    return {
        "dim": Style(dim=True),
        "server": Style(color="magenta"),
        "client": Style(color="cyan"),
        "ok": Style(color="green"),
        "error": Style(color="red", bold=True),
        "wait": Style(color="yellow", italic=True),
        "lesson": Style(color="yellow"),
        "data": Style(color="white", bold=True),
        "hex": Style(color="blue"),
    }


def row_text(row: Row, styles: dict[str, Style]) -> Text:
    """One row as Rich ``Text``: plain strings with styles, never markup."""
    text = Text(no_wrap=True, end="")
    for chunk, name in row.parts:
        text.append(chunk, styles.get(name))
    return text


def write_log(events: Iterable[Event], directory: Path, json_lines: bool) -> Path:
    """Save events as text lines or JSON Lines; returns the file written."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = "jsonl" if json_lines else "txt"
    path = directory / f"socklab-log-{stamp}.{suffix}"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"socklab-log-{stamp}-{counter}.{suffix}"
    with path.open("w", encoding="utf-8") as f:
        write_events(events, f, json_lines)
    return path


class EventLog(ScrollView, can_focus=True):
    """The live, ordered log of every socket call in the lab.

    Focus it to move a cursor over the rows (↑/↓); ``x`` shows the selected
    event's bytes as hex.  It follows new rows unless the learner scrolled up.
    """

    COMPONENT_CLASSES = {f"event-log--{name}" for name in STYLE_NAMES} | {"event-log--cursor"}

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-10)", "Page up", show=False),
        Binding("pagedown", "cursor(10)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("escape", "clear_cursor", "No selection", show=False),
    ]

    DEFAULT_CSS = """
    EventLog {
        background: $surface;
    }
    """

    def __init__(self, *, max_rows: int = MAX_ROWS, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.buffer = LogBuffer(max_rows=max_rows)
        #: The selected row (an index into ``buffer.rows``), or None.
        self.cursor: int | None = None
        #: Drawn rows: serial -> (scroll_x, width, strip).  Rows scroll past
        #: under a flood, so this is a plain dict emptied when it is full.
        self._cache: dict[int, tuple[int, int, Strip]] = {}
        self._styles: dict[str, Style] | None = None
        #: The widget's base style while one render pass draws its lines.
        self._base: Style | None = None
        #: Follow new rows; off once the learner scrolls up, on again at the end.
        self.follow = True

    # -- feeding -------------------------------------------------------------

    def add_events(self, events: Sequence[Event]) -> None:
        """Append a batch of events: one size update, one refresh."""
        if not events:
            return
        follow = self.follow
        trimmed, changed = self.buffer.add_events(events)
        for serial in changed:
            self._cache.pop(serial, None)
        if trimmed:
            if self.cursor is not None:
                self.cursor = self.cursor - trimmed if self.cursor >= trimmed else None
            if not follow:
                self.scroll_to(y=max(0, self.scroll_y - trimmed), animate=False,
                               immediate=True)
        self._update_size()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            self.follow = True
        elif new_value < old_value:
            self.follow = False  # the learner scrolled up to read

    def on_resize(self) -> None:
        """Re-wrap lessons to the new width (the main lines scroll instead)."""
        width = self.scrollable_content_region.width - 1
        if width > 0 and self.buffer.rewrap(width):
            self.cursor = None
            self._cache.clear()
            self._update_size()
            self.refresh()
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True,
                                    x_axis=False)

    def clear(self) -> None:
        self.buffer.clear()
        self.cursor = None
        self._cache.clear()
        self._update_size()
        self.refresh()

    def _update_size(self) -> None:
        size = Size(self.buffer.width + 1, len(self.buffer.rows))
        if size == self.virtual_size:
            return
        # Only the log's own scroll area changed: update it without a layout of
        # the whole screen (assigning the layout-reactive virtual_size does one,
        # and under a flood that was most of every frame).  Scrollbars that
        # appear or disappear still trigger a layout through their own reactives.
        self.set_reactive(EventLog.virtual_size, size)
        self._scroll_update(size)

    # -- hex view, cursor, saving --------------------------------------------

    def toggle_hex(self) -> bool:
        """Toggle hex for the selected event, or the newest event with bytes."""
        index = self.cursor if self.cursor is not None else self.buffer.last_with_payload()
        if index is None or not self.buffer.rows:
            return False
        follow = self.is_vertical_scroll_end
        if not self.buffer.toggle_hex(index):
            return False
        self._cache.clear()
        self._update_size()
        if follow and self.cursor is None:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        return True

    def action_cursor(self, delta: int) -> None:
        rows = len(self.buffer.rows)
        if not rows:
            return
        start = self.cursor if self.cursor is not None else rows
        self._set_cursor(max(0, min(rows - 1, start + delta)))

    def action_cursor_to(self, index: int) -> None:
        rows = len(self.buffer.rows)
        if rows:
            self._set_cursor(index % rows)

    def action_clear_cursor(self) -> None:
        self.cursor = None
        self.refresh()

    def _set_cursor(self, index: int) -> None:
        self.cursor = index
        self.scroll_to_region_y(index)
        self.refresh()

    def scroll_to_region_y(self, index: int) -> None:
        height = self.scrollable_content_region.height or 1
        if index < self.scroll_y:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= self.scroll_y + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)

    def save(self, directory: Path, json_lines: bool) -> Path:
        return write_log(self.buffer.events(), directory, json_lines)

    # -- rendering --------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cache.clear()

    def _row_styles(self) -> dict[str, Style]:
        if self._styles is None:
            self._styles = {
                name: self.get_component_rich_style(f"event-log--{name}", partial=True)
                for name in STYLE_NAMES
            }
        return self._styles

    def render_lines(self, crop: Region) -> list[Strip]:
        # The base style is the same for every line of one pass (computing it
        # walks the ancestors: per line, that was a large part of a frame).
        self._base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self._base or self.rich_style
        rows = self.buffer.rows
        if index >= len(rows):
            return Strip.blank(width, base)
        row = rows[index]
        if index == self.cursor:
            text = row_text(row, self._row_styles())
            text.stylize(self.get_component_rich_style("event-log--cursor", partial=True))
            segments = list(text.render(self.app.console))
            strip = Strip(Segment.apply_style(segments, base), text.cell_len)
            cursor = self.get_component_rich_style("event-log--cursor")
            return strip.crop_extend(scroll_x, scroll_x + width, base + cursor)
        cache = self._cache
        cached = cache.get(row.serial)
        if cached is not None and cached[0] == scroll_x and cached[1] == width:
            return cached[2]
        # What row_text renders to, built directly: one Segment per part (plain
        # strings, never markup), without Rich's Text machinery; the row's text
        # is built here, the first time it is drawn.
        styles = self._row_styles()
        segments = []
        cells = 0
        for chunk, name in row.parts:
            if chunk:
                cells += len(chunk) if chunk.isascii() else cell_len(chunk)
                style = styles.get(name)
                segments.append(Segment(chunk, base + style if style else base))
        if scroll_x == 0 and cells <= width:
            # Already what crop_extend would give: pad it to the width at once.
            if cells < width:
                segments.append(Segment(" " * (width - cells), base))
            strip = Strip(segments, width)
        else:
            strip = Strip(segments, cells).crop_extend(scroll_x, scroll_x + width, base)
        if len(cache) >= _STRIP_CACHE:
            cache.clear()
        cache[row.serial] = (scroll_x, width, strip)
        return strip
