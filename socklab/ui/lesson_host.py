"""The app's side of lessons and the HTTP view: wiring only, kept out of app.py.

`LessonHost` is mixed into `SocklabApp`: it feeds the Lessons panel and the
HTTP view from the bridge's batches, passes the regex box's matches to the
panel, opens a lesson (``socklab lesson NAME``, the palette) and lists the
lessons in the command palette.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import events
from textual.app import SystemCommand

from ..guided import Lesson, all_lessons, load_lesson
from .http_view import HttpView
from .lesson_panel import LessonPanel

if TYPE_CHECKING:
    from .bridge import Batch


class LessonHost:
    """Lessons and the HTTP view in the lab (mixed into SocklabApp)."""

    #: The lesson to open once the lab is up, and --auto's pause (None: not auto).
    lesson_to_open: str | Lesson | None = None
    lesson_pause: float | None = None

    @property
    def lesson_panel(self) -> LessonPanel:
        return self.query_one(LessonPanel)  # type: ignore[attr-defined]

    @property
    def http_view(self) -> HttpView:
        return self.query_one(HttpView)  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.lesson_panel.display = False
        self.lesson_panel.fit(self.size.width)  # type: ignore[attr-defined]
        self.bridge.subscribe(self._lessons_see)  # type: ignore[attr-defined]
        if self.lesson_to_open is not None:
            lesson, pause = self.lesson_to_open, self.lesson_pause
            self.call_after_refresh(  # type: ignore[attr-defined]
                lambda: self.run_worker(self.start_lesson(lesson, pause)))  # type: ignore[attr-defined]

    def on_resize(self, event: events.Resize) -> None:
        self.lesson_panel.fit(event.size.width)

    def _lessons_see(self, batch: Batch) -> None:
        try:
            http, panel = self.http_view, self.lesson_panel
        except Exception:
            return  # the app is closing: its widgets are gone
        http.add_events(batch.events)
        panel.feed(batch.events)

    def on_http_view_matched(self, message: HttpView.Matched) -> None:
        self.lesson_panel.note_regex(message.matches)

    async def start_lesson(self, lesson: str | Lesson, auto_pause: float | None = None) -> None:
        """Open a lesson in the panel beside the lab (``--auto``: with a pause)."""
        chosen = load_lesson(lesson) if isinstance(lesson, str) else lesson
        await self.lesson_panel.start(chosen, auto_pause)

    def _lesson_open(self) -> bool:
        try:
            panel = self.lesson_panel
        except Exception:
            return False
        return panel.display and panel.run is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Back and Next (F9, F10) are in the footer only while a lesson is open."""
        if action in ("lesson_next", "lesson_back"):
            return self._lesson_open()
        return True

    def action_lesson_next(self) -> None:
        """The lesson's Next: go on, or do the step."""
        if self._lesson_open():
            self.lesson_panel.action_next()

    def action_lesson_back(self) -> None:
        if self._lesson_open():
            self.lesson_panel.back()

    def lesson_commands(self) -> Iterable[SystemCommand]:
        """Next and Back while a lesson is open; one palette command per lesson."""
        if self._lesson_open():
            yield SystemCommand("Lesson: Next step (F10)", "go on, or do the step shown",
                                self.action_lesson_next)
            yield SystemCommand("Lesson: Back a step (F9)", "the step before, its values back",
                                self.action_lesson_back)
        for lesson in all_lessons():
            yield SystemCommand(
                f"Lesson: {lesson.name}", lesson.title,
                lambda chosen=lesson: self.run_worker(  # type: ignore[attr-defined]
                    self.start_lesson(chosen)))
        yield SystemCommand("HTTP view", "the last response, split; the regex box",
                            self.show_http)

    def show_http(self) -> None:
        """The HTTP tab, with the regex box focused (focus left in the Lab tab
        would pull the tabs back to it)."""
        self.query_one("#tabs").active = "http"  # type: ignore[attr-defined]
        self.http_view.query_one("#regex-pattern").focus()
