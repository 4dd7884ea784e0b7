"""The Lab tab keeps the event log's rows (socklab/ui/lab_tab.py): at 80×24 with a
lesson open, a server listening with connections (and in two-hosts mode the Cable
bar) once left the log 0 rows; the panes now scroll, kept on their buttons."""

from __future__ import annotations

from hosts_helpers import needs_hosts
from pilot import is_, settle, until, watch
from textual.widget import Widget

from socklab.ui.app import SocklabApp
from socklab.ui.event_log import EventLog

SMALL = (80, 24)


def _inside(inner: Widget, outer: Widget) -> bool:
    a, b = inner.region, outer.region
    return b.y <= a.y and a.bottom <= b.bottom and b.x <= a.x and a.right <= b.right


def _assert_the_log_and_the_buttons_in_view(app: SocklabApp) -> None:
    log = app.query_one(EventLog)
    assert log.region.height >= 4, f"the log has {log.region.height} rows"  # 2 inside its border
    assert log.region.bottom <= app.lesson_panel.region.y, "the log is under the lesson"
    for pane in (app.server_pane, app.client_pane):
        assert _inside(pane.query_one(".calls"), pane), f"{pane.id}'s buttons are out of view"
        assert pane.region.bottom <= log.region.y


async def _listen_and_connect(app: SocklabApp, pilot, clients: int) -> None:  # type: ignore[no-untyped-def]
    app.server_pane.press("run")
    await watch(app).until(is_("server", "accept", "wait"))
    for n in range(1, clients + 1):
        app.client_pane.press("socket")
        await watch(app).until(is_("client", "socket"), n)
        app.client_pane.press("connect")
        await watch(app).until(is_("client", "connect"), n)
    await settle(app, pilot)


async def test_a_lesson_at_80x24_keeps_the_logs_rows_as_the_panes_grow() -> None:
    app = SocklabApp()
    async with app.run_test(size=SMALL) as pilot:
        await app.lessons.start("welcome")
        await settle(app, pilot)
        rows_before = app.query_one(EventLog).region.height
        await _listen_and_connect(app, pilot, clients=3)
        _assert_the_log_and_the_buttons_in_view(app)
        assert app.server_pane.max_scroll_y > 0  # its rows are more than it shows
        assert app.query_one(EventLog).region.height >= min(rows_before, 4)


@needs_hosts
async def test_two_hosts_with_a_lesson_at_80x24_keeps_the_logs_rows() -> None:
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SMALL) as pilot:
        await app.lessons.start("two-hosts")
        await settle(app, pilot)
        await pilot.press("f7")
        await until(lambda: app.hosts.names is not None, "F7: two hosts")
        await settle(app, pilot)
        app.server_pane.input("port").value = "0"
        await _listen_and_connect(app, pilot, clients=2)
        _assert_the_log_and_the_buttons_in_view(app)
        await pilot.press("f7")
        await until(lambda: app.hosts.names is None, "F7: one machine")
        await settle(app, pilot)
        _assert_the_log_and_the_buttons_in_view(app)
