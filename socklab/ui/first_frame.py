"""What the lab's first frame does without (start-up, issue 24).

* The default screen is born with the breakpoint classes of the terminal's
  size.  Textual adds an app's ``HORIZONTAL_BREAKPOINTS`` /
  ``VERTICAL_BREAKPOINTS`` classes (``-wide``, ``-tall``…) to the screen on its
  first resize, which comes after every widget of the first frame has been
  styled: adding them then styles all of them again (half of that resize's
  cost).  A screen made with the classes its size already calls for makes that first update a
  no-op; later resizes still move them as before.
* The cyclic garbage collector waits for the first frame (`hold_collection`,
  `first_frame_painted`): its passes over the many objects the imports and the
  widgets make took a tenth of the start-up's CPU.  Once the first frame is
  painted the start-up's garbage (some 16,000 objects) is collected in one
  pass, everything still alive is frozen (kept out of later full passes, which
  otherwise stall the UI under a storm of events: PERF-NOTES, up to 1.4 s), and
  the collector runs again as usual.
* Every widget is styled once, when it is mounted.  Textual restyles a widget
  each time its classes change, even one not in the DOM yet: a ``compact``
  Button, Input or Select is styled alone in its constructor (its
  ``-textual-compact`` class), then again when mounted.  `styled_when_mounted`
  names the widgets whose styling would be thrown away (the app skips them).
* The default screen's first resume does not restyle the whole screen.  Textual
  restyles every widget of a screen when it resumes, for a screen that was
  suspended under another while the styles changed; the first resume comes
  just after every widget was styled as it was mounted, so it did the whole
  screen's styling twice (a sixth of the start-up's CPU).  Later resumes (after
  a modal screen is dismissed) restyle as before; a stylesheet change (a theme)
  restyles every screen at once anyway (``App.refresh_css``).
"""

from __future__ import annotations

import gc

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget


def breakpoint_class(dimension: int, breakpoints: list[tuple[int, str]] | None) -> str | None:
    """The class Textual gives a screen of this width (or height): that of the
    largest breakpoint not above it."""
    for threshold, name in sorted(breakpoints or [], reverse=True):
        if dimension >= threshold:
            return name
    return None


class FirstScreen(Screen[object]):
    """The default screen, whose first resume keeps the styles its widgets got
    when they were mounted."""

    resumed = False

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Textual's own handler (Screen._on_screen_resume).
        if not self.resumed:
            self.resumed = True
            event.refresh_styles = False


def presized_screen(app: App[object]) -> Screen[object]:
    """The app's default screen, with the breakpoint classes of ``app.size``."""
    width, height = app.size
    classes = (breakpoint_class(width, app.HORIZONTAL_BREAKPOINTS),
               breakpoint_class(height, app.VERTICAL_BREAKPOINTS))
    return FirstScreen(id="_default", classes=" ".join(c for c in classes if c))


def styled_when_mounted(node: DOMNode) -> bool:
    """A widget not in the DOM (yet, or any more): Textual styles a widget when
    it is mounted, so styling it now would be thrown away."""
    return isinstance(node, Widget) and node.parent is None


def hold_collection() -> None:
    """No cyclic collection until `first_frame_painted` (call it from the app's
    ``on_load``: only an app that runs, and so paints or exits, holds it)."""
    gc.disable()


def first_frame_painted() -> None:
    """Collect the start-up's garbage, freeze what lives, collect again as usual."""
    gc.collect()
    gc.freeze()
    gc.enable()


def release_collection() -> None:
    """Collect as usual again, painted or not (an app that exits before its
    first frame: call it from the app's ``on_unmount``)."""
    gc.enable()
