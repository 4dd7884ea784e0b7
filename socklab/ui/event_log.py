"""The live event log: one ordered log of every call, for both panes.

Why a Line-API ``ScrollView`` and not ``RichLog``: PERF-NOTES.md measured
``RichLog.write`` at ~4,000 lines/s with 100 ms+ UI stalls and unbounded
memory.  Here the rows live in a bounded, UI-free model
(`socklab.logmodel.LogBuffer`) that keeps each event's main line as plain
``(text, style-name)`` parts built when read, and only the rows on screen are
ever rendered into a `Strip` (with a small cache).  A batch of events
(`EventLog.add_events`) costs one ``virtual_size`` update and one refresh
however many events it holds.

Safety: payload text reaches a row only as ``event.data``, which the engine
has already escaped (no control characters, no ESC).  Rows are drawn from
plain strings (``Segment`` / ``Text.append``), never from markup, so
``[bold]`` or ``[@click=app.quit]`` sent by a peer is shown literally and does
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import monotonic

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.timer import Timer

from ..events import Event
from ..logformat import STYLE_NAMES
from ..logmodel import MAIN, MAX_ROWS, LogBuffer, Row, fold_parts, narrow_parts
from .row_cursor import RowCursor

__all__ = ["MAIN", "MAX_ROWS", "EventLog", "row_text"]

#: Drawn rows kept ready (a few screens' worth).  Each strip is a dozen objects
#: the cyclic collector walks; under a flood no row is drawn twice.
_STRIP_CACHE = 256
#: From this terminal width the log reads as the lecture's two windows: the
#: server's calls on the left, the client's on the right, still one order.
TWO_COLUMNS_AT = 160
#: Below this log width the time column is left out, so a call's result (the
#: ports, the error) fits at 80 columns instead of being cut.
COMPACT_BELOW = 100
#: Under a flood the log is repainted at most this often (seconds): each frame
#: of a fast-scrolling log costs as much as the thousands of rows it skips, and
#: nobody reads rows scrolling past at 60 frames a second.
FLOOD_FRAME = 0.1


def row_text(row: Row, styles: dict[str, Style],
             parts: Sequence[tuple[str, str]] | None = None) -> Text:
    """One row (or the ``parts`` drawn for it) as Rich ``Text``: plain strings
    with styles, never markup."""
    text = Text(no_wrap=True, end="")
    for chunk, name in row.parts if parts is None else parts:
        text.append(chunk, styles.get(name))
    return text


class EventLog(RowCursor, can_focus=True):
    """The live, ordered log of every socket call in the lab.

    Focus it to move a cursor over the rows (↑/↓, PgUp/PgDn, Home/End); ``x``
    shows the selected event's bytes as hex.  It follows new rows unless the
    learner scrolled up.
    """

    COMPONENT_CLASSES = {f"event-log--{name}" for name in STYLE_NAMES} | {"event-log--cursor"}

    BINDINGS = [Binding("escape", "clear_cursor", "No selection", show=False)]

    def __init__(self, *, max_rows: int = MAX_ROWS, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.buffer = LogBuffer(cell_len, max_rows=max_rows)
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
        #: Where the client's column starts (0: one column).
        self.columns = 0
        #: Narrow: rows are drawn without their time column.
        self.compact = False
        #: When new rows were last shown, and the timer that shows the next ones.
        self._shown_at = 0.0
        self._catch_up: Timer | None = None

    # -- feeding -------------------------------------------------------------

    def add_events(self, events: Sequence[Event]) -> None:
        """Append a batch of events: the rows at once; the size update, the
        scroll to the end and the repaint at most once per `FLOOD_FRAME`
        (the first batch after a quiet moment is shown at once)."""
        if not events:
            return
        trimmed, changed = self.buffer.add_events(events)
        for serial in changed:
            self._cache.pop(serial, None)
        if trimmed:
            if self.cursor is not None:
                self.cursor = self.cursor - trimmed if self.cursor >= trimmed else None
            if not self.follow:
                self.scroll_to(y=max(0, self.scroll_y - trimmed), animate=False,
                               immediate=True)
        if self._catch_up is not None:
            return  # already due: that repaint shows this batch too
        wait = FLOOD_FRAME - (monotonic() - self._shown_at)
        if wait <= 0 or not self.is_running:
            self._show_new_rows()
        else:
            self._catch_up = self.set_timer(wait, self._show_new_rows)

    def _show_new_rows(self) -> None:
        """One size update, the scroll to the end (when following), one refresh."""
        self._catch_up = None
        self._shown_at = monotonic()
        self._update_size()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            self.follow = True
        elif new_value < old_value:
            self.follow = False  # the learner scrolled up to read

    def _parts_of(self, row: Row) -> Sequence[tuple[str, str]]:
        """The parts drawn for a row: in a narrow log, a call's line without its
        time (``+1.234s``), and when still too wide, without its result (drawn
        on the row under it), so the result after the arrow is not cut."""
        parts = row.parts
        if self.compact and row.kind == MAIN:
            parts = narrow_parts(parts)
            if row.folded:
                parts = fold_parts(parts)[0]
        return parts

    def _column_of(self, row: Row) -> str:
        """The margin a row starts with: in two columns, the client's rows start
        at the middle (a rule marks it), the server's at the left edge."""
        if not self.columns or row.event.side != "client":
            return ""
        return " " * (self.columns - 2) + "│ "

    def on_resize(self) -> None:
        """Re-wrap lessons to the new width; a narrow log folds the calls too
        wide for it (the wider main lines scroll)."""
        columns = self.size.width // 2 if self.app.size.width >= TWO_COLUMNS_AT else 0
        compact = 0 < self.size.width < COMPACT_BELOW
        if columns != self.columns or compact != self.compact:
            self.columns, self.compact = columns, compact
            self._cache.clear()
            self._update_size()
            self.refresh()
        # In two columns a lesson is wrapped to its column.
        width = self.scrollable_content_region.width - 1 - self.columns
        if width > 0 and self.buffer.rewrap(width, fold=self.compact):
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
        size = Size(self.buffer.width + 1 + self.columns, len(self.buffer.rows))
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

    def toggle_packets(self) -> bool:
        """Show or hide the packet rows under the calls; returns whether shown."""
        shown = self.buffer.toggle_packets()
        self.cursor = None
        self._cache.clear()
        self._update_size()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        return shown

    @property
    def row_count(self) -> int:
        return len(self.buffer.rows)

    def action_clear_cursor(self) -> None:
        self.cursor = None
        self.refresh()

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
        margin = self._column_of(row)
        if index == self.cursor:
            text = row_text(row, self._row_styles(), self._parts_of(row))
            if margin:
                text = Text(margin, self._row_styles().get("dim"), end="") + text
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
        cells = len(margin)
        if margin:
            dim = styles.get("dim")
            segments.append(Segment(margin, base + dim if dim else base))
        for chunk, name in self._parts_of(row):
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
