"""The Wire view: the two-column time diagram of the chosen connection, live.

The diagram is built by `socklab.capture.diagram.WireDiagram` (UI-free) as
rows of plain ``(text, style-name)`` parts for the view's width; this widget
only draws the rows in view, cropped to the width, so any terminal size (down
to 1×1) draws something and never fails.  Text is never markup: addresses and
call arguments are shown as written.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..capture.diagram import Parts, WireDiagram
from ..events import Event

_STYLES = ("dim", "client", "server")


class WireView(ScrollView, can_focus=True):
    """Client on the left, server on the right, each segment an arrow between them."""

    COMPONENT_CLASSES = {f"wire-view--{name}" for name in _STYLES}

    BINDINGS = [
        Binding("left_square_bracket", "choose(-1)", "Previous connection"),
        Binding("right_square_bracket", "choose(1)", "Next connection"),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.diagram = WireDiagram()
        self._rows: list[Parts] = []
        self._width = -1

    def add_events(self, events: Sequence[Event]) -> None:
        """Take a batch of the lab's events; redraw if the diagram changed."""
        if self.diagram.add(events):
            self._rebuild()

    def action_choose(self, step: int) -> None:
        self.diagram.choose(step)
        self._rebuild()

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        width = max(1, self.scrollable_content_region.width)
        follow = self.scroll_y >= self.max_scroll_y
        self._rows = self.diagram.rows(width)
        self._width = width
        self.virtual_size = Size(width, len(self._rows))
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = self.scroll_offset.y + y
        if width <= 0 or index >= len(self._rows) or index < 0:
            return Strip.blank(max(0, width), base)
        styles: dict[str, Style] = {
            name: self.get_component_rich_style(f"wire-view--{name}", partial=True)
            for name in _STYLES
        }
        segments = [Segment(text, base + styles[name] if name in styles else base)
                    for text, name in self._rows[index] if text]
        cells = sum(segment.cell_length for segment in segments)
        return Strip(segments, cells).crop_extend(0, width, base)
