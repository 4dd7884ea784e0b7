"""Every colour pair the lab draws meets WCAG AA, 4.5:1, in both themes (issue 12 item 7).

Measured as drawn: the whole lab screen (after a welcome exchange, so the log,
the sockets and the lit buttons all show) is rendered to segments, and every
segment with visible text has its foreground measured against its background.
The projector theme also never uses the terminal's "dim" attribute (a
terminal picks its darkness: its contrast cannot be known).
"""

from __future__ import annotations

import pytest
from pilot import SIZE, click, is_, run_server, settle
from rich.color import Color
from rich.segment import Segment

from socklab.ui.app import SocklabApp

AA = 4.5


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: Color, bg: Color) -> float:
    """The WCAG 2 contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_ratio_is_wcags() -> None:
    assert round(contrast(Color.parse("#ffffff"), Color.parse("#000000")), 1) == 21.0
    assert round(contrast(Color.parse("#777777"), Color.parse("#ffffff")), 2) == 4.48


def _drawing(text: str) -> bool:
    """Box drawing and block elements (U+2500–U+259F): borders and bars, not text."""
    return all(0x2500 <= ord(ch) <= 0x259F or ch == " " for ch in text)


def _symbol(text: str) -> bool:
    """A control's glyph (▼, ▶): WCAG's non-text contrast, 3:1."""
    return all(0x25A0 <= ord(ch) <= 0x25FF or ch == " " for ch in text)


def _drawn(app: SocklabApp) -> list[Segment]:
    strips = app.screen._compositor.render_strips()
    return [segment for strip in strips for segment in strip if segment.text.strip()]


@pytest.mark.parametrize("theme", ["textual-dark", "projector"])
async def test_every_colour_pair_on_screen_meets_aa(theme: str) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")
        await seen.until(is_("client", "close"))
        await settle(app, pilot)
        app.server_pane.input("host").value = ""  # the every-interface note shows too
        app.event_log.focus()
        await pilot.press("up")  # a cursor row
        await pilot.pause()
        failures = set()
        measured = 0
        for segment in _drawn(app):
            style = segment.style
            if style is None or style.color is None or style.bgcolor is None:
                continue
            fg, bg = style.color, style.bgcolor
            if style.reverse:
                fg, bg = bg, fg
            measured += 1
            ratio = contrast(fg, bg)
            if _drawing(segment.text):
                continue  # borders, rules, scrollbars: lines, not text
            if ratio < (3.0 if _symbol(segment.text) else AA):
                failures.add((segment.text.strip()[:30], fg.name, bg.name, round(ratio, 2)))
            if theme == "projector" and style.dim:
                failures.add((segment.text.strip()[:30], "dim", "", 0))
        assert measured > 100
        assert not failures, "\n".join(map(repr, sorted(failures)))


FOCUS = 3.0
#: One control of each kind a learner tabs to in the lab with a lesson open.
CONTROLS = ("#server-family", "#server-type", "#server-host", "#server-port",
            "#server-reuseaddr", "#server-timeout", "#server-socket", "#server-run",
            "#client-count", "#server-connections", "#lesson-next", "#lesson-back")


def _background(app: SocklabApp, selector: str) -> Color:
    """The background most of a control's cells are drawn on (reverse undone)."""
    widget = app.query_one(selector)
    region = widget.region
    strips = app.screen._compositor.render_strips()
    counts: dict[str, tuple[int, Color]] = {}
    for y in range(region.y, region.bottom):
        for segment in strips[y].crop(region.x, region.right):
            style = segment.style
            if style is None or style.bgcolor is None:
                continue
            bg = style.color if style.reverse and style.color else style.bgcolor
            seen, _ = counts.get(bg.name, (0, bg))
            counts[bg.name] = (seen + len(segment.text), bg)
    assert counts, f"{selector} is not drawn"
    return max(counts.values(), key=lambda item: item[0])[1]


@pytest.mark.parametrize("theme", ["textual-dark", "projector"])
async def test_every_controls_focus_shows_at_3_to_1(theme: str) -> None:
    """Each control focused, against itself unfocused: WCAG's 3:1 for a focus
    indicator (a select or the checkbox once moved from #1c1c1c to #262626)."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await app.lessons.start("backlog")
        seen = await run_server(app, pilot)
        await seen.until(is_("server", "accept", "wait"))
        await settle(app, pilot)
        await app.lesson_panel.next()  # listen(2) done: step 2, where Back is enabled
        assert app.lesson_panel.run.index == 1
        faint = []
        for selector in CONTROLS:
            app.event_log.focus()
            await pilot.pause()
            before = _background(app, selector)
            app.query_one(selector).focus()
            await pilot.pause()
            after = _background(app, selector)
            ratio = contrast(before, after)
            if ratio < FOCUS:
                faint.append((selector, before.name, after.name, round(ratio, 2)))
        assert not faint, "\n".join(map(repr, faint))
