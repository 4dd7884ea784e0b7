"""The default screen, born with the breakpoint classes of the terminal's size.

Textual adds an app's ``HORIZONTAL_BREAKPOINTS`` / ``VERTICAL_BREAKPOINTS``
classes (``-wide``, ``-tall``…) to the screen on its first resize, which comes
after every widget of the first frame has been styled: adding them then styles
all of them again (about a tenth of the lab's start-up, issue 24).  A screen
made with the classes its size already calls for makes that first update a
no-op; later resizes still move them as before.
"""

from __future__ import annotations

from textual.app import App
from textual.screen import Screen


def breakpoint_class(dimension: int, breakpoints: list[tuple[int, str]] | None) -> str | None:
    """The class Textual gives a screen of this width (or height): that of the
    largest breakpoint not above it."""
    for threshold, name in sorted(breakpoints or [], reverse=True):
        if dimension >= threshold:
            return name
    return None


def presized_screen(app: App[object]) -> Screen[object]:
    """The app's default screen, with the breakpoint classes of ``app.size``."""
    width, height = app.size
    classes = (breakpoint_class(width, app.HORIZONTAL_BREAKPOINTS),
               breakpoint_class(height, app.VERTICAL_BREAKPOINTS))
    return Screen(id="_default", classes=" ".join(c for c in classes if c))
