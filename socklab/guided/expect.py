"""Expectations: what a lesson step waits for, declared over the event stream.

One line of a lesson file, ``expect: client recv ok data~Welcome``, becomes an
`Expectation`.  Its words, in order:

    SIDE OP [OUTCOME] [FIELD<cmp>VALUE ...] [xN]

* SIDE: ``server``, ``client`` or ``any``; OP: the call (``listen``, ``recv``,
  ``sendto``…) or an observation (``state``, ``packet``).
* OUTCOME: ``ok`` (it succeeded), ``fails`` or ``fails ERRNO`` (it failed, with
  that error), ``waits`` (a blocking call started waiting); none: it returned.
* FIELD<cmp>VALUE: ``=`` ``!=`` ``>=`` ``<=`` ``>`` ``<`` compare, ``~`` contains.
  FIELD is an event key (``nbytes``, ``data``, ``conn``, ``error``…) or a key
  of a dict result (``state``, ``queue``, ``backlog`` of a state event); ``port``
  is the port of an address result.  ``none`` is JSON's null.
* ``xN``: at least N such events.

``regex ~ TEXT`` is the one expectation over the lab's regex box instead of
the events: the box's current matches include TEXT.

UI-free: the lesson panel, ``--auto`` and the tests share it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..events import WAIT, Event

SIDES = ("server", "client", "any")
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne,
    "=": operator.eq, ">": operator.gt, "<": operator.lt,
    "~": lambda have, want: str(want) in str(have),
}
_CONDITION = re.compile(r"^([a-z_.]+)(>=|<=|!=|=|>|<|~)(.*)$")


class LessonFormatError(ValueError):
    """A lesson file that does not follow the format (said with its line)."""


@dataclass(frozen=True)
class Condition:
    field: str
    cmp: str
    value: str

    def holds(self, event: Event) -> bool:
        have = field_of(event, self.field)
        want: Any = self.value
        if want == "none":
            return (have is None) == (self.cmp == "=")
        if have is None:
            return False
        if self.cmp != "~" and isinstance(have, (int, float)) and not isinstance(have, bool):
            try:
                want = type(have)(want)
            except ValueError:
                return False
        elif self.cmp != "~":
            have = str(have)
        return _CMP[self.cmp](have, want)


def field_of(event: Event, name: str) -> Any:
    """An event's field by the lesson's name for it (see the module docstring)."""
    if name == "port":
        result = event.result
        return result[1] if isinstance(result, (list, tuple)) and len(result) > 1 else None
    if isinstance(event.result, dict) and name in event.result:
        return event.result[name]
    return getattr(event, name, None)


@dataclass(frozen=True)
class Expectation:
    """One ``expect:`` line: which events satisfy it, and how many are needed."""

    side: str
    op: str
    outcome: str | None = None  # "ok", "fails", "waits" or None
    error: str | None = None
    conditions: tuple[Condition, ...] = ()
    count: int = 1
    text: str = ""

    @property
    def on_regex(self) -> bool:
        return self.side == "regex"

    def matches(self, event: Event) -> bool:
        if self.on_regex or event.op != self.op:
            return False
        if self.side != "any" and event.side != self.side:
            return False
        if self.outcome == "waits":
            if event.phase != WAIT:
                return False
        elif event.phase == WAIT:
            return False
        elif self.outcome == "ok" and not event.ok:
            return False
        elif self.outcome == "fails" and (event.ok or (self.error and event.error != self.error)):
            return False
        return all(condition.holds(event) for condition in self.conditions)

    def regex_holds(self, matches: list[str]) -> bool:
        want = self.conditions[0].value if self.conditions else ""
        return any(want in match for match in matches)

    def __str__(self) -> str:
        return self.text


def parse_expectation(text: str) -> Expectation:
    """``client recv ok data~Welcome`` → an Expectation (LessonFormatError if not)."""
    words = text.split()
    if len(words) >= 3 and words[0] == "regex" and words[1] == "~":
        value = text.split("~", 1)[1].strip()
        return Expectation("regex", "regex", conditions=(Condition("match", "~", value),),
                           text=text)
    if len(words) < 2 or words[0] not in SIDES:
        raise LessonFormatError(f"expect: {text!r}: start with server, client or any, "
                                "then the call")
    side, op, rest = words[0], words[1], words[2:]
    outcome = error = None
    if rest and rest[0] in ("ok", "fails", "waits"):
        outcome, rest = rest[0], rest[1:]
        if outcome == "fails" and rest and rest[0][:1].isupper():
            error, rest = rest[0], rest[1:]
    count = 1
    if rest and re.fullmatch(r"x\d+", rest[-1]):
        count, rest = int(rest[-1][1:]), rest[:-1]
    conditions = []
    for word in rest:
        found = _CONDITION.match(word)
        if found is None:
            raise LessonFormatError(f"expect: {text!r}: {word!r} is not FIELD<cmp>VALUE")
        conditions.append(Condition(*found.groups()))
    return Expectation(side, op, outcome, error, tuple(conditions), count, text)


_OUTCOME_WORDS = {"ok": "succeeds", "fails": "fails", "waits": "starts waiting", None: "returns"}
_CMP_WORDS = {"~": "contains", "=": "is", "!=": "is not", ">=": "≥", "<=": "≤", ">": ">",
              "<": "<"}


def describe(expectation: Expectation) -> str:
    """The expectation in words: ``server: listen() succeeds``."""
    if expectation.on_regex:
        return f"the regex box finds {expectation.conditions[0].value!r}"
    side = "either side" if expectation.side == "any" else expectation.side
    if expectation.op == "state":
        what = "the kernel reports"
    else:
        what = f"{expectation.op}() {_OUTCOME_WORDS[expectation.outcome]}"
        if expectation.error:
            what += f" with {expectation.error}"
    parts = [f"{c.field} {_CMP_WORDS[c.cmp]} {c.value}" for c in expectation.conditions]
    times = f" ({expectation.count}×)" if expectation.count > 1 else ""
    return f"{side}: {what}" + (f" — {', '.join(parts)}" if parts else "") + times
