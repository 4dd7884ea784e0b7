"""The HTTP tab: what a client received, split as a browser's developer console
shows a response (status line, headers, body), and the regex box.

A lab feature, lessons or not: whatever the lab's last client received is
shown here as soon as its recv events arrive (the bridge's batches), and the
regex box applies ``re.findall`` to it live as the pattern is typed, in a
worker process with a time limit (socklab/regexbox.py): a pattern that
backtracks for ever is stopped and said, and the lab never waits for it.  Ready
examples fill the box: the words of romeo.txt, the headers' names, ``href``
values.  Received bytes are untrusted: every piece is a Text with markup off.

The response is drawn while the tab is on screen; hidden, it is drawn when the
tab is next shown (a flood of recv events otherwise rebuilt and relaid a 64 KiB
body on every batch, for a tab nobody saw: a frame's layout of the whole
screen each time).  The regex box still matches each new response at once,
shown or not (a lesson's step may wait for its matches).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from ..events import Event, escape_bytes
from ..guided.http import EXAMPLES, SCOPES, HttpReceived, Response, text_of
from ..regexbox import Cancelled, RegexBox, TooSlow

_EMPTY = ("Nothing received yet. Run the server in http mode, then send "
          r"GET /romeo.txt HTTP/1.0\r\n\r\n from the client and recv until b''.")


class HttpView(VerticalScroll):
    """The last client's response, split; the regex box under it."""

    class Matched(Message):
        """The regex box's matches changed (a lesson may be waiting for one)."""

        def __init__(self, matches: list[str]) -> None:
            super().__init__()
            self.matches = matches

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.received = HttpReceived()
        self.matches: list[str] = []
        #: Where patterns are matched: a worker process with a time limit.
        self.box = RegexBox()
        self._box_started = False
        #: A response arrived while the tab was hidden: drawn when it is shown.
        self._undrawn = False

    def compose(self) -> ComposeResult:
        yield Static(_EMPTY, id="http-status", classes="http-status", markup=False)
        yield Label("Headers", classes="http-heading")
        yield Static("", id="http-headers", classes="http-headers", markup=False)
        yield Label("Body", classes="http-heading")
        yield Static("", id="http-body", classes="http-body", markup=False)
        yield Label("Regular expression: re.findall(pattern, text, re.MULTILINE)",
                    classes="http-heading")
        with Horizontal(classes="regex-row"):
            yield Input("", placeholder=r"a pattern, e.g. [A-Za-z]+", compact=True,
                        id="regex-pattern")
            yield Select([(scope, scope) for scope in SCOPES], value="body", compact=True,
                         allow_blank=False, id="regex-scope", type_to_search=False)
        with Horizontal(classes="regex-row"):
            for index, (label, _pattern, _scope) in enumerate(EXAMPLES):
                yield Button(label, id=f"regex-example-{index}", compact=True,
                             classes="regex-example")
        yield Static("", id="regex-matches", classes="regex-matches", markup=False)

    # -- what arrives -------------------------------------------------------------------

    def add_events(self, events: Iterable[Event]) -> None:
        if self.received.feed(events):
            self.show_response()

    def on_show(self) -> None:
        response = self.received.response()
        if self._undrawn and response is not None:
            self._undrawn = False
            self._draw(response)

    def show_response(self) -> None:
        response = self.received.response()
        if response is None:
            return
        self._undrawn = not self.is_on_screen
        if not self._undrawn:
            self._draw(response)
        if not self._box_started:  # something to search: have the worker ready
            self._box_started = True
            self._start_box()
        self.apply_regex()

    def _draw(self, response: Response) -> None:
        status = Text(escape_bytes(response.status_line.encode("latin-1")), style="bold")
        if not response.blank_line:
            status.append("   (no blank line yet: the headers have not ended)", "italic")
        elif not response.complete:
            status.append("   (recv has not returned b'' yet: there may be more)", "italic")
        else:
            status.append(f"   headers ended by {response.blank_line!r}; "
                          f"recv returned b'': complete", "italic")
        self._set("http-status", status)
        headers = Text()
        for name, value in response.headers:
            headers.append(escape_bytes(name.encode("latin-1")), "bold")
            headers.append(": " + escape_bytes(value.encode("latin-1")) + "\n")
        self._set("http-headers", headers)
        body = response.body.decode("utf-8", "replace")
        self._set("http-body", Text("\n".join(escape_bytes(line.encode())
                                              for line in body.split("\n"))))

    def _set(self, part: str, text: Text) -> None:
        static = self.query_one(f"#{part}", Static)
        if static.content != text:  # the same text again costs no layout
            static.update(text)

    # -- the regex box ------------------------------------------------------------------

    def set_regex(self, name: str, value: str) -> None:
        """Fill the box: ``pattern`` or ``scope`` (a lesson's ``set: regex=…``)."""
        if name == "scope":
            self.query_one("#regex-scope", Select).value = value
        else:
            self.query_one("#regex-pattern", Input).value = value
        self.apply_regex()

    @on(Button.Pressed, ".regex-example")
    def _example(self, event: Button.Pressed) -> None:
        event.stop()
        _label, pattern, scope = EXAMPLES[int((event.button.id or "0").rsplit("-", 1)[1])]
        self.set_regex("scope", scope)
        self.set_regex("pattern", pattern)

    @on(Input.Changed, "#regex-pattern")
    @on(Select.Changed, "#regex-scope")
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()
        self.apply_regex()

    def apply_regex(self) -> None:
        """Match the box's pattern off the UI thread, in the regex worker (a
        pattern that backtracks for ever is stopped at its time limit)."""
        pattern = self.query_one("#regex-pattern", Input).value
        scope = str(self.query_one("#regex-scope", Select).value)
        response = self.received.response()
        if pattern and response is not None:
            self._match(pattern, text_of(response, scope), scope)
            return
        shown = Text()
        if pattern:
            shown.append("Nothing received yet to search.", "italic")
        self._show_matches(shown, [])

    @work(thread=True, exclusive=True, group="regex", exit_on_error=False)
    def _match(self, pattern: str, text: str, scope: str) -> None:
        shown = Text()
        matches: list[str] = []
        try:
            matches = self.box.find_all(pattern, text)
        except Cancelled:
            return  # a newer pattern is being matched
        except TooSlow:
            shown.append(f"pattern took too long: stopped after {self.box.limit:g} s. ",
                         "bold red")
            shown.append("Nested repeats such as (\\w+\\s?)* can try every way of "
                         "splitting the text (catastrophic backtracking); make each part "
                         "match one way only.", "italic")
        except re.error as exc:
            shown.append(f"not a pattern Python accepts: {exc}", "bold red")
        else:
            shown.append(f"{len(matches)} match(es) in the {scope}: ", "bold")
            shown.append(escape_bytes(repr(matches).encode()))
        with contextlib.suppress(RuntimeError):  # the lab is closing
            self.app.call_from_thread(self._show_matches, shown, matches)

    def _show_matches(self, shown: Text, matches: list[str]) -> None:
        self._set("regex-matches", shown)
        if shown:  # under the box, which a small terminal scrolls to: bring it in sight
            self.query_one("#regex-matches").scroll_visible(animate=False, top=False)
        if matches != self.matches:
            self.matches = matches
            self.post_message(self.Matched(matches))

    @work(thread=True, group="regex-start", exit_on_error=False)
    def _start_box(self) -> None:
        with contextlib.suppress(TooSlow):  # said when a pattern needs it
            self.box.start()

    def on_unmount(self) -> None:
        self.box.close()
