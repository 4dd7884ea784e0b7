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

    def explain(self, event: Event) -> str:
        """Why this condition does not hold for ``event``, in the learner's words."""
        have = field_of(event, self.field)
        what = FIELD_WORDS.get(self.field, self.field)
        if self.field == "data" and self.cmp == "=":
            return f"{what} {_clip(str(have))}; this step needs '{self.value}'"
        if self.value == "none":
            return f"{what} {'is' if self.cmp == '=' else 'is not'} needed here"
        if self.cmp == "~":
            shown = _clip(str(have)) if have is not None else "nothing"
            return f"{what} {shown}; this step needs them to contain '{self.value}'"
        needs = {"=": "", "!=": "anything but ", ">=": "at least ", "<=": "at most ",
                 ">": "more than ", "<": "less than "}[self.cmp]
        return f"{what} is {_value_words(self.field, have)}; this step needs {needs}{self.value}"


#: A call's arguments by the lesson's name for them: (the calls, the argument's place).
ARGUMENTS: dict[str, tuple[frozenset[str], int]] = {
    "backlog": (frozenset({"listen"}), 0),
    "size": (frozenset({"recv", "recvfrom"}), 0),
    "family": (frozenset({"socket"}), 0),
    "type": (frozenset({"socket"}), 1),
}


_STATUS = re.compile(r"^HTTP/\d\.\d (\d{3})")


def field_of(event: Event, name: str) -> Any:
    """An event's field by the lesson's name for it (see the module docstring);
    ``status``: the HTTP status code a response's first bytes carry."""
    if name == "status":
        found = _STATUS.match(event.data or "")
        return found.group(1) if found else None
    if name in ARGUMENTS and event.op in ARGUMENTS[name][0]:
        at = ARGUMENTS[name][1]
        return event.args[at] if len(event.args) > at else None
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
        return self.same_call(event) and all(c.holds(event) for c in self.conditions)

    def difference(self, event: Event) -> str | None:
        """The expected call, made with other arguments: what differs, in plain
        words ("listen(5): the backlog is 5; this step needs 2"); None otherwise."""
        if not self.same_call(event):
            return None
        wrong: dict[str, Condition] = {}
        for condition in self.conditions:  # one reason per field
            if not condition.holds(event):
                wrong.setdefault(condition.field, condition)
        if not wrong:
            return None
        reasons = "; ".join(c.explain(event) for c in wrong.values())
        return f"{event.side}: {_call(event)}: {reasons}"

    def same_call(self, event: Event) -> bool:
        """The side, the call and the outcome this expectation names (not its conditions)."""
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
        return True

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


#: The event's fields in the learner's words (what differs, what a check needs).
FIELD_WORDS = {
    "backlog": "the backlog", "size": "the recv size", "nbytes": "the byte count",
    "data": "the bytes were", "queue": "the accept queue", "state": "the state",
    "port": "the port", "conn": "the socket", "result": "the result", "error": "the error",
    "family": "the family", "type": "the type",
}
_OUTCOME_WORDS = {"ok": "succeeds", "fails": "fails", "waits": "is waiting",
                  None: "returns"}


def _clip(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[:width - 1] + "…")


def _value_words(field: str, value: Any) -> str:
    if value is None:
        return "not known"
    if field == "nbytes":
        return f"{value} (b'': the peer closed)" if value == 0 else str(value)
    return str(value)


def _call(event: Event) -> str:
    """``listen(5)``, ``recv(1024)``, ``send(…)``: the call as the lecture writes it."""
    args = ", ".join(repr(a) if isinstance(a, str) and event.op != "socket" else str(a)
                     for a in event.args)
    return f"{event.op}({args})"


def _condition_words(expectation: Expectation, condition: Condition) -> str | None:
    """One condition in plain words; None when the call's own words say it."""
    field, cmp, value = condition.field, condition.cmp, condition.value
    if field in ARGUMENTS and cmp == "=":
        return None  # said as the call's argument: listen(2)
    if field == "conn" and value == "none":
        if expectation.op in ("close", "accept", "recv", "send") and expectation.side == "server":
            return "on the listening socket" if cmp == "=" else "on a connection, not the listener"
    if field == "nbytes" and cmp == "=":
        return "b'' (0 bytes: the peer closed)" if value == "0" else f"{value} bytes"
    if field == "data" and cmp in ("~", "="):
        return f"the bytes {'contain' if cmp == '~' else 'are'} '{value}'"
    if field == "queue":
        more = {">=": "or more", "<=": "or fewer"}.get(cmp)
        return f"the accept queue holds {value} {more}" if more else \
            f"the accept queue {_CMP_WORDS[cmp]} {value}"
    if field == "state" and cmp == "=":
        return None  # said as "the kernel reports STATE"
    if field == "port" and cmp == ">":
        return "a port the kernel chose" if value == "0" else f"a port above {value}"
    return f"{FIELD_WORDS.get(field, field).removesuffix(' were')} {_CMP_WORDS[cmp]} {value}"


_CMP_WORDS = {"~": "contains", "=": "is", "!=": "is not", ">=": "≥", "<=": "≤", ">": ">",
              "<": "<"}


def describe(expectation: Expectation) -> str:
    """The expectation in plain words: ``server: listen(2) succeeds``."""
    if expectation.on_regex:
        return f"the regex box finds {expectation.conditions[0].value!r}"
    if expectation.op == "cable" and not expectation.conditions:
        return "the cable between the hosts has its conditions"  # a lab event, not a call
    side = "either side" if expectation.side == "any" else expectation.side
    if expectation.op == "state":
        states = [c.value for c in expectation.conditions if c.field == "state" and c.cmp == "="]
        what = f"the kernel reports {states[0] if states else 'its state'}"
    else:
        args = [c.value for c in expectation.conditions
                if c.field in ARGUMENTS and c.cmp == "="]
        what = f"{expectation.op}({', '.join(args)}) {_OUTCOME_WORDS[expectation.outcome]}"
        if expectation.error:
            what += f" with {expectation.error}"
    parts = [words for c in expectation.conditions
             if (words := _condition_words(expectation, c)) is not None]
    times = f" ({expectation.count} times)" if expectation.count > 1 else ""
    return f"{side}: {what}" + (f": {', '.join(parts)}" if parts else "") + times
