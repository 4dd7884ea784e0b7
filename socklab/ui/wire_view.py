"""The Wire view: the two-column time diagram of the chosen connection, live.

The diagram is built by `socklab.capture.diagram.WireDiagram` (UI-free) as
rows of plain ``(text, style-name)`` parts for the view's width; this widget
only draws the rows in view, cropped to the width, so any terminal size (down
to 1×1) draws something and never fails.  Text is never markup: addresses and
call arguments are shown as written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual.app import SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from ..capture import Capture, Inferred
from ..capture.diagram import Parts, WireDiagram
from ..events import Event

if TYPE_CHECKING:
    from .app import SocklabApp
    from .bridge import Batch

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
        #: The diagram changed while the Wire tab was hidden: drawn when shown.
        self._stale = False

    def add_events(self, events: Sequence[Event]) -> None:
        """Take a batch of the lab's events; redraw if the diagram changed.

        Not while the Wire tab is hidden: a hidden widget's refresh makes
        Textual build the map of every widget of every tab again at the next
        frame (under a flood, every frame); it is drawn when shown."""
        if self.diagram.add(events):
            if self._shown():
                self._rebuild()
            else:
                self._stale = True

    def _shown(self) -> bool:
        return all(node.display for node in self.ancestors_with_self
                   if isinstance(node, Widget))

    def on_show(self) -> None:
        if self._stale:
            self._rebuild()

    def action_choose(self, step: int) -> None:
        self.diagram.choose(step)
        self._rebuild()

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        self._stale = False
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


class Wire:
    """The wire on the lab screen, a part of the app: the capture (when ``packets``),
    feeding the Wire tab, ``p``, the palette's entries, and the one line when
    capture is not allowed."""

    def __init__(self, app: SocklabApp, watch: Callable[[], Capture | Inferred] | None) -> None:
        self._app = app
        #: Starts capturing the lab's segments (the log's packet rows, the Wire tab);
        #: None: packets are off.
        self._watch = watch
        self._started: asyncio.Future[Capture | Inferred] | None = None

    def mount(self) -> None:
        if self._watch is not None:  # opening the capture socket: off the UI thread
            self._started = asyncio.get_running_loop().run_in_executor(None, self._watch)
            self._started.add_done_callback(self._told)

    def on_batch(self, batch: Batch) -> None:
        try:
            self._app.query_one(WireView).add_events(batch.events)
        except NoMatches:
            return  # the app is closing: its widgets are gone

    def _told(self, started: asyncio.Future[Capture | Inferred]) -> None:
        """Without the privilege to capture: one line on what is missing and how to
        get it (the log shows what TCP_INFO counters infer instead)."""
        wire = None if started.cancelled() or started.exception() else started.result()
        if isinstance(wire, Inferred):
            self._app.notify(wire.reason, severity="warning", timeout=15, markup=False)

    async def started(self) -> Capture | Inferred | None:
        """The capture (or the inferred view) once started; None when packets are off."""
        return None if self._started is None else await self._started

    async def stop(self) -> None:
        if self._started is not None:
            wire, self._started = await self._started, None
            await asyncio.to_thread(wire.stop)

    def toggle_packets(self) -> None:
        shown = self._app.event_log.toggle_packets()
        self._app.notify("Packet rows shown under the calls" if shown
                         else "Packet rows hidden", markup=False)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Packet rows", "hide or show the segments under each call (p)",
                            self.toggle_packets)
        yield SystemCommand("Wire view", "the time diagram of a connection's segments",
                            lambda: self._app.show_tab("wire"))
