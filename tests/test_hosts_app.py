"""Two-hosts mode in the lab screen: F7 on, Run server and Run client across the
cable (each event naming its host), F7 off; the two-hosts lesson played through
(127.0.0.1 from host B refused, '' reachable)."""

from __future__ import annotations

from hosts_helpers import machine_network, needs_hosts
from pilot import SIZE, is_, settle, watch

from socklab.hosts import HOST_A, HOST_B
from socklab.ui.app import SocklabApp

pytestmark = needs_hosts


async def test_f7_puts_the_panes_on_two_hosts_and_back() -> None:
    before = machine_network()
    app = SocklabApp()
    app.hosts_ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        await settle(app, pilot)
        assert app.hosts_names is not None
        assert app.server_pane.border_title == f"Server · host A {HOST_A.address}"
        assert app.client_pane.input("host").value == HOST_A.address
        app.server_pane.input("port").value = "0"
        await settle(app, pilot)
        app.server_pane.press("run")
        await watch(app).until(is_("server", "accept", "wait"))
        app.client_pane.press("run")
        accepted = await watch(app).until(is_("server", "accept"))
        await watch(app).until(is_("client", "close"))
        assert accepted.host == "A" and accepted.result[0] == HOST_B.address
        await settle(app, pilot)
        await pilot.press("f7")
        await settle(app, pilot)
        assert app.hosts_names is None and app.session.open_sockets == 0
        assert app.client_pane.input("host").value == "127.0.0.1"
        assert machine_network() == before
    assert machine_network() == before


async def test_the_two_hosts_lesson_plays_through() -> None:
    before = machine_network()
    app = SocklabApp()
    app.hosts_ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await app.start_lesson("two-hosts")
        panel = app.lesson_panel
        await panel.autoplay(0.0)
        await settle(app, pilot)
        assert panel.run is not None and panel.run.complete and not panel.stalled
        assert app.hosts_names is not None
        await app.set_two_hosts(False)
        await settle(app, pilot)
        assert app.hosts_names is None and machine_network() == before
