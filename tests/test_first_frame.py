"""What the lab's first frame does without: a restyle on the first resize, GC passes."""

from __future__ import annotations

import gc

import pytest
from textual.screen import Screen

from socklab.ui.app import SocklabApp
from socklab.ui.first_frame import breakpoint_class, presized_screen


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 79, 99, 100, 101, 500])
def test_the_class_is_the_one_textual_gives_on_a_resize(size: int) -> None:
    screen = Screen()
    for breakpoints in (SocklabApp.HORIZONTAL_BREAKPOINTS, SocklabApp.VERTICAL_BREAKPOINTS):
        expected = screen._get_breakpoint_classes(size, breakpoints)
        assert {breakpoint_class(size, breakpoints)} - {None} == expected


@pytest.mark.parametrize(("size", "classes"), [((120, 40), {"-wide", "-tall"}),
                                               ((80, 24), {"-narrow", "-short"})])
async def test_the_first_frame_is_styled_for_its_size(size: tuple[int, int],
                                                      classes: set[str]) -> None:
    app = SocklabApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert set(presized_screen(app).classes) == classes  # before any resize
        assert classes <= set(app.screen.classes) and app.screen.id == "_default"
        assert gc.isenabled()  # held until the first frame only


async def test_the_collector_held_for_the_first_frame_runs_again_after_an_early_exit() -> None:
    app = SocklabApp()
    app.call_later(app.exit)  # before anything is painted, maybe
    async with app.run_test(size=(80, 24)):
        pass
    assert gc.isenabled()
