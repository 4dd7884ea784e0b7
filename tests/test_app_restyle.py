"""What a lesson's play costs the app in styling (issue 21): the app restyles only
the widgets a change can style.

Textual restyles a widget and its whole subtree when one of its classes changes;
socklab/ui/leaf_classes.py keeps the lesson layout's class on the few widgets it
styles, at the end of its selectors, so opening a lesson restyles those alone.
"""

from __future__ import annotations

import inspect
from functools import partial

from pilot import until
from textual import _callback
from textual.css.stylesheet import Stylesheet
from textual.scrollbar import ScrollBar, ScrollBarCorner
from textual.widget import Widget
from textual.widgets import Static

from socklab.ui.app import SocklabApp
from socklab.ui.leaf_classes import LESSON, misplaced, set_leaf_class
from socklab.ui.lesson_panel import LessonPanel
from socklab.ui.port_info import PortInfoLine
from socklab.ui.textual_fixes import _callback_count


def _rules(css: str) -> Stylesheet:
    sheet = Stylesheet()
    sheet.add_source(css)
    sheet.parse()
    return sheet


def test_misplaced_names_a_leaf_class_before_the_last_part() -> None:
    sheet = _rules("Screen.-lesson #panes { max-height: 100%; }\n"
                   ".-lesson > Static { color: red; }\n"
                   "Screen.-short #log.-lesson { min-height: 4; }\n"
                   "Screen PortInfoLine.-lesson { display: none; }\n")
    assert misplaced(sheet.rules) == ["Screen.-lesson #panes", ".-lesson > Static"]
    assert misplaced(sheet.rules, {"-short"}) == ["Screen.-short #log.-lesson"]


def test_set_leaf_class_refuses_a_class_that_styles_a_subtree() -> None:
    try:
        set_leaf_class(Static(), True, "-short")
    except ValueError as error:
        assert "-short" in str(error)
    else:
        raise AssertionError("set_leaf_class took -short")


async def test_opening_a_lesson_restyles_only_the_widgets_it_lays_out() -> None:
    """At 80×24 (a short screen): the panes keep their buttons (max-height 100%),
    port info is hidden, the log keeps 4 rows; no more than those widgets (and a
    scrollbar of theirs) are styled again, and the stylesheet names ``-lesson``
    only at the end of its selectors."""
    app = SocklabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert misplaced(app.stylesheet.rules) == []
        styled: list[object] = []
        apply = app.stylesheet.apply

        def counted(node, *args, **kwargs):
            styled.append(node)
            return apply(node, *args, **kwargs)

        app.stylesheet.apply = counted  # type: ignore[method-assign]
        app.lessons.make_room()
        app.stylesheet.apply = apply  # type: ignore[method-assign]
        panes, log = app.query_one("#panes"), app.event_log
        infos = list(app.query(PortInfoLine))
        laid_out = (panes, log, *infos)
        bars = (ScrollBar, ScrollBarCorner)
        others = [node for node in styled if isinstance(node, Widget)  # not a component class
                  and node not in laid_out
                  and not (isinstance(node, bars) and node.parent in laid_out)]
        assert others == [] and panes in styled, others
        assert len(infos) == 2 and not any(info.display for info in infos)
        assert panes.styles.max_height.value == 100 and log.styles.min_height.value == 4
        assert not app.screen.has_class(LESSON)
        await app.lessons.start("welcome")
        panel = app.query_one(LessonPanel)
        await until(lambda: panel.run is not None, "the lesson opening")
        await pilot.pause()
        assert not any(info.display for info in infos)


def test_a_callback_counts_its_parameters_as_textual_does_once_per_function(
        monkeypatch) -> None:
    """textual_fixes item 5: a partial that adds nothing (what ``call_later`` makes of
    every callback) counts as Textual counts it, and a function is looked at once."""
    looked: list[object] = []
    signature = inspect.signature
    monkeypatch.setattr(_callback, "signature", lambda f: looked.append(f) or signature(f))

    def plain(a, b):  # noqa: ANN001, ANN202
        return a, b

    class Thing:
        def method(self, a):  # noqa: ANN001, ANN202
            return a

        def star(*args):  # noqa: ANN002, ANN202, N805
            return args

    thing = Thing()
    partials = [partial(plain), partial(plain, 1), partial(thing.method), partial(thing.star),
                partial(len), partial(plain, b=2)]
    # What Textual gives a partial: its function's parameters less those it fills.
    expected = [len(signature(p.func).parameters) - len(p.args) - len(p.keywords)
                for p in partials]
    looked.clear()
    assert [_callback_count(p) for p in partials] == expected == [2, 1, 1, 1, 1, 1]
    assert [_callback_count(f) for f in (plain, thing.method)] == [2, 1]
    looked.clear()
    assert [_callback_count(partial(plain)), _callback_count(partial(thing.method))] == [2, 1]
    assert looked == [], "a function already counted was looked at again"
