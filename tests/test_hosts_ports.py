"""The Ports tab on two hosts (issue 14): scans that run inside host A or host B.

Real sockets in the real namespaces: a server on host A bound to 127.0.0.1
listens as seen from A at 127.0.0.1, and is refused from B at A's cable
address; bound to '' it listens at both.  A cable address is refused from this
machine's own namespace, whatever the caller asks.  The Ports tab gains its
From choice in two-hosts mode and loses it again.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hosts_helpers import machine_network, needs_hosts
from pilot import SIZE, is_, settle, watch

from socklab import ports
from socklab.hosts import HOST_A, HOST_B, TwoHosts
from socklab.hosts.netns import namespace_path, run_in, thread_namespace
from socklab.inputs import InputError


@contextmanager
def two_hosts() -> Iterator[TwoHosts]:
    """Both hosts up for one test, and the machine's own network as it was after."""
    before = machine_network()
    hosts = TwoHosts()
    try:
        hosts.up()
        yield hosts
    finally:
        hosts.down()
    assert machine_network() == before


def listener_on_a(hosts: TwoHosts, address: str) -> socket.socket:
    """A socket made on host A, listening on ``address`` at a port the kernel picks."""
    sock = hosts.run("server", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        sock.bind((address, 0))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def scan_from(hosts: TwoHosts, letter: str, address: str, port: int,
              threads: int = 1) -> ports.ScanResult:
    """Scan a few ports around ``port`` at ``address``, from inside host ``letter``."""
    around = range(max(1, port - 3), min(65535, port + 3) + 1)
    return run_in(hosts.names[letter],
                  lambda: ports.scan(address, around, threads=threads, across_cable=True))


@needs_hosts
def test_threads_started_inside_a_host_are_born_in_its_namespace() -> None:
    with two_hosts() as hosts:
        def parent_and_child() -> tuple[int, int]:
            seen: list[int] = []
            child = threading.Thread(target=lambda: seen.append(thread_namespace()))
            child.start()
            child.join(10)
            return thread_namespace(), seen[0]

        parent, child = run_in(hosts.names["B"], parent_and_child)
        assert parent == child == namespace_path(hosts.names["B"]).stat().st_ino
        assert parent != thread_namespace()  # this thread never moved


@needs_hosts
def test_run_in_waits_as_long_as_it_is_told() -> None:
    with two_hosts() as hosts:
        release = threading.Event()
        with pytest.raises(TimeoutError):  # the job cannot end before it is released
            run_in(hosts.names["A"], lambda: release.wait(30), timeout=0.05)
        release.set()
        assert run_in(hosts.names["A"], lambda: release.wait(30), timeout=30) is True


@needs_hosts
def test_a_server_on_127_0_0_1_listens_from_a_but_not_from_b_across_the_cable() -> None:
    with two_hosts() as hosts:
        server = listener_on_a(hosts, "127.0.0.1")
        with server:
            port = server.getsockname()[1]
            from_a = scan_from(hosts, "A", "127.0.0.1", port)
            assert from_a.status(port) == ports.LISTENING and not from_a.remote
            from_b = scan_from(hosts, "B", HOST_A.address, port, threads=2)
            assert from_b.remote and from_b.threads == 2
            assert from_b.status(port) == ports.REFUSED and from_b.listening == []
            assert "refused" in from_b.summary()
            # 127.0.0.1 from B is B's own loopback: nothing of A's is there.
            assert scan_from(hosts, "B", "127.0.0.1", port).status(port) == ports.FREE
        # Closed: A's loopback is free again.
        assert scan_from(hosts, "A", "127.0.0.1", port).status(port) == ports.FREE


@needs_hosts
def test_a_server_on_every_address_listens_from_both_hosts() -> None:
    with two_hosts() as hosts, listener_on_a(hosts, "") as server:
        port = server.getsockname()[1]
        from_b = scan_from(hosts, "B", HOST_A.address, port, threads=2)
        assert from_b.listening == [port] and from_b.remote
        assert scan_from(hosts, "A", "127.0.0.1", port).listening == [port]
        assert scan_from(hosts, "A", HOST_A.address, port).status(port) == ports.LISTENING
        # One probe agrees, and a name for B's own address is B's to bind.
        assert run_in(hosts.names["B"], lambda: ports.probe(
            port, HOST_A.address, across_cable=True)) == ports.LISTENING
        assert run_in(hosts.names["B"], lambda: ports.probe(
            port, HOST_B.address, across_cable=True)) == ports.FREE


@needs_hosts
def test_inside_a_host_only_the_cable_addresses_are_allowed_and_only_when_asked() -> None:
    with two_hosts() as hosts:
        name = hosts.names["B"]
        for address in ("192.168.0.2", "8.8.8.8", "0.0.0.0"):
            with pytest.raises(InputError, match="this machine only"):
                run_in(name, lambda a=address: ports.scan(a, [80], across_cable=True))
        with pytest.raises(InputError, match="this machine only"):  # not asked for
            run_in(name, lambda: ports.scan(HOST_A.address, [80]))


@pytest.mark.parametrize("address", [HOST_A.address, HOST_B.address])
def test_a_cable_address_is_refused_from_this_machine_s_own_namespace(address: str) -> None:
    # Here the address could be a real machine on a real 192.168.0.x network.
    for call in (lambda: ports.scan(address, [80], across_cable=True),
                 lambda: ports.probe(80, address, across_cable=True)):
        with pytest.raises(InputError) as info:
            call()
        assert str(info.value).startswith(f"refusing to scan {address!r} from this machine's "
                                          "own network")
    with pytest.raises(InputError, match="this machine only"):
        ports.scan(address, [80])


@needs_hosts
async def test_the_ports_tab_scans_from_host_b_and_its_choice_goes_with_the_mode() -> None:
    from textual.widgets import Input, Select, Static

    from socklab.ui.app import SocklabApp
    from socklab.ui.ports_view import LOOPBACKS, PortsView

    before = machine_network()
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(PortsView)
        origin, address = view.query_one("#ports-from", Select), view.query_one(
            "#ports-host", Select)
        bar = view.query_one("#ports-from-bar")
        assert not bar.display and origin.disabled  # one machine: nowhere else to scan from
        assert await app.hosts.set(True)
        await settle(app, pilot)
        # The lab's server, on host A at the address its host field already says.
        assert app.server_pane.input("host").value == HOST_A.address
        app.server_pane.input("port").value = "0"
        await settle(app, pilot)
        app.server_pane.press("run")
        port = (await watch(app).until(is_("server", "bind"))).result[1]
        await watch(app).until(is_("server", "accept", "wait"))

        await pilot.click("#--content-tab-ports")  # the Ports tab, as a learner opens it
        await settle(app, pilot)
        assert bar.display and not origin.disabled and origin.region.width > 0
        origin.value = "B"
        await pilot.pause()
        assert view.offered == ["127.0.0.1", "::1", HOST_B.address, HOST_A.address]
        address.value = HOST_A.address  # a value not offered would raise
        view.query_one("#ports-range", Input).value = f"{port - 2}-{port + 2}"
        await pilot.click("#ports-scan")
        await settle(app, pilot)
        assert view.result is not None and view.result.listening == [port]
        status = str(view.query_one("#ports-status", Static).render())
        assert f"on {HOST_A.address} from host B" in status and "1 listening" in status
        rows = dict(zip(view.query_one("#ports-table").column("port"),
                        view.query_one("#ports-table").column("listening"), strict=True))
        assert rows[str(port)] == "listening" and rows[str(port + 1)] == "refused"

        # From host B, 127.0.0.1 is B's own loopback: the server is not there.
        address.value = "127.0.0.1"
        await pilot.click("#ports-scan")
        await settle(app, pilot)
        assert view.result is not None and view.result.listening == []

        # Free port from host B: found by binding, so only at B's own addresses.
        address.value = HOST_A.address
        await pilot.click("#ports-free")
        await settle(app, pilot)
        assert "choose From host A" in str(view.query_one("#ports-status", Static).render())
        address.value = HOST_B.address
        await pilot.click("#ports-free")
        await settle(app, pilot)
        found = app.server_pane.input("port").value  # handed to the lab's port field
        assert f"port {found} is free on {HOST_B.address} inside host B" in str(
            view.query_one("#ports-status", Static).render())

        assert await app.hosts.set(False)
        await settle(app, pilot)
        assert not bar.display and origin.disabled and view.hosts_names is None
        assert view.offered == [value for _label, value in LOOPBACKS]
        assert address.value == "127.0.0.1"
        assert app.session.open_sockets == 0 and machine_network() == before
    assert machine_network() == before
