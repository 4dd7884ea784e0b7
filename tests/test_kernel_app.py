"""The kernel's view on the lab screen: the accept queue gauge and the states in the lists.

Driven with Pilot over real loopback sockets, the kernel view on (as in the
real app); every wait is for an event to reach the screen, never a sleep.
"""

from __future__ import annotations

from pilot import SIZE, is_, listen_with_backlog, settle, watch
from textual.widgets import Static

from socklab.ui.app import SocklabApp


def _gauge(app: SocklabApp) -> Static:
    return app.query_one("#server-queue", Static)


async def test_the_queue_gauge_fills_to_backlog_plus_one_and_accept_drains_it() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        assert not _gauge(app).display  # no listener yet: no queue to show
        await listen_with_backlog(app, pilot, 2, 3)
        assert _gauge(app).display
        assert "accept queue" in str(_gauge(app).render()) and "FULL" not in str(
            _gauge(app).render())
        app.client_pane.press("connect-n")
        full = {"state": "LISTEN", "queue": 3, "backlog": 2}
        await watch(app).until(is_("server", "state", result=full))
        await settle(app, pilot)
        shown = str(_gauge(app).render())
        assert "FULL" in shown and " 3" in shown and "backlog 2" in shown
        rows = [str(row.prompt()) for row in app.client_pane.socket_list._rows]
        assert len(rows) == 3 and all("ESTABLISHED" in row for row in rows)
        for _ in range(3):
            app.server_pane.press("accept")
            await settle(app, pilot)
        await watch(app).until(is_("server", "state",
                                   result={"state": "LISTEN", "queue": 0, "backlog": 2}))
        await settle(app, pilot)
        assert "FULL" not in str(_gauge(app).render())
        server_rows = [str(row.prompt()) for row in app.server_pane.socket_list._rows]
        assert sum("ESTABLISHED" in row for row in server_rows) == 3


async def test_closing_shows_the_kernels_states_in_the_lists() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.input("port").value = "0"
        await settle(app, pilot)
        for op in ("socket", "bind", "listen"):
            app.server_pane.press(op)
            await settle(app, pilot)
        app.client_pane.press("socket")
        await settle(app, pilot)
        app.client_pane.press("connect")
        await watch(app).until(is_("client", "connect"))
        app.server_pane.press("accept")
        await watch(app).until(is_("server", "accept"))
        await settle(app, pilot)
        app.client_pane.press("close")
        await watch(app).until(is_("server", "state", conn=1, result={"state": "CLOSE_WAIT"}))
        await settle(app, pilot)
        server_rows = [str(row.prompt()) for row in app.server_pane.socket_list._rows]
        assert any("CLOSE_WAIT" in row for row in server_rows), server_rows


async def test_reset_in_the_lab_rst_then_econnreset_with_its_lesson() -> None:
    """The server closes with the client's bytes unread: RST, then the client's recv fails."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await listen_with_backlog(app, pilot, 5, 1)
        app.client_pane.input("message").value = "unread"
        for op in ("socket", "connect"):
            app.client_pane.press(op)
            await watch(app).until(is_("client", op))
        app.server_pane.press("accept")
        await watch(app).until(is_("server", "accept"))
        app.client_pane.press("send")
        await watch(app).until(is_("client", "send"))
        await settle(app, pilot)
        app.server_pane.press("close")  # server[1] is selected: closed unread
        await watch(app).until(is_("client", "state", result={"state": "CLOSE"}))
        app.client_pane.press("recv")
        failed = await watch(app).until(is_("client", "recv"))
        await settle(app, pilot)
        assert failed.error == "ECONNRESET" and failed.lesson
        rows = [str(row.prompt()) for row in app.client_pane.socket_list._rows]
        assert any("CLOSE" in row for row in rows), rows
