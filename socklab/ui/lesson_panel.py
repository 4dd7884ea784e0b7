"""The Lessons panel: beside the lab (never over the log), one step at a time.

It shows the step's text, its expectations with ✓ (met) or ○ (not yet), a
wrong call's real error with the step's hint (✗), and once the step is done
what just happened.  Next does the step when the learner has not (it fills
the fields the step names and presses the pane's buttons, exactly as a
learner would); Next on a done step goes on.  Back goes back.  ``--auto``
plays the whole lesson with a pause a class can follow.

What a lesson is and whether a step is done is socklab.guided's (data and
`LessonRun`); this widget shows it and acts on the lab only through the
`LabControls` it is given (socklab/ui/controls.py): fill, press, settle,
reset, two hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from ..events import Event
from ..guided import Action, Lesson, LessonRun
from ..guided.expect import describe
from ..labcalls import GREETING
from .controls import LabControls

#: Where a lesson starts: the lab's defaults, with port 0 (the kernel chooses,
#: so a lesson never collides with anything on the machine).
BASELINE: dict[str, dict[str, str]] = {
    "server": {"family": "AF_INET", "type": "SOCK_STREAM", "host": "127.0.0.1", "port": "0",
               "backlog": "5", "mode": "welcome", "reuseaddr": "off", "timeout": "blocking",
               "recv-size": "1024", "message": GREETING.decode()},
    "client": {"family": "AF_INET", "type": "SOCK_STREAM", "host": "127.0.0.1", "port": "0",
               "timeout": "blocking", "recv-size": "1024", "message": "", "count": "3"},
}
#: How long Next waits for a step's events at most (a connect the lab limits: 10 s).
STEP_GUARD = 15.0
#: How often ``repeat:`` presses its button at most.
MAX_REPEAT = 8
_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`|\*(.+?)\*")


def marked(text: str) -> Text:
    """A lesson's Markdown inline marks as styles: **bold**, `code`, *emphasis*.

    Lesson text is the package's own data, but it is still never Rich markup."""
    out, at = Text(), 0
    for found in _INLINE.finditer(text):
        out.append(text[at:found.start()])
        bold, code, emphasis = found.groups()
        if bold is not None:
            out.append(bold, "bold")
        elif code is not None:
            out.append(code, "bold")
        else:
            out.append(emphasis, "italic")
        at = found.end()
    out.append(text[at:])
    return out


class LessonPanel(VerticalScroll):
    """The current lesson's step, its check, and Next / Back."""

    def __init__(self, controls: LabControls, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.controls = controls
        self.run: LessonRun | None = None
        self._news = asyncio.Event()
        #: The latest events (for a test's eyes).
        self._events: list[Event] = []
        self._busy = False
        self.auto_pause: float | None = None
        #: --auto stopped: a step's events did not come (the log says why).
        self.stalled = False
        self.border_title = "Lesson"
        self._starting = asyncio.Lock()

    def compose(self) -> ComposeResult:
        for part in ("step", "text", "expect", "wrong", "after", "status"):
            yield Static("", id=f"lesson-{part}", classes=f"lesson-{part}", markup=False)
        with Horizontal(id="lesson-buttons"):
            yield Button("◀ Back", id="lesson-back", compact=True)
            yield Button("Next ▶", id="lesson-next", compact=True, classes="-next")

    # -- starting ----------------------------------------------------------------------

    async def start(self, lesson: Lesson, auto_pause: float | None = None) -> None:
        """Open ``lesson`` from the lab's defaults: one machine, the lab reset.

        Two starts (``socklab lesson NAME`` opening while the palette opens
        another) take turns: the later one is the lesson that stays open, and
        an ``--auto`` of the earlier one stops (`autoplay` follows ``run``)."""
        async with self._starting:
            await self._start(lesson, auto_pause)

    async def _start(self, lesson: Lesson, auto_pause: float | None) -> None:
        lab = self.controls
        self.display = True
        self.workers.cancel_group(self, "lesson")  # an earlier --auto or Next stops here
        if lab.two_hosts:  # every lesson but two-hosts is on one machine
            await lab.set_two_hosts(False)
        await lab.reset()  # an empty lab: every socket closed, numbering from 1
        for side, fields in BASELINE.items():
            for name, value in fields.items():
                lab.fill(side, name, value)
        self.run = LessonRun(lesson)
        self.stalled = False
        self.border_title = f"Lesson · {lesson.name}"
        self._enter_step()
        self.auto_pause = auto_pause
        if auto_pause is not None:
            self.run_worker(self.autoplay(auto_pause), group="lesson", exclusive=True)

    def feed(self, events: Iterable[Event]) -> None:
        """The bridge's batch (the log's events, in order)."""
        batch = list(events)
        self._events.extend(batch)
        del self._events[:-200]
        if self.run is not None and self.run.feed(batch):
            self.show()
        self._news.set()

    def note_regex(self, matches: list[str]) -> None:
        if self.run is not None and self.run.note_regex(matches):
            self.show()
            self._news.set()

    # -- showing ------------------------------------------------------------------------

    def _part(self, name: str, text: str | Text) -> None:
        part = self.query_one(f"#lesson-{name}", Static)
        part.update(text if isinstance(text, Text) else Text(text))
        part.display = bool(str(text))

    def show(self) -> None:
        run = self.run
        if run is None:
            return
        step, done = run.step, run.done
        lesson = run.lesson
        intro = f"{lesson.intro}\n\n" if run.index == 0 and lesson.intro else ""
        self._part("step", Text(f"{lesson.title}\nStep {run.index + 1} of "
                                f"{len(lesson.steps)}: {step.title}", style="bold"))
        self._part("text", marked(intro + step.text))
        lines = Text()
        for i, expectation in enumerate(step.expectations):
            met = done or run.holds(i)
            lines.append("✓ " if met else "○ ", "bold green" if met else "")
            lines.append(describe(expectation) + "\n")
        self._part("expect", lines)
        wrong = Text()
        if run.wrong is not None and not done:
            event = run.wrong
            wrong.append(f"✗ {event.side}: {event.op}() failed: {event.error}\n", "bold red")
            if event.lesson:
                wrong.append(event.lesson + "\n")
            if step.hint:
                wrong.append(f"Hint: {step.hint}", "bold")
        self._part("wrong", wrong)
        self._part("after", marked(step.after) if done else "")
        status = ("✓ Lesson complete" if run.complete
                  else "✓ Done: Next goes on" if done else "Do it, or press Next to see it done")
        self._part("status", Text(status, style="bold green" if done else "italic"))
        self.query_one("#lesson-back", Button).disabled = run.index == 0
        self.query_one("#lesson-next", Button).disabled = run.complete

    def _enter_step(self) -> None:
        step = self.run.step if self.run else None
        if step is not None and step.show:
            with contextlib.suppress(Exception):
                # Focus in the Lab tab would pull the tabs back to it: it moves to
                # Next, which is also what a learner presses on.
                self.query_one("#lesson-next", Button).focus()
                self.controls.show_tab(step.show)
        self.show()
        self.scroll_home(animate=False)

    # -- Next and Back ------------------------------------------------------------------

    @on(Button.Pressed, "#lesson-next")
    async def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run_worker(self.next(), group="lesson", exclusive=True)

    @on(Button.Pressed, "#lesson-back")
    def _back_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.run is not None and self.run.back():
            self._enter_step()

    async def next(self) -> None:
        """Go on when the step is done; else do the step as a learner would."""
        run = self.run
        if run is None or self._busy:
            return
        if run.done:
            if run.advance():
                self._enter_step()
            return
        self._busy = True
        try:
            await self.do_step()
        finally:
            self._busy = False

    async def do_step(self) -> bool:
        """Fill the step's fields, press its buttons (each after the last one's event),
        press ``repeat:`` until the step is done; True once it is."""
        run = self.run
        assert run is not None
        for setting in run.step.settings:
            self.controls.fill(setting.side, setting.name, run.fill(setting))
        for action in run.step.actions:
            await self.press(action)
        repeat = run.step.repeat
        for _ in range(MAX_REPEAT if repeat is not None else 0):
            if run.done or repeat is None:
                break
            await self.press(repeat)
        return await self._until(lambda: run.done, STEP_GUARD)

    async def press(self, action: Action) -> None:
        """One press, then wait until it has reported (so presses keep their order)."""
        lab = self.controls
        if action.side == "lab":
            if action.call == "reset":
                await lab.reset()
            else:  # two hosts on (lab two-hosts) or off (lab one-machine)
                await lab.set_two_hosts(action.call == "two-hosts")
            return
        lab.press(action.side, action.call, action.target)
        await lab.settle(STEP_GUARD)

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._news.clear()  # before looking: news after this wakes the wait below
            if condition():
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 0.5))

    async def autoplay(self, pause: float) -> None:
        """``--auto``: each step read, done, explained, then the next, until complete."""
        run = self.run
        while run is not None and not run.complete:
            await asyncio.sleep(pause)
            if self.run is not run:
                return  # another lesson was opened meanwhile: it is the one shown
            if not run.done and not await self.do_step():
                if self.run is not run:
                    return
                self.stalled = True
                self._part("status", Text("The step did not happen: see the log", "bold red"))
                return
            self.show()
            await asyncio.sleep(pause)
            if run.advance():
                self._enter_step()
        self.show()
