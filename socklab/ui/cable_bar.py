"""The Cable bar: the two hosts' cable, made worse on purpose (two-hosts mode only).

A row under the panes: a preset (perfect, Wi-Fi, lossy, satellite, slow
link) and the cable's words in a field (``delay 100ms loss 10%``), applied
with Enter or **Apply**.  Each change is a real change of the relay's
conditions and a ``cable`` event in the log (socklab.hosts.cable_lab), so it
is saved and replayed with the calls it affected.  Words that cannot be read
are said in one line under the field and change nothing.

The bar is given the one thing it may do to the lab — ``apply`` — and is
told when the hosts come and go (`set_hosts`): it knows nothing else of the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, Select

from ..hosts.cable import HELP, PERFECT, PRESETS, CableError, Conditions, parse

#: The choice shown while the cable is no preset (the learner's own words).
CUSTOM = "custom"
#: How the presets are offered (their names, as a learner says them).
PRESET_LABELS = {"perfect": "Perfect", "wi-fi": "Wi-Fi", "lossy": "Lossy",
                  "satellite": "Satellite", "slow link": "Slow link", CUSTOM: "Custom"}

#: The bar's one way into the lab: give the cable these conditions (the app hands it
#: over: socklab.hosts.cable_lab.set_cable on its lab).
Apply = Callable[[Conditions], object]


async def apply_preset(app: App, slug: str) -> bool:
    """A lesson's ``lab cable-PRESET``: the bar set to that preset, as a learner sets it
    (``slow-link`` is the "slow link" preset)."""
    name = slug.replace("-", " ") if slug.replace("-", " ") in PRESETS else slug
    bar = app.query_one(CableBar)
    bar.field.value = PRESETS[name].spec()
    return await bar.apply_words(PRESETS[name].spec())


class CableBar(Horizontal):
    """Preset, the cable's words, Apply; and one line saying what is wrong, if anything."""

    class Toggled(Message):
        """The bar was shown or hidden (two-hosts mode on or off): the tab's rows change."""

    def __init__(self, apply: Apply, initial: Conditions | None = None, *,
                 id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self._apply = apply
        self._initial = initial
        self.display = False
        #: The conditions last applied (what the cable is now).
        self.conditions: Conditions = PERFECT

    def compose(self) -> ComposeResult:
        yield Label("Cable", id="cable-label")
        yield Select([(label, name) for name, label in PRESET_LABELS.items()],
                     value="perfect", allow_blank=False, compact=True, id="cable-preset")
        yield Input(value=(self._initial or PERFECT).spec(), placeholder="delay 100ms loss 10%",
                    compact=True, id="cable-spec", tooltip=HELP)
        yield Button("Apply", compact=True, id="cable-apply")
        yield Label("", id="cable-error", markup=False)

    @property
    def field(self) -> Input:
        return self.query_one("#cable-spec", Input)

    def set_hosts(self, names: dict[str, str] | None) -> None:
        """Two-hosts mode on (shown; the field's cable applied to the new hosts) or off."""
        if self.display != (names is not None):
            self.display = names is not None
            self.post_message(self.Toggled())
        if names is not None:
            wanted = self._initial if self._initial is not None else self.conditions
            self._initial = None
            if not wanted.perfect:
                self.field.value = wanted.spec()
                self.run_worker(self.apply_words(wanted.spec()), group="cable")
        else:  # the next hosts start on a perfect cable: the bar says so
            self.conditions = PERFECT
            self.field.value = PERFECT.spec()
            self._show_preset(PERFECT)

    async def apply_words(self, words: str) -> bool:
        """Read ``words`` and give the cable those conditions (True when it was done)."""
        error = self.query_one("#cable-error", Label)
        try:
            conditions = parse(words)
        except CableError as exc:
            error.update(str(exc))
            error.add_class("-shown")
            return False
        error.update("")
        error.remove_class("-shown")
        try:
            await asyncio.to_thread(self._apply, conditions)
        except OSError as exc:  # the hosts went away meanwhile
            error.update(str(exc))
            error.add_class("-shown")
            return False
        self.conditions = conditions
        self._show_preset(conditions)
        return True

    def _show_preset(self, conditions: Conditions) -> None:
        """The preset choice says which preset the cable is, or Custom: never a preset's
        name over other conditions."""
        name = next((n for n, preset in PRESETS.items() if preset == conditions), CUSTOM)
        select = self.query_one("#cable-preset", Select)
        if select.value != name:
            with select.prevent(Select.Changed):  # shown, not applied again
                select.value = name

    def choose(self, name: str) -> None:
        """Choose a preset, as the learner does in the preset list."""
        self.query_one("#cable-preset", Select).value = name

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "cable-preset" or not isinstance(event.value, str):
            return
        event.stop()
        preset = PRESETS.get(event.value)
        if preset is None:  # Custom: the learner's own words, typed in the field
            self.field.focus()
            return
        if preset == self.conditions:
            return
        self.field.value = preset.spec()
        self.run_worker(self.apply_words(preset.spec()), group="cable")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "cable-spec":
            event.stop()
            self.run_worker(self.apply_words(event.value), group="cable")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cable-apply":
            event.stop()
            self.run_worker(self.apply_words(self.field.value), group="cable")
