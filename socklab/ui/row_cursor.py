"""A keyboard cursor over the rows of a Line-API ``ScrollView``.

The event log and the ports table both draw only the lines on screen and let
the learner move a highlighted row with the keys every list has (↑/↓,
PgUp/PgDn, Home/End); this is that behaviour, once.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.scroll_view import ScrollView


class RowCursor(ScrollView):
    """A scroll view whose rows a highlighted cursor moves over.

    Subclasses say how many rows there are (`row_count`) and draw the row at
    `cursor` highlighted; ``cursor`` None means no row is selected (the first
    move then starts from the end, where the newest rows are).
    """

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
    ]

    #: Lines drawn above the rows that never scroll (a column header).
    HEADER_LINES = 0

    cursor: int | None = None

    @property
    def row_count(self) -> int:
        """How many rows the cursor can move over."""
        raise NotImplementedError

    @property
    def page(self) -> int:
        """Rows on one screen: what PgUp/PgDn move by."""
        return max(1, self.scrollable_content_region.height - self.HEADER_LINES)

    def action_cursor(self, delta: int) -> None:
        if self.row_count:
            start = self.cursor if self.cursor is not None else self.row_count
            self.move_cursor(start + delta)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * self.page)

    def action_cursor_to(self, index: int) -> None:
        if self.row_count:
            self.move_cursor(index % self.row_count)

    def move_cursor(self, index: int) -> None:
        """Highlight row ``index`` (clamped) and scroll it into view."""
        self.cursor = max(0, min(self.row_count - 1, index))
        page = self.page
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False, immediate=True)
        self.refresh()
