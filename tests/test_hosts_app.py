"""Two-hosts mode in the lab screen: F7 on, Run server and Run client across the
cable (each event naming its host), 127.0.0.1 from host B refused, F7 off."""

from __future__ import annotations

from hosts_helpers import machine_network, needs_hosts
from pilot import SIZE, is_, settle, watch

from socklab.hosts import HOST_A, HOST_B
from socklab.ui.app import SocklabApp

pytestmark = needs_hosts


async def test_f7_puts_the_panes_on_two_hosts_and_back() -> None:
    before = machine_network()
    app = SocklabApp()
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
        app.client_pane.input("host").value = "127.0.0.1"
        await settle(app, pilot)
        app.client_pane.press("run")
        refused = await watch(app).until(is_("client", "connect", ok=False))
        assert refused.host == "B" and refused.error == "ECONNREFUSED"
        assert "own loopback" in (refused.lesson or "")
        await settle(app, pilot)
        await pilot.press("f7")
        await settle(app, pilot)
        assert app.hosts_names is None and app.session.open_sockets == 0
        assert app.client_pane.input("host").value == "127.0.0.1"
        assert machine_network() == before
    assert machine_network() == before
