"""Two-hosts mode in the lab screen: F7 on, Run server and Run client across the
cable (each event naming its host), F7 off; the two-hosts lesson played through
(127.0.0.1 from host B refused, '' reachable)."""

from __future__ import annotations

from hosts_helpers import machine_network, needs_hosts
from pilot import SIZE, is_, settle, until, watch

from socklab.hosts import HOST_A, HOST_B
from socklab.ui.app import SocklabApp

pytestmark = needs_hosts



async def test_f7_puts_the_panes_on_two_hosts_and_back() -> None:
    before = machine_network()
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")  # its action awaits the hosts coming up, in a thread
        await until(lambda: app.hosts.names is not None, "F7: two hosts")
        await settle(app, pilot)
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
        await until(lambda: app.hosts.names is None, "F7: one machine")
        await settle(app, pilot)
        assert app.session.open_sockets == 0
        assert app.client_pane.input("host").value == "127.0.0.1"
        assert machine_network() == before
    assert machine_network() == before


async def test_a_lesson_opens_on_one_machine_and_the_later_of_two_starts_stays() -> None:
    """The two-hosts lesson itself is played (pressed, then --auto) by test_guided.
    Here: a lesson opened while the lab is on two hosts starts from the lab's
    defaults, one machine; two lessons opened at once take turns, the later
    stays, and the earlier one's --auto stops instead of driving the lab."""
    before = machine_network()
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await app.hosts.set(True)
        await settle(app, pilot)
        assert app.hosts.names is not None
        first = app.run_worker(app.lessons.start("two-hosts", auto_pause=0.0))
        second = app.run_worker(app.lessons.start("welcome"))
        await first.wait()
        await second.wait()
        await settle(app, pilot)
        panel = app.lesson_panel
        assert panel.run is not None and panel.run.lesson.name == "welcome"
        assert panel.run.index == 0 and not panel.stalled
        assert app.hosts.names is None and app.session.open_sockets == 0
        assert app.server_pane.input("host").value == "127.0.0.1"
        assert machine_network() == before
    assert machine_network() == before
