"""The footer (socklab/ui/footer.py): rebuilt only when the keys it shows change,
and always showing what the screen's bindings say."""

from __future__ import annotations

from pilot import SIZE, settle
from textual.widgets._footer import FooterKey

from socklab.ui.app import SocklabApp
from socklab.ui.footer import SteadyFooter, shown_keys


def _on_screen(footer: SteadyFooter) -> list[str]:
    return [key.key for key in footer.query(FooterKey)]


def _wanted(app: SocklabApp) -> list[str]:
    """The keys Textual's own footer would show: the first key of each shown
    action, then the palette's."""
    palette = app.COMMAND_PALETTE_BINDING
    firsts: dict[str, str] = {}
    for key, action, *_ in shown_keys(app.screen):
        if key != palette:
            firsts.setdefault(action, key)
    return [*firsts.values(), palette]


async def test_moving_between_buttons_keeps_the_footer_and_it_says_the_bindings() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        footer = app.query_one(SteadyFooter)
        rebuilt: list[tuple] = []
        recompose = footer.recompose

        async def counted() -> None:
            rebuilt.append(shown_keys(app.screen))
            await recompose()

        footer.recompose = counted  # type: ignore[method-assign]
        for name in ("socket", "bind", "listen", "accept", "send", "recv", "close"):
            app.query_one(f"#server-{name}").focus()
            await settle(app, pilot)
        assert rebuilt == []  # the same keys in view: nothing rebuilt
        assert _on_screen(footer) == _wanted(app)
        app.event_log.focus()  # the log, then a field: each rebuilds only if keys change
        await settle(app, pilot)
        app.query_one("#server-port").focus()
        await settle(app, pilot)
        assert all(a != b for a, b in zip(rebuilt, rebuilt[1:], strict=False))
        assert _on_screen(footer) == _wanted(app)


async def test_a_key_that_changes_after_the_signal_is_shown() -> None:
    """A binding's state that changes after the bindings' signal, with no signal of
    its own, is shown: the footer compares when it would rebuild, as Textual's does
    (comparing when the signal came kept the lesson's Next out of the footer)."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        footer = app.query_one(SteadyFooter)
        assert "lesson_next" not in [key.action for key in footer.query(FooterKey)]
        lesson_open = {"now": False}
        app.lessons.is_open = lambda: lesson_open["now"]  # type: ignore[method-assign]

        def after_the_footer(_screen: object) -> None:
            lesson_open["now"] = True  # after the footer heard the signal

        app.screen.bindings_updated_signal.subscribe(app.event_log, after_the_footer)
        app.refresh_bindings()
        for _ in range(3):
            await settle(app, pilot)
        assert lesson_open["now"]
        assert "lesson_next" in [key.action for key in footer.query(FooterKey)]
        assert _on_screen(footer) == _wanted(app)
