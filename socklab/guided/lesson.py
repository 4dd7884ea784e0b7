"""A lesson is data: one Markdown file, parsed here into steps.

The format (docs/lessons.md says it for teachers, with an example)::

    # The title

    order: 10
    The introduction: plain text, shown before the first step.

    ## A step's title
    What to do, in the learner's words.
    set: server.port=0            fields Next fills first (FIELD=VALUE)
    do: server bind               what Next presses: SIDE CALL [on listener|newest|N]
    repeat: client recv           pressed again until the step is done (bounded)
    expect: server bind ok        what the step waits for (socklab.guided.expect)
    hint: shown after a wrong call, with the call's real error
    show: http                    the tab to show on this step (lab, http, code, ports, wire)
    predict: Which errno? | EADDRINUSE | EACCES | no error=none | ...
                                  a question asked before the step's key call: 2 to 4
                                  choices (LABEL or LABEL=VALUE), answered with keys 1-4
    observe: server bind error    the event that answers it and its field: SIDE OP
                                  [FIELD<cmp>VALUE ...] FIELD (the last matching event's)
    > What just happened, shown once the expectations hold.

Lines starting with a key the format knows are the step's data; other lines
are its text.  A file in socklab/guided/lessons/ is a lesson: its name is the
file's name without ``.md``.

UI-free: the panel, the ``lesson`` command and the tests share it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..events import escape_text
from ..hosts.cable import CableError, parse
from .expect import Expectation, LessonFormatError, parse_expectation
from .http import SCOPES

#: The pane calls a ``do:`` line may press, and the lab's own actions.
PANE_CALLS = frozenset({"run", "socket", "bind", "listen", "accept", "send", "recv", "close",
                        "connect", "connect-n", "shutdown", "send-bulk"})
#: ``lab cable-PRESET``: the Cable bar's presets (socklab.hosts.cable), two-hosts mode.
CABLE_ACTIONS = frozenset({"cable-perfect", "cable-wi-fi", "cable-lossy", "cable-satellite",
                           "cable-slow-link"})
#: ``lab cable``: Apply (Enter) on the words in the Cable bar's field (``set: cable=…``).
LAB_ACTIONS = frozenset({"reset", "two-hosts", "one-machine", "cable"}) | CABLE_ACTIONS
TABS = ("lab", "http", "code", "ports", "wire")
#: Fields ``set:`` may fill: a pane's, or the regex box's.
FIELDS = frozenset({"family", "type", "host", "port", "backlog", "mode", "message",
                    "recv-size", "count", "reuseaddr", "timeout"})
#: What ``expect:`` may wait for: the calls the lab logs and its observations.
OPS = frozenset({"socket", "bind", "listen", "accept", "connect", "send", "sendall", "recv",
                 "sendto", "recvfrom", "shutdown", "close", "setsockopt", "getsockopt",
                 "settimeout", "setblocking", "gethostbyname", "gethostname", "getaddrinfo",
                 "refuse", "state", "packet", "segments", "predict", "cable", "case"})
#: A lesson file's most bytes (the longest shipped one is a few KB).
MAX_BYTES = 1024 * 1024
_KEYS = ("set", "do", "repeat", "expect", "hint", "show", "predict", "observe")


@dataclass(frozen=True)
class Action:
    """One press: ``server bind``, ``server close on listener``, ``lab reset``."""

    side: str
    call: str
    target: str | None = None

    def __str__(self) -> str:
        on = f" on {self.target}" if self.target else ""
        return f"{self.side} {self.call}{on}"


@dataclass(frozen=True)
class Setting:
    """One ``set:``: ``server.port=0``, ``client.message=hello\\n``, ``regex=[a-z]+``."""

    side: str  # "server", "client" or "regex"
    name: str
    value: str


@dataclass(frozen=True)
class Question:
    """``predict:`` and ``observe:``: a prediction asked before the step's key call,
    and the event (and its field) that shows whether it held."""

    text: str
    #: (label, value): the value is compared with the observed field, as text.
    choices: tuple[tuple[str, str], ...]
    observe: Expectation | None = None
    field: str = ""

    def label_of(self, value: str) -> str:
        return next((label for label, v in self.choices if v == value), value)


def parse_question(text: str) -> Question:
    question, *choices = (part.strip() for part in text.split("|"))
    if not question or not 2 <= len(choices) <= 4 or not all(choices):
        raise LessonFormatError(f"predict: {text!r}: write QUESTION | CHOICE | CHOICE "
                                "(2 to 4 choices, each LABEL or LABEL=VALUE)")
    pairs = []
    for choice in choices:
        label, sep, value = choice.rpartition("=") if "=" in choice else (choice, "", choice)
        pairs.append((label.strip(), value.strip()))
    return Question(question, tuple(pairs))


def parse_observe(question: Question | None, text: str) -> Question:
    words = text.split()
    if question is None or len(words) < 3:
        raise LessonFormatError(f"observe: {text!r}: after a predict: line, write SIDE OP "
                                "[FIELD<cmp>VALUE ...] FIELD")
    return Question(question.text, question.choices,
                    parse_expectation(" ".join(words[:-1])), words[-1])


@dataclass
class Step:
    title: str
    text: str = ""
    settings: list[Setting] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    repeat: Action | None = None
    expectations: list[Expectation] = field(default_factory=list)
    hint: str = ""
    show: str | None = None
    after: str = ""
    question: Question | None = None


@dataclass
class Lesson:
    name: str
    title: str
    intro: str = ""
    order: int = 100
    steps: list[Step] = field(default_factory=list)


def parse_action(text: str) -> Action:
    words = text.split()
    if len(words) == 2 and words[0] == "lab" and words[1] in LAB_ACTIONS:
        return Action("lab", words[1])
    if len(words) not in (2, 4) or words[0] not in ("server", "client") \
            or words[1] not in PANE_CALLS or (len(words) == 4 and words[2] != "on"):
        raise LessonFormatError(f"do: {text!r}: write SIDE CALL [on listener|newest|N], "
                                f"a call of {sorted(PANE_CALLS)} or "
                                f"lab {'|'.join(sorted(LAB_ACTIONS))}")
    return Action(words[0], words[1], words[3] if len(words) == 4 else None)


def parse_setting(text: str) -> Setting:
    name, sep, value = text.partition("=")
    name = name.strip()
    if name in ("regex", "regex.scope"):
        setting = Setting("regex", name.partition(".")[2] or "pattern", value.strip())
        _check_regex(setting)
        return setting
    if name == "cable":
        return Setting("cable", "spec", _cable_words(value.strip()))
    side, _, what = name.partition(".")
    if not sep or side not in ("server", "client") or what not in FIELDS:
        raise LessonFormatError(f"set: {text!r}: write server.FIELD=VALUE, "
                                f"client.FIELD=VALUE or regex=PATTERN; fields: {sorted(FIELDS)}")
    return Setting(side, what, value.strip())


def _cable_words(words: str) -> str:
    """``set: cable=delay 20ms``: words the Cable bar reads (socklab.hosts.cable)."""
    try:
        parse(words)
    except CableError as exc:
        raise LessonFormatError(f"set: cable={words}: {exc}") from None
    return words


def _check_regex(setting: Setting) -> None:
    if setting.name == "scope":
        if setting.value not in SCOPES:
            raise LessonFormatError(f"set: regex.scope={setting.value}: one of "
                                    f"{', '.join(SCOPES)}")
        return
    try:
        re.compile(setting.value)
    except (re.error, RecursionError, OverflowError) as exc:
        raise LessonFormatError(f"set: regex={setting.value}: not a pattern Python "
                                f"accepts ({exc})") from None


def _add(step: Step, key: str, value: str) -> None:
    if key == "set":
        step.settings.append(parse_setting(value))
    elif key == "do":
        step.actions.append(parse_action(value))
    elif key == "repeat":
        step.repeat = parse_action(value)
    elif key == "expect":
        expectation = parse_expectation(value)
        if not expectation.on_regex and expectation.op not in OPS:
            raise LessonFormatError(f"expect: {value!r}: {expectation.op!r} is no call or "
                                    f"observation the lab logs; one of {', '.join(sorted(OPS))}")
        step.expectations.append(expectation)
    elif key == "hint":
        step.hint = f"{step.hint} {value}".strip()
    elif key == "predict":
        step.question = parse_question(value)
    elif key == "observe":
        step.question = parse_observe(step.question, value)
    elif key == "show":
        if value not in TABS:
            raise LessonFormatError(f"show: {value!r}: one of {', '.join(TABS)}")
        step.show = value


_KEY_LINE = re.compile(rf"^({'|'.join(_KEYS)}):\s?(.*)$")


def _paragraphs(lines: list[str]) -> str:
    """Lines joined as the Markdown source would read: blank lines part paragraphs."""
    text = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"(?<!\n)\n(?!\n|- |\d+\. )", " ", text)


class _Reader:
    """A lesson's Markdown read line by line: the title, the intro, then steps,
    each with its text, its ``key: value`` lines and its ``>`` after-text."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lesson: Lesson | None = None
        self.intro: list[str] = []
        self.step: Step | None = None
        self.text: list[str] = []
        self.after: list[str] = []

    def line(self, line: str) -> None:
        lesson = self.lesson
        if lesson is None:
            if line.startswith("# "):
                self.lesson = Lesson(self.name, line[2:].strip())
            elif line.strip():
                raise LessonFormatError("a lesson starts with '# Title'")
        elif line.startswith("## "):
            self.finish_step()
            self.step, self.text, self.after = Step(line[3:].strip()), [], []
            lesson.steps.append(self.step)
        elif self.step is None:
            if line.startswith("order:"):
                lesson.order = int(line.partition(":")[2])
            else:
                self.intro.append(line)
        elif line.startswith(">"):
            self.after.append(line[1:].strip())
        elif found := _KEY_LINE.match(line):
            _add(self.step, found.group(1), found.group(2).strip())
        else:
            self.text.append(line)

    def finish_step(self) -> None:
        if self.step is not None:
            self.step.text, self.step.after = _paragraphs(self.text), _paragraphs(self.after)

    def finish(self) -> Lesson:
        self.finish_step()
        lesson = self.lesson
        for step in lesson.steps if lesson else []:
            if step.question is not None and step.question.observe is None:
                raise LessonFormatError(f"{self.name}.md: step {step.title!r}: predict: needs "
                                        "an observe: line")
        if lesson is None or not lesson.steps:
            raise LessonFormatError(f"{self.name}.md: needs '# Title' and at least one "
                                    "'## Step'")
        lesson.intro = _paragraphs(self.intro)
        return lesson


def parse_lesson(name: str, source: str) -> Lesson:
    """A lesson from its Markdown (LessonFormatError, naming the line, if it is wrong).

    A lesson file may come from anyone (a teacher's, a download): its text
    passes the same escaping as network bytes (`escape_text`) before anything
    reads it, so an escape sequence in it is shown as ``\\x1b``, never acted on;
    its backslashes and line ends are its own."""
    source = escape_text(source.replace("\r\n", "\n"), keep="\n")
    reader = _Reader(name)
    for number, line in enumerate(source.splitlines(), 1):
        try:
            reader.line(line)
        except (LessonFormatError, ValueError) as exc:
            raise LessonFormatError(f"{name}.md line {number}: {exc}") from None
    return reader.finish()


def _shipped() -> list[tuple[str, str]]:
    folder = resources.files(__package__).joinpath("lessons")
    return sorted((entry.name.removesuffix(".md"), entry.read_text(encoding="utf-8"))
                  for entry in folder.iterdir() if entry.name.endswith(".md"))


def all_lessons(extra: Path | None = None) -> list[Lesson]:
    """Every shipped lesson (and any ``*.md`` in ``extra``), in their order."""
    sources = _shipped()
    if extra is not None:
        sources += [(p.stem, read_lesson_file(p)) for p in sorted(extra.glob("*.md"))]
    lessons = {name: parse_lesson(name, text) for name, text in sources}
    return sorted(lessons.values(), key=lambda lesson: (lesson.order, lesson.name))


def read_lesson_file(path: Path) -> str:
    """A lesson file's text: LessonFormatError if it is too big (said before it
    is read) or not UTF-8 (naming the line); OSError if it cannot be read."""
    with path.open("rb") as raw:
        if os.fstat(raw.fileno()).st_size > MAX_BYTES:
            raise LessonFormatError(f"{path}: over {MAX_BYTES // 1024} KiB, too big for a lesson")
        data = raw.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LessonFormatError(f"{path}: over {MAX_BYTES // 1024} KiB, too big for a lesson")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise LessonFormatError(f"{path}: line {line}: not UTF-8 text (byte {exc.start}: "
                                "save the lesson as UTF-8)") from None


def lesson_names() -> list[str]:
    return [lesson.name for lesson in all_lessons()]


def load_lesson(name: str) -> Lesson:
    """One lesson by name: a shipped one, or a path to a ``.md`` file of one's own."""
    path = Path(name)
    if name.endswith(".md") and path.is_file():
        return parse_lesson(path.stem, read_lesson_file(path))
    for lesson in all_lessons():
        if lesson.name == name:
            return lesson
    raise LookupError(f"no lesson {name!r}; socklab lesson --list names them")
