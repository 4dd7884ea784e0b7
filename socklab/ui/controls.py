"""The lab as a part acts on it: fill a field, press a button, reset, two hosts.

`LabControls` is the narrow interface the lesson panel (or any part that drives
the lab as a learner would) is given by the app, instead of reaching into the
panes and the app's actions: what a learner could do with the keyboard or the
mouse, and nothing else.  What a part reads of the lab is the view model
(`view`: each side's sockets, the newest, the pairs), never a widget's
private attributes.

It is also the panes' ``ask`` (the app hands it the session's ``request``), so
it sees every request, a learner's click as much as a lesson's press, and
`reported` can wait until each one has shown its first call in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from textual.widgets import Checkbox, Input, Select

from ..capture.text import WIRE_OPS
from ..events import DONE, PREDICT, WAIT, EventBus
from ..labcalls import Request
from ..viewstate import ViewState
from .cable_bar import CableBar, apply_preset
from .endpoint_pane import FAMILY_OPTIONS, TIMEOUT_OPTIONS, TYPE_OPTIONS, EndpointPane

if TYPE_CHECKING:
    from textual.widget import Widget

    from .app import SocklabApp
    from .bridge import Batch

_SELECTS: dict[str, dict[str, object]] = {
    "family": dict(FAMILY_OPTIONS), "type": dict(TYPE_OPTIONS),
    "timeout": dict(TIMEOUT_OPTIONS)}
#: A field a lesson step just filled: highlighted until the step changes.
FILLED = "-lesson-set"
#: Events that report what the kernel or the wire saw, not a call a press made.
VIEW_OPS = frozenset({"state", *WIRE_OPS})
#: How long `reported` waits at most (a connect the lab limits: 10 s).
SETTLE_GUARD = 15.0


class Pending(Protocol):
    """What the session hands back for a request: its jobs, to wait for."""

    def wait(self, timeout: float | None = None) -> bool: ...


#: The session's ``request``: the app hands it over (no other part reaches the lab).
Ask = Callable[[Request], Pending]


@dataclass
class _Asked:
    """A request not yet reported: its side's call count when asked, its jobs."""

    side: str
    seen: int
    pending: Pending


class LabControls:
    """What a part may do to the lab, as a learner would do it."""

    def __init__(self, app: SocklabApp, request: Ask, bus: EventBus) -> None:
        self._app = app
        self._request = request
        #: The lab's bus: a learner's prediction is logged on it (op ``predict``).
        self._bus = bus
        self._calls: Counter[str] = Counter()
        self._asked: list[_Asked] = []
        self._news = asyncio.Event()
        #: The fields `mark` highlighted (`unmark_all` clears them).
        self._marked: list[Widget] = []

    # -- what the panes and the bridge hand it ------------------------------------------

    def ask(self, request: Request) -> None:
        """A pane's request, to the session.  A worker waits (off the UI thread) until
        its calls end, so ``app.workers.wait_for_complete()`` means what it always did:
        the calls pressed so far have returned."""
        pending = self._request(request)
        self._asked.append(_Asked(request.side, self._calls[request.side], pending))
        self._app.run_worker(pending.wait, thread=True, group="calls", exit_on_error=False,
                             name=f"{request.side} {request.call}")

    def on_batch(self, batch: Batch) -> None:
        self._calls.update(event.side for event in batch.events if event.op not in VIEW_OPS)
        self._news.set()

    @property
    def view(self) -> ViewState:
        """What the panes show (read only): sockets per side, newest, pairs, bound port."""
        return self._app.view_state

    def _pane(self, side: str) -> EndpointPane:
        return self._app.pane(side)

    def widget(self, side: str, field: str) -> Widget:
        """The field's widget (the regex box's for side ``regex``, the Cable bar's
        words for side ``cable``)."""
        if side == "cable":
            return self._app.query_one(CableBar).field
        if side == "regex":
            box = "#regex-scope" if field == "scope" else "#regex-pattern"
            return self._app.http_view.query_one(box)
        pane = self._pane(side)
        return pane.query_one(f"#{pane.wid(field)}")

    def value(self, side: str, field: str) -> str:
        """The field's value as a lesson writes it (``AF_INET6``, ``on``, ``2``)."""
        widget = self.widget(side, field)
        if isinstance(widget, Checkbox):
            return "on" if widget.value else "off"
        if isinstance(widget, Select):
            names = {value: name for name, value in _SELECTS.get(field, {}).items()}
            return str(names.get(widget.value, widget.value))
        return widget.value if isinstance(widget, Input) else ""

    def fill(self, side: str, field: str, value: str) -> bool:
        """Set a field as the learner would type or choose it; True if it changed."""
        if self.value(side, field) == value:
            return False
        if side == "regex":
            self._app.http_view.set_regex(field, value)
            return True
        widget = self.widget(side, field)
        if isinstance(widget, Checkbox):
            widget.value = value == "on"
        elif isinstance(widget, Select):
            choices = _SELECTS.get(field)
            widget.value = choices[value] if choices else value
            if field == "family":  # its loopback host follows at once, as after a choice
                self._pane(side).follow_family()
        elif isinstance(widget, Input):
            widget.value = value
        return True

    def mark(self, side: str, field: str, on: bool) -> None:
        """Highlight (or not) a field a step filled."""
        widget = self.widget(side, field)
        widget.set_class(on, FILLED)
        if on:
            self._marked.append(widget)

    def unmark_all(self) -> None:
        """No field highlighted (each step: those it marked, not a walk of the screen)."""
        marked, self._marked = self._marked, []
        for widget in marked:
            widget.remove_class(FILLED)

    def choose(self, side: str, target: str | None) -> None:
        """Choose the socket a call acts on in the pane's list (as a click on its row):
        ``listener``, ``newest`` (the connection or client that came last) or a number."""
        if target is None:
            return
        side_view = self.view.sides[side]
        keys = list(side_view.sockets)
        if target == "newest":  # a connection from one of the lab's own clients first
            numbered = [key for key in keys if key.isdigit()]
            paired = [key for key in numbered if key in side_view.pairs]
            target = max(paired or numbered, key=int, default=None)
        if target in keys:
            self._pane(side).choose(target)

    def press(self, side: str, call: str, target: str | None = None) -> bool:
        """Press a pane's button (on the socket ``target`` names, chosen first); False
        when the fields were bad (the learner was told why) and nothing was asked."""
        self.settle()  # the panes show every socket so far, as a learner would see them
        self.choose(side, target)
        return self._pane(side).press(call)

    async def reset(self, quiet: bool = False) -> int:
        """Close every socket (Ctrl+R); ``quiet``: without the toast.  How many were open."""
        return await self._app.reset_lab(quiet)

    @property
    def two_hosts(self) -> bool:
        return self._app.hosts.on

    async def set_two_hosts(self, on: bool) -> bool:
        return await self._app.hosts.set(on)

    def predict(self, side: str, question: str, answer: str, *, call: int = 0,
                actual: str | None = None, lesson: str | None = None) -> int:
        """Log a learner's prediction (op ``predict``): answered (``actual`` None: the
        event has not come), or with what the event showed.  Returns its call id."""
        bus = self._bus
        call = call or bus.new_call()
        result: dict[str, object] = {"question": question, "answer": answer}
        if actual is not None:
            result.update(actual=actual, held=actual == answer)
        bus.emit(side=side, conn=None, op=PREDICT, phase=WAIT if actual is None else DONE,
                 args=(question, answer), result=result, call=call, lesson=lesson)
        return call

    async def act(self, call: str) -> None:
        """A lesson's ``do: lab CALL``: ``reset`` (Ctrl+R), ``two-hosts`` /
        ``one-machine`` (F7), ``cable-PRESET`` (the Cable bar), ``cable`` (the Cable
        bar's Apply on the words in its field)."""
        if call == "reset":
            await self.reset()
        elif call == "cable":
            bar = self._app.query_one(CableBar)
            await bar.apply_words(bar.field.value)
        elif call.startswith("cable-"):
            await self.set_cable(call.removeprefix("cable-"))
        else:
            await self.set_two_hosts(call == "two-hosts")

    async def set_cable(self, preset: str) -> bool:
        """Choose a preset in the Cable bar (``lossy``, ``slow-link``): two-hosts mode."""
        return await apply_preset(self._app, preset)

    def settle(self) -> None:
        """Publish and show every event that has arrived."""
        self._app.drain_now()

    async def reported(self, timeout: float = SETTLE_GUARD) -> bool:
        """Wait until every call pressed so far has reported (its first call event is
        published, or its jobs ended) and the panes show it; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._news.clear()  # before looking: news after this wakes the wait below
            self._app.bridge.flush()
            self._asked = [asked for asked in self._asked if not self._reported(asked)]
            if not self._asked:
                self.settle()
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 0.05))

    def _reported(self, asked: _Asked) -> bool:
        # Jobs that ended have emitted every event (the flush above published them).
        return self._calls[asked.side] > asked.seen or asked.pending.wait(0)

    def show_tab(self, tab: str) -> None:
        """Bring a tab of the screen forward (``lab``, ``code``, ``wire``, ``http``...)."""
        self._app.show_tab(tab)
