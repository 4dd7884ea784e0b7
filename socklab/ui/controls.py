"""The lab as a lesson acts on it: fill a field, press a button, reset, two hosts.

`LabControls` is the narrow interface the lesson panel is given instead of
reaching into the panes and the app's actions: what a learner could do with the
keyboard or the mouse, and nothing else.  (The minimal version the lesson
panel needs; the house's composition root may grow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Checkbox, Input, Select

from ..events import DONE, PREDICT, WAIT
from .cable_bar import apply_preset
from .endpoint_pane import FAMILY_OPTIONS, TIMEOUT_OPTIONS, TYPE_OPTIONS, EndpointPane

if TYPE_CHECKING:
    from textual.widget import Widget

    from .app import SocklabApp

_SELECTS: dict[str, dict[str, object]] = {
    "family": dict(FAMILY_OPTIONS), "type": dict(TYPE_OPTIONS),
    "timeout": dict(TIMEOUT_OPTIONS)}
#: A field a lesson step just filled: highlighted until the step changes.
FILLED = "-lesson-set"


class LabControls:
    """What a lesson may do to the lab, as a learner would do it."""

    def __init__(self, app: SocklabApp) -> None:
        self._app = app

    def _pane(self, side: str) -> EndpointPane:
        return self._app.server_pane if side == "server" else self._app.client_pane

    def widget(self, side: str, field: str) -> Widget:
        """The field's widget (the regex box's for side ``regex``)."""
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
        elif isinstance(widget, Input):
            widget.value = value
        return True

    def mark(self, side: str, field: str, on: bool) -> None:
        """Highlight (or not) a field a step filled."""
        self.widget(side, field).set_class(on, FILLED)

    def unmark_all(self) -> None:
        for widget in self._app.query(f".{FILLED}"):
            widget.remove_class(FILLED)

    def choose(self, side: str, target: str | None) -> None:
        """Choose the socket a call acts on in the pane's list (as a click on its row):
        ``listener``, ``newest`` (the connection or client that came last) or a number."""
        if target is None:
            return
        pane = self._pane(side)
        rows = pane.socket_list
        keys = [row.key for row in rows._rows]
        if target == "newest":  # a connection from one of the lab's own clients first
            numbered = [key for key in keys if key.isdigit()]
            paired = [key for key in numbered if key in pane.pairs]
            target = max(paired or numbered, key=int, default=None)
        if target in keys:
            rows.highlighted = keys.index(target)

    def press(self, side: str, call: str, target: str | None = None) -> None:
        """Press a pane's button (on the socket ``target`` names, chosen first)."""
        self.settle()  # the panes show every socket so far, as a learner would see them
        self.choose(side, target)
        self._pane(side).press(call)

    async def reset(self, quiet: bool = False) -> None:
        """Close every socket (Ctrl+R); ``quiet``: without the toast."""
        await self._app.action_reset(quiet)

    @property
    def two_hosts(self) -> bool:
        return self._app.hosts_names is not None

    async def set_two_hosts(self, on: bool) -> bool:
        return await self._app.set_two_hosts(on)

    def predict(self, side: str, question: str, answer: str, *, call: int = 0,
                actual: str | None = None, lesson: str | None = None) -> int:
        """Log a learner's prediction (op ``predict``): answered (``actual`` None: the
        event has not come), or with what the event showed.  Returns its call id."""
        bus = self._app.lab.bus
        call = call or bus.new_call()
        result: dict[str, object] = {"question": question, "answer": answer}
        if actual is not None:
            result.update(actual=actual, held=actual == answer)
        bus.emit(side=side, conn=None, op=PREDICT, phase=WAIT if actual is None else DONE,
                 args=(question, answer), result=result, call=call, lesson=lesson)
        return call

    async def act(self, call: str) -> None:
        """A lesson's ``do: lab CALL``: ``reset`` (Ctrl+R), ``two-hosts`` /
        ``one-machine`` (F7), ``cable-PRESET`` (the Cable bar)."""
        if call == "reset":
            await self.reset()
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
