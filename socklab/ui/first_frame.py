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
"""

from __future__ import annotations

import gc

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
