"""Lessons and the HTTP view on the lab screen: a part of the app.

`Lessons` feeds the Lessons panel and the HTTP view from the bridge's
batches, opens a lesson (``socklab lesson NAME``, the palette) and lists the
lessons in the command palette.  The panel acts on the lab only through the
`LabControls` the app gives it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.css.query import NoMatches

from ..guided import Lesson, all_lessons, load_lesson
from .leaf_classes import LESSON, set_leaf_class
from .port_info import PortInfoLine

if TYPE_CHECKING:
    from .app import SocklabApp
    from .bridge import Batch


class Lessons:
    """The guided lessons in the lab, and the HTTP view they read."""

    def __init__(self, app: SocklabApp) -> None:
        self._app = app
        #: The lesson to open once the lab is up, and --auto's pause (None: not auto).
        self.to_open: str | Lesson | None = None
        self.pause: float | None = None

    def mount(self) -> None:
        app = self._app
        app.lesson_panel.display = False
        app.lesson_panel.fit(app.size.width)
        if self.to_open is not None:
            lesson, pause = self.to_open, self.pause
            app.call_after_refresh(lambda: app.run_worker(self.start(lesson, pause)))

    def resize(self, width: int) -> None:
        """The screen's width changed: the panel takes its share of it."""
        with contextlib.suppress(NoMatches):
            self._app.lesson_panel.fit(width)

    def on_batch(self, batch: Batch) -> None:
        try:
            http, panel = self._app.http_view, self._app.lesson_panel
        except NoMatches:
            return  # the app is closing: its widgets are gone
        http.add_events(batch.events)
        panel.feed(batch.events)

    async def start(self, lesson: str | Lesson, auto_pause: float | None = None) -> None:
        """Open a lesson in the panel beside the lab (``--auto``: with a pause)."""
        chosen = load_lesson(lesson) if isinstance(lesson, str) else lesson
        self.make_room()
        await self._app.lesson_panel.start(chosen, auto_pause)

    def make_room(self) -> None:
        """The lab's layout with a lesson open: the panes keep their buttons in view,
        port info is hidden, the log keeps a few rows (socklab.tcss, ``-lesson``)."""
        app = self._app
        for widget in (app.query_one("#panes"), *app.query(PortInfoLine), app.event_log):
            set_leaf_class(widget, True, LESSON)

    def is_open(self) -> bool:
        try:
            panel = self._app.lesson_panel
        except NoMatches:
            return False
        return panel.display and panel.run is not None

    def next(self) -> None:
        """The lesson's Next (F10): go on, or do the step."""
        if self.is_open():
            self._app.lesson_panel.action_next()

    def back(self) -> None:
        """The lesson's Back (F9)."""
        if self.is_open():
            self._app.lesson_panel.back()

    def commands(self) -> Iterable[SystemCommand]:
        """Next and Back while a lesson is open; one palette command per lesson; the
        HTTP view."""
        app = self._app
        if self.is_open():
            yield SystemCommand("Lesson: Next step (F10)", "go on, or do the step shown",
                                self.next)
            yield SystemCommand("Lesson: Back a step (F9)", "the step before, its values back",
                                self.back)
        for lesson in all_lessons():
            yield SystemCommand(
                f"Lesson: {lesson.name}", lesson.title,
                lambda chosen=lesson: app.run_worker(self.start(chosen)))
        yield SystemCommand("HTTP view", "the last response, split; the regex box",
                            self.show_http)

    def show_http(self) -> None:
        """The HTTP tab, with the regex box focused (focus left in the Lab tab
        would pull the tabs back to it)."""
        self._app.show_tab("http")
        self._app.http_view.query_one("#regex-pattern").focus()
