"""Where a learner is in a lesson: the step, what it has seen, what went wrong.

`LessonRun` is fed the lab's events (the same batches the log shows) and the
regex box's matches; it says whether the current step's expectations hold,
which call was wrong (a failed call the step did not expect: it really
happened, and its error is part of the lesson) and what the next step is.  The
panel and ``--auto`` only show it and press buttons; no lesson logic lives in
a widget.

UI-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..events import WAIT, Event
from .lesson import Lesson, Setting, Step

#: Observations, not calls: never a learner's wrong call.
_VIEW_OPS = frozenset({"state", "packet"})


class LessonRun:
    """One learner's way through one lesson."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.index = 0
        #: Matching events seen per expectation of the current step.
        self.seen: list[int] = []
        #: The last failed call the current step did not expect (shown with its hint).
        self.wrong: Event | None = None
        self.done_steps: set[int] = set()
        #: Facts a ``set:`` may name: {server.port}, {client.port}.
        self.facts: dict[str, str] = {}
        self.regex_matches: list[str] = []
        self._enter()

    # -- where we are -------------------------------------------------------------

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    @property
    def last(self) -> bool:
        return self.index == len(self.lesson.steps) - 1

    def holds(self, which: int) -> bool:
        """Whether the current step's expectation ``which`` is met."""
        expectation = self.step.expectations[which]
        if expectation.on_regex:
            return expectation.regex_holds(self.regex_matches)
        return self.seen[which] >= expectation.count

    @property
    def done(self) -> bool:
        """The current step's expectations all hold (a step with none: at once)."""
        if self.index in self.done_steps:
            return True
        if all(self.holds(i) for i in range(len(self.step.expectations))):
            self.done_steps.add(self.index)
            self.wrong = None
            return True
        return False

    @property
    def complete(self) -> bool:
        """The last step is done: the panel says the lesson is complete."""
        return self.last and self.done

    # -- moving ----------------------------------------------------------------------

    def _enter(self) -> None:
        self.seen = [0] * len(self.step.expectations)
        self.wrong = None

    def advance(self) -> bool:
        """To the next step, once this one is done; False if it is not (or is the last)."""
        if not self.done or self.last:
            return False
        self.index += 1
        self._enter()
        return True

    def back(self) -> bool:
        if self.index == 0:
            return False
        self.index -= 1
        self._enter()
        return True

    # -- what happens in the lab ----------------------------------------------------

    def feed(self, events: Iterable[Event]) -> bool:
        """Take the lab's events in order; True if what the panel shows changed."""
        changed = False
        for event in events:
            self._learn(event)
            if self.index in self.done_steps:
                continue
            matched = False
            for i, expectation in enumerate(self.step.expectations):
                if expectation.matches(event):
                    self.seen[i] += 1
                    matched = changed = True
            if not matched and self._is_wrong(event):
                self.wrong, changed = event, True
        return changed

    def note_regex(self, matches: list[str]) -> bool:
        """The regex box's current matches (an expectation may name one)."""
        self.regex_matches = list(matches)
        return any(e.on_regex for e in self.step.expectations)

    @staticmethod
    def _is_wrong(event: Event) -> bool:
        return (not event.ok and event.phase != WAIT and event.by is None
                and event.op not in _VIEW_OPS)

    def _learn(self, event: Event) -> None:
        if event.ok and event.phase != WAIT and isinstance(event.result, (list, tuple)) \
                and len(event.result) > 1 and (event.side, event.op) in (
                    ("server", "bind"), ("client", "connect")):
            self.facts[f"{event.side}.port"] = str(event.result[1])

    def fill(self, setting: Setting) -> str:
        """A ``set:`` value with the facts it names filled in: ``{server.port}``."""
        return re.sub(r"\{(\w+\.\w+)\}", lambda m: self.facts.get(m.group(1), m.group(0)),
                      setting.value)
