"""The footer: Textual's own, rebuilt only when the keys it shows change.

Textual 8.2's `Footer` throws its keys away and builds them again (a widget
each, restyled) whenever the screen's bindings are recomputed, which is on
every focus change: each Tab through the lab's fields rebuilt it although the
same keys stayed in view (about 7% of the CPU of a lesson played by keys).
`SteadyFooter` rebuilds only when what it would show differs from what it
shows: a key, its words, its enabled state or its tooltip.

The comparison is made when Textual's own footer would rebuild (after the
next refresh), not when the signal comes: a binding's state can change in
between (the lesson's Next is shown once its run exists), and the stock
footer, reading the bindings late, showed it; a comparison made early would
keep the keys of the moment the signal came.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen) -> tuple:
    """What a footer on ``screen`` shows: each shown binding's key, action, words,
    group and state (the command palette's key is one of the bindings)."""
    return tuple((binding.key, binding.action, binding.description, binding.group,
                  binding.key_display, enabled, tooltip, binding.tooltip)
                 for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
                 if binding.show or key == screen.app.COMMAND_PALETTE_BINDING)


class SteadyFooter(Footer):
    """A `Footer` that keeps its keys while they stay the same."""

    #: The keys the footer's children were last built from (None: not built yet).
    _shown: tuple | None = None

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = shown_keys(self.screen)  # read at the same moment as Footer's
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if not (screen.app.app_focus and self.is_attached and screen is self.screen):
            super().bindings_changed(screen)  # Textual's own rules: nothing is rebuilt
            return
        self._bindings_ready = True
        self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        if self.is_attached and shown_keys(self.screen) != self._shown:
            await self.recompose()
