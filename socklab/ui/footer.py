"""The footer: Textual's own, rebuilt only when the keys it shows change.

Textual 8.2's `Footer` throws its keys away and builds them again (a widget
each, restyled) whenever the screen's bindings are recomputed, which is on
every focus change: each Tab through the lab's fields rebuilt it although the
same keys stayed in view (about 7% of the CPU of a lesson played by keys).
`SteadyFooter` asks the screen what it would show and rebuilds only when that
differs: a key, its words, its enabled state or its tooltip.
"""

from __future__ import annotations

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

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if not (screen.app.app_focus and self.is_attached and screen is self.screen):
            super().bindings_changed(screen)  # Textual's own rules: nothing is rebuilt
            return
        shown = shown_keys(screen)
        if self._bindings_ready and shown == self._shown:
            return
        self._shown = shown
        super().bindings_changed(screen)
