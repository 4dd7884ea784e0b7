"""A lesson in ``socklab web ?fontsize=28`` (issue 22, item 6): the step's
instruction, its check lines and Back / Next are always in view.

The size: tests/web_browser.py's window is 1280×800 px; with ``?fontsize=28``
textual-serve gives xterm.js 28 px cells, and the browser's terminal asks the lab
for 80 columns × 21 rows (textual.js's ``resize`` message, measured here in
Chromium by `test_the_browser_at_fontsize_28_is_the_size_the_lessons_are_checked_at`;
at the default 16 px it is 142×38).  xterm.js draws on a canvas, so what is on
screen is checked where it is made: in the app, by a Pilot at exactly that size.
Every lesson is also played by hand at this size, step by step, by the oracle's
play (tests/test_lesson_oracle.py), which checks the same parts at every step.
"""

from __future__ import annotations

import pytest
from lesson_learner import panel_in_view, skip_unplayable
from pilot import until
from test_web import _chromium, _run_in_namespace, _why_not

from socklab.ui.app import SocklabApp

#: Columns × rows of socklab web's terminal at ?fontsize=28 in a 1280×800 window.
WEB_28 = (80, 21)
#: The lessons whose steps say the most (their text, question, hint and result).
WORDIEST = ("welcome", "ipv6", "http")


@pytest.mark.parametrize("name", WORDIEST)
async def test_a_lesson_at_the_web_size_of_fontsize_28_keeps_its_step_in_view(
        name: str) -> None:
    """Each step, as it opens and once done by Next (F10): in view at 80×21."""
    skip_unplayable(name)
    app = SocklabApp()
    app.lessons.to_open = name
    async with app.run_test(size=WEB_28) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        run = panel.run
        while True:
            await panel_in_view(app, pilot)
            if not run.done:
                await pilot.press("f10")
                await until(lambda: run.done or panel.stuck, f"Next doing {run.step.title!r}")
                assert panel.stuck is None, panel.stuck
                await panel_in_view(app, pilot)
            if run.complete:
                break
            index = run.index
            await pilot.press("f10")
            await until(lambda i=index: run.index > i, "Next going on")


def test_the_browser_at_fontsize_28_is_the_size_the_lessons_are_checked_at(tmp_path):
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    served_from = tmp_path / "server-cwd"
    served_from.mkdir()
    grids = _run_in_namespace("lesson_web_grid.py", str(_chromium()), str(served_from),
                              "16", "28")
    assert grids["28"] == list(WEB_28), grids
    assert grids["16"][0] > grids["28"][0] and grids["16"][1] > grids["28"][1], grids
