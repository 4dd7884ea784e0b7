"""Two hosts on one machine (issue 14): namespaces, setns per thread, the demo's cases.

Real namespaces and a real cable (a TUN device in each, and the relay); skipped,
saying why, where this process may not make them (not root, no `ip`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading

import pytest
from helpers import LIMIT, Recorder, json_events, no_traceback, run_cli
from hosts_helpers import as_nobody, ip_out, machine_network, needs_hosts

from socklab.demos.hosts import two_hosts
from socklab.engine import Lab
from socklab.events import CLIENT, SERVER, Event
from socklab.hosts import HOST_A, HOST_B, TwoHosts, mode
from socklab.hosts.netns import run_in, thread_namespace
from socklab.hosts.pair import RTO_MAX, RTO_MIN
from socklab.logformat import format_line


def test_events_name_their_host_only_in_two_hosts_mode() -> None:
    plain = Event(seq=1, t=0.0, side=SERVER, conn=None, op="socket")
    placed = Event(seq=2, t=0.0, side=CLIENT, conn=3, op="socket", host="B")
    assert plain.to_dict()["host"] is None
    assert json.loads(placed.to_json())["host"] == "B"
    assert " server " in format_line(plain) and "client[3]@B" in format_line(placed)


@needs_hosts
def test_setns_moves_only_the_thread_that_calls_it() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        here = thread_namespace()
        others: list[int] = []
        go, stop = threading.Event(), threading.Event()

        def bystander() -> None:  # a thread running while another one moves
            go.set()
            stop.wait(LIMIT)
            others.append(thread_namespace())

        thread = threading.Thread(target=bystander)
        thread.start()
        assert go.wait(LIMIT)
        in_a = run_in(hosts.names["A"], thread_namespace)
        in_b = run_in(hosts.names["B"], thread_namespace)
        stop.set()
        thread.join(LIMIT)
        assert len({here, in_a, in_b}) == 3
        assert thread_namespace() == here and others == [here]
    finally:
        hosts.down()


@needs_hosts
def test_a_socket_stays_on_the_host_that_made_it() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        with hosts.socket(SERVER, socket.AF_INET, socket.SOCK_STREAM) as on_a:
            on_a.bind((HOST_A.address, 0))  # used from this thread, still on A
            assert on_a.getsockname()[0] == HOST_A.address
        with hosts.socket(CLIENT, socket.AF_INET, socket.SOCK_STREAM) as on_b, \
                pytest.raises(OSError) as failed:
            on_b.bind((HOST_A.address, 0))  # not an address of host B
        assert failed.value.errno == 99  # EADDRNOTAVAIL
    finally:
        hosts.down()


@needs_hosts
def test_the_cable_lives_in_the_two_namespaces_only() -> None:
    before = machine_network()
    hosts = TwoHosts()
    try:
        hosts.up()
        assert machine_network()["links"] == before["links"]
        assert machine_network()["addresses"] == before["addresses"]
        for host in (HOST_A, HOST_B):
            name = hosts.names[host.letter]
            assert f"{host.address}/24" in ip_out("-n", name, "-o", "addr")
            # The only route is the cable's own subnet: nothing can leave.
            assert ip_out("-n", name, "route").split() == [
                "192.168.0.0/24", "dev", host.interface, "proto", "kernel", "scope", "link",
                "src", host.address]
    finally:
        hosts.down()
    assert machine_network() == before


@needs_hosts
def test_demo_cases_on_real_sockets(lab: Lab, rec: Recorder) -> None:
    before = machine_network()
    assert two_hosts(lab)
    lab.close_all()
    events = rec.done()
    assert {e.host for e in events} == {"A", "B"}
    refused = [e for e in events if e.op == "connect" and not e.ok]
    assert [(e.host, e.args[0][0], e.error) for e in refused] == [
        ("B", HOST_A.address, "ECONNREFUSED"), ("B", "127.0.0.1", "ECONNREFUSED")]
    assert "own loopback" in (refused[1].lesson or "")
    accepted = [e.result[0] for e in events if e.op == "accept"]
    assert accepted == [HOST_B.address, HOST_B.address, "127.0.0.1"]
    assert [e.result for e in events if e.op == "case"] == [
        "refused", "refused", "reachable", "reachable", "one name"]
    names = {e.host: e.result for e in events if e.op == "gethostname"}
    assert names == {"A": socket.gethostname(), "B": socket.gethostname()}
    assert machine_network() == before  # the lab's close removed both hosts


@needs_hosts
def test_reset_removes_the_hosts_and_the_next_socket_brings_them_back(lab: Lab) -> None:
    hosts = mode.enable(lab)
    server = lab.server()
    assert server.socket().ok and server.bind(HOST_A.address, 0).ok
    lab.reset()
    assert not hosts.is_up and not any(n in ip_out("netns", "list")
                                       for n in hosts.names.values())
    assert server.socket().ok and server.bind(HOST_A.address, 0).ok
    assert hosts.is_up
    mode.disable(lab)
    assert lab.hosts is None and not server.is_open
    assert server.socket().ok and not server.bind(HOST_A.address, 0).ok  # this machine


@needs_hosts
def test_the_hosts_timers_are_their_kernels_own_and_stay_after_reset(lab: Lab) -> None:
    if not (RTO_MIN.exists() and RTO_MAX.exists()):
        pytest.skip("this kernel has no per-namespace TCP timer settings (Linux < 6.15)")
    hosts = mode.enable(lab)
    machine = {f: _sysctl(None, f) for f in ("tcp_rto_min_us", "tcp_rto_max_ms")}
    assert all(_sysctl(name, "tcp_rto_max_ms") == 120000 for name in hosts.names.values())
    assert hosts.set_timers(50, 1000) == (50, 1000)
    for _ in range(2):  # set in the live hosts, then again when Reset brings them back
        for name in hosts.names.values():
            assert _sysctl(name, "tcp_rto_min_us") == 50000
            assert _sysctl(name, "tcp_rto_max_ms") == 1000
        lab.reset()
        assert lab.server().socket().ok  # the hosts come back
    assert {f: _sysctl(None, f) for f in machine} == machine  # this machine's: untouched


def _sysctl(namespace: str | None, name: str) -> int:
    """A TCP setting as `sysctl` reads it in ``namespace`` (None: this machine)."""
    command = ["sysctl", "-n", f"net.ipv4.{name}"]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    return int(subprocess.run(command, capture_output=True, text=True, timeout=LIMIT,
                              check=True).stdout)


@needs_hosts
def test_cli_demo_two_hosts_json_leaves_nothing_behind() -> None:
    before = machine_network()
    done = run_cli("demo", "two-hosts", "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    events = json_events(done.stdout)
    assert all(e["host"] in ("A", "B") for e in events)
    assert machine_network() == before


def test_without_root_one_line_says_how_to_run_it() -> None:
    with as_nobody() as (command, env):
        for args in (["demo", "two-hosts"], ["--two-hosts"]):
            done = subprocess.run([*command, "-m", "socklab", *args], capture_output=True,
                                  text=True, env=env, cwd="/", timeout=LIMIT * 2,
                                  stdin=subprocess.DEVNULL, check=False)
            if args == ["--two-hosts"] and "No module named" in done.stderr:
                pytest.skip("nobody cannot import textual from here (the lab's own check "
                            "is covered by demo two-hosts)")
            assert done.returncode == 1, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "needs root" in lines[0] and "sudo" in lines[0]
            assert done.stdout == ""
        cleaned = subprocess.run([*command, "-m", "socklab", "cleanup"], capture_output=True,
                                 text=True, env=env, cwd="/", timeout=LIMIT, check=False)
        no_traceback(cleaned.stderr)
        assert cleaned.returncode in (0, 1) and (cleaned.stdout or cleaned.stderr)



def _server_closes_first(lab: Lab, view, host: str, before_close=None) -> None:  # noqa: ANN001
    """server[1] and client[1] connected on ``host``; ``before_close`` run, then the
    server closes first, the client after it: server[1] reaches TIME_WAIT."""
    from socklab.scenarios import ClientPlan, ServerPlan, open_client, open_server
    server = lab.server()
    assert open_server(server, ServerPlan(host=host, port=0))
    client = lab.client()
    assert open_client(client, ClientPlan(host=host, port=server.local[1]))
    conn, _ = server.accept()
    assert conn is not None
    if before_close is not None:
        before_close()
    conn.close()  # the server closes first: its side of the connection waits
    assert client.recv(1024).eof
    client.close()
    assert view.wait_for("server", 1, "TIME_WAIT", timeout=LIMIT)


@needs_hosts
def test_the_kernel_view_follows_time_wait_on_its_own_host(lab: Lab, rec: Recorder) -> None:
    from socklab.kernel.poller import KernelView
    mode.enable(lab)
    view = KernelView(lab).start()
    try:
        _server_closes_first(lab, view, HOST_A.address)
    finally:
        view.stop()
    states = [(e.host, e.result["state"]) for e in rec.snapshot()
              if e.op == "state" and e.side == "server" and e.conn == 1]
    assert ("A", "TIME_WAIT") in states


@needs_hosts
def test_a_state_after_the_hosts_are_gone_names_the_host_it_lived_on(
        lab: Lab, rec: Recorder) -> None:
    """Two-hosts mode off (a lesson's start, F7): host A's namespace goes, and the
    TIME_WAIT entry with it; the kernel view says so (CLOSE) for server[1], which
    lived on host A: its line says @A, not nothing (the host was read from the
    lab's mode, gone by then: the oracle's "host" check, lessons latency and
    reliability replayed by --auto after a play by hand)."""
    from socklab.kernel.poller import KernelView
    mode.enable(lab)
    view = KernelView(lab).start()
    try:
        _server_closes_first(lab, view, HOST_A.address)
        lab.close_all()
        mode.disable(lab)
        assert view.wait_for("server", 1, "CLOSE", timeout=LIMIT)
    finally:
        view.stop()
    states = [(e.host, e.result["state"]) for e in rec.snapshot()
              if e.op == "state" and e.side == "server" and e.conn == 1]
    assert states[-1] == ("A", "CLOSE"), states


@needs_hosts
def test_a_state_said_in_two_hosts_mode_of_a_socket_of_this_machine_names_no_host(
        lab: Lab, rec: Recorder) -> None:
    """A connection made on this machine, closed after two-hosts mode came on (F7):
    its TIME_WAIT is read in this machine's tables (it was looked for in the hosts'
    alone, not found, and said CLOSE: a lie), and its lines name no host (the bus
    names one by the side for a line that does not say)."""
    from socklab.kernel.poller import KernelView
    view = KernelView(lab).start()
    try:
        _server_closes_first(lab, view, "127.0.0.1", before_close=lambda: mode.enable(lab))
    finally:
        view.stop()
    states = [(e.side, e.host, e.result["state"]) for e in rec.snapshot()
              if e.op == "state" and e.conn == 1]
    assert ("server", None, "TIME_WAIT") in states, states
    assert all(host is None for _, host, _ in states), states


@needs_hosts
def test_each_state_names_the_host_its_socket_lives_in(lab: Lab, rec: Recorder) -> None:
    """The '' case's client lives on host A: its state lines say @A, like its calls
    (the host is read from the socket's own namespace, not from its side)."""
    from socklab.kernel.poller import KernelView
    with KernelView(lab):
        assert two_hosts(lab)
        lab.close_all()
    events = rec.snapshot()
    calls: dict[tuple, set] = {}
    for e in events:
        if e.op not in ("state", "packet", "case", "gethostname", "gethostbyname"):
            calls.setdefault((e.side, e.conn), set()).add(e.host)
    states = [e for e in events if e.op == "state"]
    assert any(e.host == "A" and e.side == CLIENT for e in states), rec.dump()
    for e in states:
        if e.conn is not None or e.side == CLIENT:
            assert calls[(e.side, e.conn)] == {e.host}, format_line(e)
