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

from ..events import OBSERVATIONS, PREDICT, WAIT, Event
from .expect import field_of
from .lesson import Lesson, Setting, Step

#: Observations, not calls: never a learner's wrong call.
_VIEW_OPS = frozenset({"state", "packet", PREDICT, *OBSERVATIONS})


#: Events a run keeps (a lesson makes a few hundred; floods are coalesced).
KEEP = 20_000


class LessonRun:
    """One learner's way through one lesson.

    Every event since the lesson started is kept in order.  A step counts the
    events from where the step before it was completed: what a learner did
    ahead of the text (recv pressed before Next) is counted when its step
    opens, so a step already done is done, and Next never repeats it."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.index = 0
        #: Matching events seen per expectation of the current step.
        self.seen: list[int] = []
        #: The last failed call the current step did not expect (shown with its hint).
        self.wrong: Event | None = None
        #: The expected call made with other arguments: what differs, in words.
        self.difference: str | None = None
        self.done_steps: set[int] = set()
        #: Facts a ``set:`` may name: {server.port}, {client.port}.
        self.facts: dict[str, str] = {}
        self.regex_matches: list[str] = []
        #: The lesson's events (the first ``dropped`` of them no longer kept).
        self.history: list[Event] = []
        self.dropped = 0
        #: Where each step's events start and where each done step was completed
        #: (positions in the history, counting the dropped ones).
        self.starts: dict[int, int] = {0: 0}
        self.ends: dict[int, int] = {}
        #: Blocking calls that started waiting and have not returned: call id → event.
        self.waiting: dict[int, Event] = {}
        #: Predictions: the value each step's answer chose, and what was observed.
        self.answers: dict[int, str] = {}
        self.observed: dict[int, str] = {}
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
            self.ends[self.index] = self.dropped + len(self.history)
            self.wrong = self.difference = None
            return True
        return False

    @property
    def complete(self) -> bool:
        """Every step done by its real events, and the last one showing."""
        return self.last and self.done and len(self.done_steps) == len(self.lesson.steps)

    def step_events(self) -> list[Event]:
        """The events the current step counts (from where the step before was done)."""
        return self.history[max(0, self.starts.get(self.index, 0) - self.dropped):]

    # -- moving ----------------------------------------------------------------------

    def _enter(self) -> None:
        """Open the current step: count the events since the step before was done."""
        self.seen = [0] * len(self.step.expectations)
        self.wrong = self.difference = None
        if self.index not in self.done_steps:
            self.starts[self.index] = self.ends.get(self.index - 1, self.starts.get(self.index, 0))
            self._count(self.step_events())
        self.done  # noqa: B018 - a step with nothing to wait for is done as it opens

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
        batch = list(events)
        for event in batch:
            self._learn(event)
        self.history.extend(batch)
        if len(self.history) > KEEP:
            cut = len(self.history) - KEEP
            del self.history[:cut]
            self.dropped += cut
        if self.index in self.done_steps:
            return False
        return self._count(batch, len(self.history) - len(batch))

    def _count(self, events: list[Event], at: int | None = None) -> bool:
        """Count ``events`` (kept from history position ``at``) for the current step,
        up to the one that completes it."""
        start = self.dropped + (len(self.history) - len(events) if at is None else at)
        changed = False
        question = self.step.question
        for n, event in enumerate(events):
            if self.index in self.done_steps:
                break
            if question is not None and question.observe.matches(event):  # type: ignore
                value = field_of(event, question.field)
                self.observed[self.index] = "none" if value is None else str(value)
                changed = True
            matched = False
            for i, expectation in enumerate(self.step.expectations):
                if expectation.matches(event):
                    self.seen[i] += 1
                    matched = changed = True
                elif event.op not in _VIEW_OPS and \
                        (differs := expectation.difference(event)) is not None:
                    self.difference, changed = differs, True
            if matched and all(self.holds(i) for i in range(len(self.seen))):
                self.done_steps.add(self.index)
                self.ends[self.index] = start + n + 1
                self.wrong = self.difference = None
            elif not matched and self._is_wrong(event):
                self.wrong, changed = event, True
        return changed

    # -- predictions ------------------------------------------------------------------

    @property
    def asking(self) -> bool:
        """The step's question waits for an answer (the step is not done yet: what
        it observes may still change, a queue growing)."""
        return (self.step.question is not None and self.index not in self.answers
                and self.index not in self.done_steps)

    def answer(self, choice: int) -> str | None:
        """The learner's answer (choice 0-3): its value; None if there is no such choice."""
        question = self.step.question
        if not self.asking or question is None or not 0 <= choice < len(question.choices):
            return None
        self.answers[self.index] = question.choices[choice][1]
        return self.answers[self.index]

    def held(self, index: int | None = None) -> bool | None:
        """Whether the prediction of a step held (None: not answered, or the step not
        done yet)."""
        index = self.index if index is None else index
        if index not in self.answers or index not in self.observed \
                or index not in self.done_steps:
            return None
        return self.answers[index] == self.observed[index]

    def note_regex(self, matches: list[str]) -> bool:
        """The regex box's current matches (an expectation may name one)."""
        self.regex_matches = list(matches)
        return any(e.on_regex for e in self.step.expectations)

    def misdirected(self) -> str | None:
        """The wrong call went to another socket than the step's: the listener when
        the step needs a connection, or a connection (one closed already, whose row
        stays in the list while the kernel keeps it) when it needs the listener.
        In plain words, what to choose instead; None if that is not what went wrong."""
        event = self.wrong
        if event is None:
            return None
        action = next((a for a in self.step.actions if a.target and a.side == event.side
                       and a.call == event.op), None)
        if action is None or (action.target == "listener") == (event.conn is None):
            return None
        if event.conn is None:
            went, row = "the listener", "the connection's row"
        else:
            went, row = f"connection [{event.conn}]", "the listener's row"
            if self._closed_before(event):
                went += (", closed already (its row stays in the list while the kernel "
                         "keeps the connection)")
        return (f"{event.op}() went to {went}: the socket chosen in the {event.side}'s "
                f"list. Choose {row} in that list, then press {event.op}() again.")

    def _closed_before(self, event: Event) -> bool:
        """The socket ``event`` was made on had been closed by a call before it."""
        for earlier in reversed(self.history):
            if earlier.seq >= event.seq or (earlier.side, earlier.conn) != \
                    (event.side, event.conn) or earlier.phase == WAIT:
                continue
            if earlier.op in ("accept", "socket") and earlier.ok:
                return False
            if earlier.op == "close" and earlier.ok:
                return True
        return False

    @staticmethod
    def _is_wrong(event: Event) -> bool:
        return (not event.ok and event.phase != WAIT and event.by is None
                and event.op not in _VIEW_OPS)

    def _learn(self, event: Event) -> None:
        if event.op in _VIEW_OPS:
            return  # observations and predictions: no call waits, no fact
        if event.phase == WAIT:
            self.waiting[event.call] = event
        elif event.call:
            self.waiting.pop(event.call, None)
        if event.ok and event.phase != WAIT and isinstance(event.result, (list, tuple)) \
                and len(event.result) > 1 and (event.side, event.op) in (
                    ("server", "bind"), ("client", "connect")):
            self.facts[f"{event.side}.port"] = str(event.result[1])

    def is_waiting(self, side: str, op: str) -> bool:
        """A ``side op`` call has started waiting and not returned (a second would block too)."""
        return any(e.side == side and e.op == op for e in self.waiting.values())

    def already(self, side: str, op: str) -> int:
        """How many ``side op`` calls the current step has seen succeed or start waiting."""
        return sum(1 for e in self.step_events() if e.side == side and e.op == op
                   and (e.ok or e.phase == WAIT) and e.by is None)

    def fill(self, setting: Setting) -> str:
        """A ``set:`` value with the facts it names filled in: ``{server.port}``."""
        return re.sub(r"\{(\w+\.\w+)\}", lambda m: self.facts.get(m.group(1), m.group(0)),
                      setting.value)

    def settings_at(self, index: int) -> dict[tuple[str, str], Setting]:
        """The fields the lesson sets, as they should be when step ``index`` opens:
        the latest ``set:`` of each up to that step (the lesson's own values only)."""
        values: dict[tuple[str, str], Setting] = {}
        for step in self.lesson.steps[:index + 1]:
            for setting in step.settings:
                values[(setting.side, setting.name)] = setting
        return values

    def named_fields(self) -> set[tuple[str, str]]:
        """Every field some step of the lesson sets."""
        return {(s.side, s.name) for step in self.lesson.steps for s in step.settings}
