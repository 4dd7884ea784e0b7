"""The lab's colours: the server's and the client's, and the projector theme.

Every pair of colours the lab draws (text on its background) reaches WCAG AA
contrast, 4.5:1, in both the default and the projector theme
(tests/test_contrast.py measures them as drawn).  The projector theme has no
grey at all: a projected grey washes out, so muted text is near-white there,
and nothing uses the terminal's "dim" attribute (its darkness is the
terminal's choice, so its contrast cannot be known).
"""

from __future__ import annotations

from textual.app import App
from textual.theme import Theme

#: Theme variables the lab's stylesheet uses; a theme may override each.
DEFAULT_VARIABLES = {
    "server-color": "#ff9f43",
    "client-color": "#48c9ff",
    # Sequence numbers, times, arrows and hints in the log.
    "log-dim-color": "#a8a8a8",
    # The selected row of the log: dark enough for every log colour on it.
    "log-cursor-background": "#3a3a3a",
    # A focused control's background: 3:1 against the dark one it has unfocused.
    "focus-background": "#6e6e6e",
    # The chosen row of a focused list (light: 3:1 against the unfocused blue one).
    "focus-row-background": "#a8d8ff",
}

PROJECTOR = Theme(
    name="projector",
    primary="#00d7ff",
    secondary="#ffd700",
    accent="#ffd700",
    warning="#ffd700",
    error="#ff5f5f",
    success="#5fff5f",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    boost="#303030",
    dark=True,
    variables={
        "server-color": "#ffaf00",
        "client-color": "#00ffff",
        "log-dim-color": "#e4e4e4",
        "log-cursor-background": "#303030",
        "text-muted": "#e4e4e4",
        "footer-key-foreground": "#ffd700",
        "input-selection-background": "#00d7ff 40%",
    },
)


class Projector:
    """F8: the projector theme on, then back to the theme it replaced (a part of
    each app that shows the lab: the lab screen and the replay)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._previous = "textual-dark"
        app.register_theme(PROJECTOR)

    def toggle(self) -> None:
        app = self._app
        if app.theme == PROJECTOR.name:
            app.theme = self._previous
        else:
            self._previous = app.theme
            app.theme = PROJECTOR.name
