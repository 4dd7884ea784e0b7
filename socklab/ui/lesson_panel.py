"""The Lessons panel: beside the lab (never over the log), one step at a time.

It shows the step's text, its expectations with ✓ (met) or ○ (not yet), a
wrong call's real error with the step's hint (✗), and once the step is done
what just happened.  Next does the step when the learner has not (it fills
the fields the step names and presses the pane's buttons, exactly as a
learner would); Next on a done step goes on.  Back goes back.  ``--auto``
plays the whole lesson with a pause a class can follow.

What a lesson is and whether a step is done is socklab.guided's (data and
`LessonRun`); this widget shows it and presses buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterable

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Static

from ..capture.text import WIRE_OPS
from ..events import DONE, OBSERVATIONS, PREDICT, SERVER, Event
from ..guided import Action, Lesson, LessonRun, Step
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
#: Events that report what the kernel or the wire saw (or a learner's prediction),
#: not a call a press made.
VIEW_OPS = frozenset({"state", PREDICT, *WIRE_OPS, *OBSERVATIONS})
#: How long Next waits for a step's events at most (a connect the lab limits: 10 s).
STEP_GUARD = 15.0
#: How often ``repeat:`` presses its button at most.
MAX_REPEAT = 8
#: How long Next looks, after a ``repeat:`` press that did not finish the step, before
#: pressing again, as a learner would (a send waiting for a closed window goes on
#: only as the reader's window opens, a round trip at a time: the flow-control lesson).
REPEAT_PAUSE = 0.5
#: The calls that block: Next never starts a second one while one waits.
BLOCKING = frozenset({"accept", "recv", "recvfrom", "connect"})


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

    #: A step's question: keys 1-4 answer it (focus moves to its choices).
    BINDINGS = [Binding(str(n), f"choose({n})", f"choice {n}", show=False)
                for n in range(1, 5)]

    def __init__(self, controls: LabControls, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: The lab, as far as a lesson may act on it (the app's `LabControls`).
        self.controls = controls
        self.run: LessonRun | None = None
        self._news = asyncio.Event()
        #: The latest events (for a test's eyes) and how many each side has had.
        self._events: list[Event] = []
        self._per_side: Counter[str] = Counter()
        #: Per side: binds that returned, and calls before a bind that failed.  A
        #: server's Run is shown once its bind came (or failed before it): until
        #: then the client's port field still holds the previous server's port.
        self._bound: Counter[str] = Counter()
        self._busy = False
        self.auto_pause: float | None = None
        #: --auto stopped: a step's events did not come (the log says why).
        self.stalled = False
        #: Next could not do the step from here: why (shown with Back / Restart).
        self.stuck: str | None = None
        #: The values the fields had before each step filled them: Back restores them.
        self._before: dict[int, dict[tuple[str, str], str]] = {}
        self.border_title = "Lesson"
        self._starting = asyncio.Lock()
        #: Predictions answered whose event has not come: step → the predict call's id.
        self._predicted: dict[int, int] = {}
        #: What each part of the panel shows now (`_part`).
        self._shown: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        for part in ("step", "text", "expect", "question"):
            yield Static("", id=f"lesson-{part}", classes=f"lesson-{part}", markup=False)
        with Grid(id="lesson-choices"):
            for n in range(1, 5):
                yield Button("", id=f"lesson-choice-{n}", compact=True, classes="lesson-choice")
        for part in ("wrong", "after", "intro"):
            yield Static("", id=f"lesson-{part}", classes=f"lesson-{part}", markup=False)
        # Docked at the panel's foot: Back / Next and where the step stands stay in view.
        with Horizontal(id="lesson-buttons"):
            yield Button("◀ Back F9", id="lesson-back", compact=True)
            yield Button("Next F10 ▶", id="lesson-next", compact=True, classes="-next")
            yield Button("↺ Restart", id="lesson-restart", compact=True)
            yield Static("", id="lesson-status", classes="lesson-status", markup=False)

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
        await lab.reset(quiet=True)  # an empty lab: every socket closed, numbering from 1
        for side, fields in BASELINE.items():
            for name, value in fields.items():
                lab.fill(side, name, value)
        lab.unmark_all()
        self.run = LessonRun(lesson)
        self.app.refresh_bindings()  # a lesson is open: Back and Next (F9, F10) join the footer
        self._before, self._predicted = {}, {}
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
        # Calls only: a press waits for its own call's first event, and the kernel
        # view's states and the wire's packets come on their own (a late
        # "client[1] CLOSE" once ended the wait for the next socket() too soon).
        self._per_side.update(event.side for event in batch if event.op not in VIEW_OPS)
        self._bound.update(event.side for event in batch if _bound_or_failed(event))
        if self.run is not None and self.run.feed(batch):
            self.show()
        self._news.set()

    def note_regex(self, matches: list[str]) -> None:
        if self.run is not None and self.run.note_regex(matches):
            self.show()
            self._news.set()

    # -- showing ------------------------------------------------------------------------

    DRAWER_BELOW = 140

    def fit(self, width: int) -> None:
        """A drawer under the panes below DRAWER_BELOW columns, beside them above."""
        drawer = width < self.DRAWER_BELOW
        if drawer != self.has_class("-drawer"):
            self.set_class(drawer, "-drawer")
            self.show()

    def _part(self, name: str, text: str | Text) -> None:
        """Show ``text`` in a part of the panel.  `show` runs on every batch that
        moves the step: a part whose text is unchanged is left alone, and one whose
        lines keep their shape (a ○ turned ✓) is repainted without a new layout of
        the screen (each layout measured and placed every widget of the screen)."""
        content = text if isinstance(text, Text) else Text(text)
        shown = self._shown.get(name)
        if shown is not None and _looks_same(shown, content):
            return
        part = self.query_one(f"#lesson-{name}", Static)
        part.update(content, layout=shown is None or not _same_shape(shown, content))
        part.display = bool(content.plain)
        self._shown[name] = content

    def show(self) -> None:
        run = self.run
        if run is None:
            return
        step, done = run.step, run.done
        lesson = run.lesson
        title = "" if self.has_class("-drawer") else f"{lesson.title}\n"
        self._part("step", Text(f"{title}Step {run.index + 1} of "
                                f"{len(lesson.steps)}: {step.title}", style="bold"))
        self._part("text", marked(step.text + _choice_keys(step)))
        # The introduction after the step: the instruction comes first in view.
        self._part("intro", marked(f"About this lesson: {lesson.intro}")
                   if run.index == 0 and lesson.intro else "")
        lines = Text()
        for i, expectation in enumerate(step.expectations):
            met = done or run.holds(i)
            lines.append("✓ " if met else "○ ", "bold green" if met else "")
            lines.append(describe(expectation) + "\n")
        lines.rstrip()
        self._part("expect", lines)
        self._show_question()
        self._part("wrong", Text() if done else self._wrong_text())
        self._part("after", marked(step.after) if done else "")
        if run.complete:
            status = "✓ Lesson complete"
        elif done:
            status = "✓ Done: Next goes on"
        else:
            status = "Do it, or Next does it"
        self._part("status", Text(status, style="bold green" if done else "italic"))
        self.query_one("#lesson-back", Button).disabled = run.index == 0
        self.query_one("#lesson-next", Button).disabled = run.complete
        self.query_one("#lesson-restart", Button).display = self.stuck is not None
        if done and self.has_class("-drawer"):  # what just happened, in a short drawer
            self.call_after_refresh(self._show_after)

    def _show_after(self) -> None:
        with contextlib.suppress(Exception):
            self.scroll_to_widget(self.query_one("#lesson-after"), animate=False, top=True)

    def _show_question(self) -> None:
        """The step's prediction: its question and choices until answered, then the
        answer, and once the event came whether it held."""
        run = self.run
        assert run is not None
        question, index = run.step.question, run.index
        choices = self.query_one("#lesson-choices")
        choices.display = run.asking
        if question is None:
            self._part("question", "")
            return
        text = Text(f"Predict: {question.text}", style="bold")
        if run.asking:
            text.append("  (keys 1–4)", style="italic")
            for n, button in enumerate(self.query(".lesson-choice").results(Button)):
                button.display = n < len(question.choices)
                if n < len(question.choices):
                    button.label = f"{n + 1} {question.choices[n][0]}"
        elif index in run.answers:
            text.append(f"\nYou said: {question.label_of(run.answers[index])}")
            held = run.held()
            if held is not None:
                seen = question.label_of(run.observed[index])
                text.append(" — it held ✓" if held else f" — it did not hold ✗: it was {seen}",
                            "bold green" if held else "bold red")
                self._report(index)
        elif index in run.observed:
            text.append(f"\nNot answered: it was {question.label_of(run.observed[index])}.")
        self._part("question", text)

    def action_choose(self, number: int) -> None:
        """Key 1-4 (or a choice's button): the learner's answer, logged as ``predict``."""
        run = self.run
        if run is None or run.step.question is None:
            return
        value = run.answer(number - 1)
        if value is None:
            return
        question = run.step.question
        observe = question.observe
        if observe is None:
            return
        self._predicted[run.index] = self.controls.predict(
            _side_of(observe.side), question.text, value)
        self.show()

    def _report(self, index: int) -> None:
        """Once the event came: the prediction's outcome in the log (once)."""
        run = self.run
        assert run is not None
        call = self._predicted.pop(index, None)
        question = run.lesson.steps[index].question
        if call is None or question is None or question.observe is None:
            return
        observe, actual = question.observe, run.observed[index]
        why = (f"predicted {question.label_of(run.answers[index])}; "
               f"the {observe.op} showed {question.label_of(actual)}")
        self.controls.predict(_side_of(observe.side), question.text,
                              run.answers[index], call=call, actual=actual, lesson=why)

    @on(Button.Pressed, ".lesson-choice")
    def _choice_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(int((event.button.id or "0").rsplit("-", 1)[1]))

    def _wrong_text(self) -> Text:
        """A wrong call's error, what differs from the step, the hint, and being stuck."""
        run = self.run
        assert run is not None
        wrong = Text()
        if run.wrong is not None:
            event = run.wrong
            wrong.append(f"✗ {event.side}: {event.op}() failed: {event.error}\n", "bold red")
            # On the wrong socket, what to choose (not the error's own advice: a
            # closed socket's "make a new one with socket()" is not this step's way).
            instead = run.misdirected() or event.lesson
            if instead:
                wrong.append(instead + "\n")
        if run.difference is not None:
            wrong.append(f"✗ {run.difference}\n", "bold red")
        if wrong and run.step.hint:
            wrong.append(f"Hint: {run.step.hint}\n", "bold")
        if self.stuck is not None:
            wrong.append(f"This step cannot be done from here: {self.stuck}\n"
                         "Press Back, or Restart to begin the lesson again.", "bold")
        wrong.rstrip()
        return wrong

    def _enter_step(self) -> None:
        """Show the current step, its fields filled (and highlighted) as it needs them."""
        run = self.run
        if run is None:
            return
        self.stuck = None
        self._fill_step()
        step = run.step
        if step.show:
            with contextlib.suppress(Exception):
                # Focus in the Lab tab would pull the tabs back to it: it moves to
                # Next, which is also what a learner presses on.
                self.query_one("#lesson-next", Button).focus()
                self.controls.show_tab(step.show)
        self.show()
        self.scroll_home(animate=False)
        if run.asking:  # keys 1-4 answer it: the choices take the focus
            self.query_one("#lesson-choice-1", Button).focus()
            self.call_after_refresh(self._show_choices)

    def _show_choices(self) -> None:
        with contextlib.suppress(Exception):
            self.scroll_to_widget(self.query_one("#lesson-choices"), animate=False)

    def _fill_step(self) -> None:
        """Every field the lesson has set up to this step, at its value; the values
        they had before are kept for Back."""
        run = self.run
        assert run is not None
        lab = self.controls
        lab.unmark_all()
        before = self._before.setdefault(run.index, {})
        for (side, name), setting in run.settings_at(run.index).items():
            value = run.fill(setting)
            if "{" in value:
                continue  # a fact not known yet (the server's port before its bind)
            old = lab.value(side, name)
            if lab.fill(side, name, value):
                before.setdefault((side, name), old)
                lab.mark(side, name, True)

    def _restore(self, index: int) -> None:
        """Back from step ``index``: the fields it filled get their values back."""
        lab = self.controls
        for (side, name), value in self._before.pop(index, {}).items():
            lab.fill(side, name, value)

    # -- Next and Back ------------------------------------------------------------------

    @on(Button.Pressed, "#lesson-next")
    async def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next()

    @on(Button.Pressed, "#lesson-back")
    def _back_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.back()

    @on(Button.Pressed, "#lesson-restart")
    def _restart_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.run is not None:
            lesson = self.run.lesson
            self.run_worker(self.start(lesson), group="restart")

    def action_next(self) -> None:
        """Next (the button, its key, the palette): on a done step, go on at once (a
        Next still finishing the step stops); else do the step in a worker."""
        run = self.run
        if run is None:
            return
        if run.done:
            self.workers.cancel_group(self, "lesson")
            if run.advance():
                self._enter_step()
        elif not self._busy:
            self.run_worker(self.next(), group="lesson", exclusive=True)

    def back(self) -> bool:
        """Back one step: the fields this step filled get their earlier values."""
        if self.run is None or self._busy:
            return False
        index = self.run.index
        if not self.run.back():
            return False
        self._restore(index)
        self._enter_step()
        return True

    async def next(self) -> None:
        """Go on when the step is done; else do what is left of it as a learner would."""
        run = self.run
        if run is None or self._busy:
            return
        if run.done:
            if run.advance():
                self._enter_step()
            return
        self._busy = True
        try:
            if not await self.do_step() and self.run is run and not run.done:
                self.stuck = self._why_stuck()
                self.show()
        finally:
            self._busy = False

    def _why_stuck(self) -> str:
        run = self.run
        assert run is not None
        if run.difference is not None:
            return run.difference
        if run.wrong is not None:
            return f"{run.wrong.op}() failed with {run.wrong.error}."
        return "what it waits for did not happen (the log says what did)."

    def _pending(self, action: Action, index: int) -> bool:
        """Whether ``action`` (the step's ``index``-th press) is still to be done:
        not if the step already saw it succeed, or a blocking call of its kind waits."""
        run = self.run
        assert run is not None
        if action.side == "lab":
            return True
        ops = _CALL_OPS.get(action.call, (action.call,))
        if any(op in BLOCKING and run.is_waiting(action.side, op) for op in ops):
            return False
        same = sum(1 for earlier in run.step.actions[:index + 1]
                   if (earlier.side, earlier.call) == (action.side, action.call))
        return max(run.already(action.side, op) for op in ops) < same

    async def do_step(self) -> bool:
        """Fill the step's fields, press the buttons it still needs (each after the
        last one's event), press ``repeat:`` until the step is done; True once it is."""
        run = self.run
        assert run is not None
        self._fill_step()
        pressed = False
        for index, action in enumerate(run.step.actions):
            if run.done:
                break
            if self._pending(action, index):
                await self.press(action)
                pressed = True
        repeat = run.step.repeat
        for _ in range(MAX_REPEAT if repeat is not None else 0):
            if repeat is None or run.done or (
                    repeat.call in BLOCKING and run.is_waiting(repeat.side, repeat.call)):
                break
            await self.press(repeat)
            pressed = True
            await self._until(lambda: run.done, REPEAT_PAUSE)
        # Nothing left to press: what the step waits for is already in flight, or
        # will not come from here (a moment for late events, not the whole guard).
        waits = pressed or any(e.side in ("server", "client") for e in run.waiting.values())
        return await self._until(lambda: run.done, STEP_GUARD if waits else 1.0)

    async def press(self, action: Action) -> None:
        """One press, then wait for its first event (so presses keep their order), and
        for the server's Run for its bind (`shown`)."""
        lab = self.controls
        if action.side == "lab":  # reset, two hosts on or off, a Cable bar preset
            await lab.act(action.call)
            return
        mark = self.mark(action.side)
        lab.press(action.side, action.call, action.target)
        await self._until(lambda: self.shown(action, mark), STEP_GUARD)

    def mark(self, side: str) -> tuple[int, int]:
        """Where ``side``'s events are now, for `shown` after a press."""
        return self._per_side[side], self._bound[side]

    def shown(self, action: Action, mark: tuple[int, int]) -> bool:
        """The press made since ``mark`` has shown what the next press may depend on:
        its first call, and for the server's Run its bind too (the client's port
        follows the port it got: a client Run pressed before it connected to the
        previous server's port, under load, after a Reset).  A learner sees both."""
        calls, binds = mark
        if self._per_side[action.side] <= calls:
            return False
        return (action.side, action.call) != (SERVER, "run") or self._bound[SERVER] > binds

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


def _looks_same(old: Text, new: Text) -> bool:
    """The same words in the same styles (Rich's ``==`` leaves the base style out)."""
    return old == new and old.style == new.style


def _same_shape(old: Text, new: Text) -> bool:
    """``new`` wraps into the lines ``old`` did at any width, so it takes the same
    room: as long, each character as wide, with spaces and line ends where they were."""
    a, b = old.plain, new.plain
    return len(a) == len(b) and all(
        x == y or (not x.isspace() and not y.isspace() and cell_len(x) == cell_len(y))
        for x, y in zip(a, b, strict=True))


#: The calls a server's Run makes up to its bind (a failure stops it there).
_BEFORE_BIND = frozenset({"socket", "setsockopt", "bind"})


def _bound_or_failed(event: Event) -> bool:
    """A bind returned, or a call before it failed: a Run's port is settled (a
    failure of another call, such as the EBADF of an accept a Reset ended, says
    nothing about it)."""
    return event.phase == DONE and event.op in _BEFORE_BIND \
        and (event.op == "bind" or not event.ok)


def _choice_keys(step: Step) -> str:
    """For a step that acts on a row of a pane's list: the keys that choose it."""
    for action in step.actions:
        if action.target is not None and action.side in ("server", "client"):
            row = "the listener" if action.target == "listener" else "the connection"
            return (f"\nKeys: Tab to the {action.side}'s list, ↑/↓ to {row}, "
                    f"Tab to **{action.call}()**, Enter.")
    return ""


def _side_of(side: str) -> str:
    """The side a question is about (an ``any`` observation: the server's)."""
    return side if side in ("server", "client") else "server"


#: The calls a button makes that a step's events show (Run: the whole sequence).
_CALL_OPS: dict[str, tuple[str, ...]] = {
    "run": ("accept", "recvfrom", "connect", "sendto"),
    "connect-n": ("connect",),
    "send-bulk": ("send",),
}
