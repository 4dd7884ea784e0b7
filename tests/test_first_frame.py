"""What the lab's first frame does without: a restyle on the first resize, GC passes,
styling a widget before it is mounted, restyling the whole screen on its first resume."""

from __future__ import annotations

import gc

import pytest
from textual import events
from textual.css.stylesheet import Stylesheet
from textual.screen import ModalScreen, Screen
from textual.widgets import Button

from socklab.ui.app import SocklabApp
from socklab.ui.first_frame import FirstScreen, breakpoint_class, presized_screen


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


def _styles_of(screen: Screen[object]) -> dict[int, dict[str, object]]:
    """Every node's styles as the stylesheet set them (and its inline ones)."""
    return {id(node): {**node.styles.base.get_rules(), **node.styles.inline.get_rules()}
            for node in screen.walk_children(with_self=True)}


async def test_the_first_frame_has_the_styles_a_full_restyle_gives() -> None:
    """Without the first resume's restyle, each widget keeps the styles it was
    given when mounted: restyling every node after the first frame changes none."""
    app = SocklabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = _styles_of(app.screen)
        assert len(first) > 200  # the whole lab screen, hidden tabs too
        app.stylesheet.update_nodes(app.screen.walk_children(with_self=True), animate=False)
        assert _styles_of(app.screen) == first


async def test_only_the_first_resume_keeps_the_styles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A later resume restyles the screen when Textual asks it to (a screen switched
    back to; a dismissed modal asks it not to, in Textual itself)."""
    resumes: list[bool] = []
    textual_resume = Screen._on_screen_resume

    def note(screen: Screen[object], event: object) -> None:
        if isinstance(screen, FirstScreen):
            resumes.append(event.refresh_styles)  # type: ignore[attr-defined]
        textual_resume(screen, event)  # type: ignore[arg-type]

    monkeypatch.setattr(Screen, "_on_screen_resume", note)
    app = SocklabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.push_screen(ModalScreen())
        await pilot.pause()
        app.pop_screen()
        await pilot.pause()
        app.screen.post_message(events.ScreenResume())  # as switch_screen sends it
        await pilot.pause()
    assert resumes == [False, False, True]


async def test_a_widget_is_not_styled_before_it_is_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compact Button made in a running app is styled when mounted, not in its constructor."""
    app = SocklabApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        styled: list[object] = []
        textual_apply = Stylesheet.apply

        def note(sheet: Stylesheet, node: object, *args: object, **kwargs: object) -> None:
            styled.append(node)
            textual_apply(sheet, node, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Stylesheet, "apply", note)
        button = Button("made while the app runs", compact=True)
        assert "-textual-compact" in button.classes and button not in styled
        await app.screen.mount(button)
        assert button in styled and button.styles.height.value == 1  # compact: one line
