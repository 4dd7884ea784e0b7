"""socklab.ports on the real kernel: ranges, service names, privileges, the
ephemeral range, the loopback-only scan and "find a free port".

Listeners are always on kernel-chosen ports (port 0) on loopback.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from benchmarks.scan import naive_scan
from hypothesis import given, settings
from hypothesis import strategies as st

from socklab import ports
from socklab.inputs import InputError
from socklab.ports.occupied import occupied_ports

LIMIT = 30.0
HAVE_SERVICES = ports.read_services() is not None
needs_services = pytest.mark.skipif(not HAVE_SERVICES, reason="no /etc/services on this machine")


@contextmanager
def listener(host: str = "127.0.0.1", backlog: int = 5) -> Iterator[int]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as srv:
        srv.bind((host, 0))
        srv.listen(backlog)
        yield srv.getsockname()[1]


def socklab(*args: str, timeout: float = LIMIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socklab", *args],
        capture_output=True, text=True, timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )


# -- parse_range -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [("80", 80, 80), ("1-1024", 1, 1024), (" 20 - 25 ", 20, 25), ("0", 0, 0),
     ("49152-65535", 49152, 65535), ("0-65535", 0, 65535), ("8080–8090", 8080, 8090)],
)
def test_parse_range_numbers(text: str, first: int, last: int) -> None:
    r = ports.parse_range(text)
    assert (r.first, r.last) == (first, last)
    assert len(r) == last - first + 1
    assert list(r)[0] == first and list(r)[-1] == last


@needs_services
@pytest.mark.parametrize(("name", "port"), [("http", 80), ("HTTPS", 443), ("ssh", 22),
                                             ("ftp", 21), ("ftp-data", 20), ("nntp", 119),
                                             ("www", 80)])
def test_parse_range_service_names(name: str, port: int) -> None:
    r = ports.parse_range(name)
    assert (r.first, r.last, r.service) == (port, port, name.lower())


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "empty"), ("65536", "out of range"), ("1-70000", "out of range"),
     ("1024-1", "backwards"), ("abc$", "not a port"), ("no-such-service-xyz", "service name"),
     ("1-2-3", "not a port"), ("-5", "not a port"), ("99999999999", "not a port")],
)
def test_parse_range_errors_are_one_sentence(text: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        ports.parse_range(text)
    message = str(info.value)
    assert words in message and "\n" not in message


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_parse_range_any_text_gives_a_range_or_input_error(text: str) -> None:
    try:
        r = ports.parse_range(text)
    except InputError as exc:
        assert str(exc)
    else:
        assert 0 <= r.first <= r.last <= 65535


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 65535), st.integers(0, 65535))
def test_parse_range_round_trips_numbers(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    r = ports.parse_range(f"{lo}-{hi}")
    assert (r.first, r.last) == (lo, hi)


# -- classes, services, privileges, ephemeral range -------------------------------------


@pytest.mark.parametrize(
    ("port", "klass"),
    [(0, "well-known"), (1023, "well-known"), (1024, "registered"), (49151, "registered"),
     (49152, "dynamic"), (65535, "dynamic")],
)
def test_range_class_boundaries(port: int, klass: str) -> None:
    assert ports.range_class(port) == klass


def test_range_class_refuses_out_of_range() -> None:
    with pytest.raises(InputError):
        ports.range_class(65536)


@needs_services
def test_service_names_20_to_25_come_from_the_system() -> None:
    names = {p: ports.service_names(p)[0] for p in range(20, 26)}
    assert names[20] == "ftp-data" and names[21] == "ftp"
    assert names[22] == "ssh" and names[23] == "telnet" and names[25] == "smtp"
    for port in range(20, 26):  # the parsed file agrees with the C library
        try:
            expected = socket.getservbyport(port, "tcp")
        except OSError:
            expected = None
        assert ports.service_names(port)[0] == expected


def test_read_services_first_entry_wins_and_aliases_resolve(tmp_path: Path) -> None:
    f = tmp_path / "services"
    f.write_text("# comment\nweb 8080/tcp www-alt  # a web port\nother 8080/tcp\n"
                 "dns 53/udp domain\nbroken x/tcp\n\nhuge 70000/tcp\n")
    table = ports.read_services(str(f))
    assert table is not None
    assert table.tcp == {8080: "web"} and table.udp == {53: "dns"}
    assert table.by_name[("www-alt", "tcp")] == 8080
    assert table.by_name[("domain", "udp")] == 53
    assert ports.read_services(str(tmp_path / "missing")) is None


def test_privileged_boundary_follows_the_kernel_setting() -> None:
    start = ports.unprivileged_port_start()
    path = Path(ports.UNPRIVILEGED_PORT_START)
    if path.exists():
        assert start == int(path.read_text().split()[0])
    assert not ports.is_privileged(0)  # port 0: the kernel picks an ephemeral port
    if start > 1:
        assert ports.is_privileged(start - 1)
    assert not ports.is_privileged(start)


def test_privileged_bind_really_behaves_as_reported() -> None:
    """Bind a privileged port for real: allowed iff bind_privilege() says so."""
    if ports.unprivileged_port_start() <= 1:
        pytest.skip("this kernel lets anyone bind every port")
    port = next(p for p in range(ports.unprivileged_port_start() - 1, 0, -1)
                if ports.probe(p) in (ports.FREE, ports.NO_PERMISSION))
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            allowed = True
        except PermissionError:
            allowed = False
    assert allowed == (ports.bind_privilege() is not None)


def test_ephemeral_range_is_the_os_range() -> None:
    eph = ports.ephemeral_range()
    path = Path(ports.LOCAL_PORT_RANGE)
    if path.exists():
        assert (eph.first, eph.last) == tuple(int(x) for x in path.read_text().split())
    else:
        assert (eph.first, eph.last) == ports.IANA_EPHEMERAL
    with socket.socket() as s:  # bind(port 0) draws from that range
        s.bind(("127.0.0.1", 0))
        assert s.getsockname()[1] in eph


def test_port_infos_covers_all_65536() -> None:
    infos = ports.port_infos(range(65536))
    assert len(infos) == 65536
    assert infos[80] == ports.port_info(80)
    assert infos[50000].range_class == "dynamic"
    assert infos[ports.ephemeral_range().first].ephemeral


def test_listening_reads_the_kernel_tables() -> None:
    """/proc/net says what listens here: our listener, then nothing once closed,
    and a bound UDP socket counts for udp only."""
    with listener() as port:
        if ports.listening(port) is None:
            pytest.skip("no /proc/net tables on this system")
        assert ports.listening(port) is True
        assert ports.listening(port, "udp") is False
    assert ports.listening(port) is False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        bound = udp.getsockname()[1]
        assert ports.listening(bound, "udp") is True
        assert ports.listening(bound) is False


# -- describe_port ----------------------------------------------------------------------


def test_describe_port_free_registered_port() -> None:
    port = ports.find_free_port(start=30000)
    line = ports.describe_port(port)
    assert line.startswith("registered · ")
    assert " · free" in line
    assert ("ephemeral" in line) == (port in ports.ephemeral_range())


def test_describe_port_sees_a_listener_and_its_ephemeral_range() -> None:
    with listener() as port:  # kernel-chosen: inside the ephemeral range
        line = ports.describe_port(port)
    assert "listening" in line
    assert f"ephemeral {ports.ephemeral_range()}" in line
    assert ports.range_class(port) in line


@needs_services
def test_describe_port_well_known_and_privileged() -> None:
    line = ports.describe_port(80, check=False)
    assert line.startswith("well-known · http")
    assert "privileged" in line
    assert "listening" not in line and "free" not in line


def test_describe_port_zero_and_bad_ports() -> None:
    assert "kernel picks" in ports.describe_port(0)
    with pytest.raises(InputError):
        ports.describe_port(70000)


# -- the lecture's table ------------------------------------------------------------------


def test_common_ports_are_the_corrected_lecture_table() -> None:
    by_port = {c.port: c for c in ports.COMMON_PORTS}
    assert set(by_port) == {20, 21, 23, 25, 70, 80, 110, 119, 443}
    assert "control" in by_port[21].name and "ftplib" in by_port[21].modules
    assert "active" in by_port[20].use
    assert "Usenet" in by_port[119].use and "3.13" in by_port[119].modules
    assert "3.13" in by_port[23].modules
    assert "2.6" in by_port[70].modules
    assert "ssl" in by_port[443].modules and "http.client" in by_port[80].modules
    assert "smtplib" in by_port[25].modules and "poplib" in by_port[110].modules


@needs_services
def test_common_ports_match_the_services_database() -> None:
    expected = {20: "ftp-data", 21: "ftp", 23: "telnet", 25: "smtp", 70: "gopher",
                80: "http", 110: "pop3", 119: "nntp", 443: "https"}
    for port, name in expected.items():
        assert ports.service_names(port)[0] == name


# -- scan: loopback only ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.1", "::ffff:127.0.0.1",
                                  "localhost"])
def test_scan_host_accepts_loopback_spellings(host: str) -> None:
    family, address = ports.resolve_scan_host(host)
    assert family == socket.AF_INET and address.startswith("127.")


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "0", "8.8.8.8", "10.1.2.3",
                                  "192.168.0.1", "2001:db8::1", "name.invalid", "a b",
                                  "[::1]"])
def test_scan_refuses_anything_but_this_machine(host: str) -> None:
    with pytest.raises(InputError) as info:
        ports.scan(host, [80])
    assert "this machine only" in str(info.value)


def test_scan_finds_a_listener_and_nothing_that_is_not_there() -> None:
    with listener() as port:
        lo, hi = max(1, port - 20), min(65535, port + 20)
        result = ports.scan("127.0.0.1", range(lo, hi + 1))
        assert port in result.listening
        assert result.status(port) == ports.LISTENING
        # Every other reported listener is real: a fresh connect agrees.
        assert result.listening == naive_scan("127.0.0.1", result.listening)
    after = ports.scan("127.0.0.1", [port])
    assert after.listening == [] and after.scanned == 1


def test_scan_in_parallel_matches_the_sequential_connect_loop() -> None:
    with listener() as a, listener() as b:
        wanted = sorted({a, b} | set(range(min(a, b), min(a, b) + 5000)))
        wanted = [p for p in wanted if p <= 65535]
        parallel = ports.scan("127.0.0.1", wanted, threads=2)
        naive = naive_scan("127.0.0.1", wanted)
        assert parallel.threads == 2
        assert {a, b} <= set(parallel.listening)
        assert {a, b} <= set(naive)
        # Listeners opened or closed by other programs in between may differ;
        # ours, found by both, must not.
        assert set(parallel.listening) & {a, b} == set(naive) & {a, b}


def test_scan_reports_a_bound_socket_that_is_not_listening_as_in_use() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = ports.scan("127.0.0.1", [port])
    assert result.status(port) == ports.IN_USE
    assert result.listening == []
    assert ports.scan("127.0.0.1", [port]).status(port) == ports.FREE


def test_scan_sees_a_listener_whose_accept_queue_is_full() -> None:
    with listener(backlog=0) as port, socket.socket() as first:
        first.settimeout(5)
        first.connect(("127.0.0.1", port))  # backlog 0 still queues one connection
        assert ports.probe(port) in (ports.QUEUE_FULL, ports.LISTENING)
        result = ports.scan("127.0.0.1", [port])
        assert port in result.listening


def test_a_socket_can_connect_to_itself_and_the_scan_knows_it() -> None:
    """TCP simultaneous open, provoked deterministically: bind the source
    port to the destination port.  No listener exists, yet connect succeeds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError as exc:  # a kernel that refuses self-connects
            assert exc.errno in (errno.ECONNREFUSED, errno.EINVAL)
            pytest.skip(f"this kernel does not self-connect: {exc}")
        assert ports.connected_to_itself(s)
    with listener() as real, socket.socket() as c:
        c.connect(("127.0.0.1", real))
        assert not ports.connected_to_itself(c)


def test_full_range_scan_finds_our_listener() -> None:
    with listener() as port:
        result = ports.scan("127.0.0.1", range(1, 65536))
    assert result.scanned == 65535
    assert port in result.listening
    assert "65535 ports" in result.summary()


def test_the_kernel_table_lists_bound_listening_and_time_wait_ports() -> None:
    """A port held by a bound-only socket, a listener, or a connection that went
    to TIME_WAIT is in the kernel's table, so a default scan probes it."""
    with listener() as listening, socket.socket() as bound, socket.socket() as client:
        bound.bind(("127.0.0.1", 0))
        client.connect(("127.0.0.1", listening))
        client_port = client.getsockname()[1]
        client.close()  # the side that closes first waits in TIME_WAIT
        occupied = occupied_ports(socket.AF_INET, "127.0.0.1")
        if occupied is None:
            pytest.skip("this kernel's table does not list bound-only sockets")
        assert {listening, bound.getsockname()[1], client_port} <= occupied


def test_the_default_scan_matches_a_probe_of_every_port() -> None:
    """The table-driven scan and the per-port probe agree port for port."""
    with listener() as a, socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        b = bound.getsockname()[1]
        wanted = sorted({a, b} | set(range(max(1, a - 50), min(65535, a + 50))))
        table = ports.scan("127.0.0.1", wanted)
        each = ports.scan("127.0.0.1", wanted, threads=1)
        assert table.status(a) == each.status(a) == ports.LISTENING
        assert table.status(b) == each.status(b) == ports.IN_USE
        # Other programs may open or close ports meanwhile; ours agree, and
        # nothing is reported that a second per-port probe does not confirm.
        for port in set(table.states) ^ set(each.states):
            assert ports.probe(port) in (table.status(port), each.status(port))


def test_scan_ipv6_loopback(ipv6: str) -> None:
    with listener(ipv6) as port:
        result = ports.scan(ipv6, range(max(1, port - 3), min(65535, port + 3) + 1))
    assert port in result.listening and result.family == socket.AF_INET6


@pytest.mark.benchmark
def test_benchmark_full_range_scan_vs_sequential_connect_loop() -> None:
    with listener() as port:
        t = time.perf_counter()
        naive = naive_scan("127.0.0.1", range(1, 65536))
        naive_s = time.perf_counter() - t
        result = ports.scan("127.0.0.1", range(1, 65536))
        single = ports.scan("127.0.0.1", range(1, 65536), threads=1)
    print(f"\nsequential connect_ex loop: {naive_s:.3f} s, found {naive}")
    print(f"ports.scan ({result.threads} threads): {result.seconds:.3f} s, "
          f"found {result.listening}")
    print(f"ports.scan (1 thread): {single.seconds:.3f} s, found {single.listening}")
    assert port in naive and port in result.listening
    assert result.seconds <= naive_s


# -- find_free_port -------------------------------------------------------------------


def test_find_free_port_from_the_kernel_binds() -> None:
    port = ports.find_free_port()
    assert port in ports.ephemeral_range()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_find_free_port_searches_upward_past_a_taken_port() -> None:
    with listener() as taken:
        found = ports.find_free_port(start=taken)
        assert found > taken
        with socket.socket() as s:
            s.bind(("127.0.0.1", found))


def test_find_free_port_ipv6(ipv6: str) -> None:
    port = ports.find_free_port(ipv6)
    with socket.socket(socket.AF_INET6) as s:
        s.bind((ipv6, port))


def test_find_free_port_bad_host_is_input_error() -> None:
    with pytest.raises(InputError):
        ports.find_free_port("192.0.2.1", start=40000)  # TEST-NET: not this machine


# -- the ports command -----------------------------------------------------------------


@needs_services
def test_cli_ports_20_25_names_services_and_class() -> None:
    run = socklab("ports", "20-25")
    assert run.returncode == 0, run.stderr
    for name in ("ftp-data", "ftp", "ssh", "telnet", "smtp"):
        assert name in run.stdout
    rows = [ln for ln in run.stdout.splitlines() if ln.split()[:1] and ln.split()[0].isdigit()]
    assert [int(r.split()[0]) for r in rows] == list(range(20, 26))
    assert all(r.split()[1] == "well-known" for r in rows)


def test_cli_ports_dynamic_range() -> None:
    run = socklab("ports", "49152-49160")
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stdout.splitlines() if ln.strip()[:5].isdigit()]
    assert len(lines) == 9 and all("dynamic" in ln for ln in lines)


def test_cli_ports_default_is_the_lecture_table() -> None:
    run = socklab("ports")
    assert run.returncode == 0, run.stderr
    for word in ("ftplib", "Usenet", "smtplib", "poplib", "gopherlib", "3.13", "http.client"):
        assert word in run.stdout


def test_cli_ports_scan_finds_a_listener_another_program_opened() -> None:
    code = ("import socket,sys\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen()\n"
            "print(s.getsockname()[1],flush=True);sys.stdin.read();s.close()")
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        port = int(other.stdout.readline())
        lo, hi = max(1, port - 10), min(65535, port + 10)
        run = socklab("ports", f"{lo}-{hi}", "--scan", "--json")
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        listening = [r["port"] for r in rows if r.get("state") == "listening"]
        assert port in listening
        assert set(listening) <= set(naive_scan("127.0.0.1", listening))
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(LIMIT)
        other.stdout.close()  # type: ignore[union-attr]
    run = socklab("ports", str(port), "--scan", "--json")
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["state"] for r in rows if r["port"] == port] != ["listening"]


def test_cli_ports_scan_human_output_shows_totals() -> None:
    with listener() as port:
        run = socklab("ports", f"{port}-{min(65535, port + 3)}", "--scan")
    assert run.returncode == 0, run.stderr
    assert "listening" in run.stdout and "scanned" in run.stdout


@pytest.mark.parametrize("host", ["0.0.0.0", "8.8.8.8", "", "::"])
def test_cli_ports_scan_refuses_other_hosts(host: str) -> None:
    run = socklab("ports", "1-10", "--scan", "--host", host)
    assert run.returncode == 2
    assert "this machine only" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize("bad", ["70000", "abc$", "10-1", "nosuchservicexyz"])
def test_cli_ports_bad_range_is_exit_2(bad: str) -> None:
    run = socklab("ports", bad)
    assert run.returncode == 2
    assert run.stderr.startswith("socklab: error:") and "Traceback" not in run.stderr


def test_cli_ports_imports_no_textual_or_rich() -> None:
    code = ("import sys; from socklab.cli import main; main(['ports', '20-25']); "
            "print('UI', any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=LIMIT, env={**os.environ})
    assert run.returncode == 0, run.stderr
    assert "UI False" in run.stdout


# -- the Ports view (Pilot) -------------------------------------------------------------


@dataclass
class PortsScreen:
    """The Ports view alone in an app styled by the lab's stylesheet, its
    table filled, and the free ports it announced."""

    app: Any
    pilot: Any
    view: Any
    table: Any
    found: list[int]

    async def settle(self) -> None:
        """Wait (bounded) for the view's workers to hand their rows to the table."""
        for _ in range(400):
            await self.app.workers.wait_for_complete()
            await self.pilot.pause()
            if not self.view.rows_pending:
                return
        pytest.fail("the ports table did not fill in time")


@asynccontextmanager
async def ports_screen() -> AsyncIterator[PortsScreen]:
    from textual.app import App, ComposeResult

    import socklab.ui.app
    from socklab.ui.app import SocklabApp
    from socklab.ui.ports_table import PortsTable
    from socklab.ui.ports_view import PortsView

    found: list[int] = []

    class PortsApp(App[None]):
        # The lab's one stylesheet, as in the lab (its theme variables with it).
        CSS_PATH = Path(socklab.ui.app.__file__).with_name(str(SocklabApp.CSS_PATH))
        get_theme_variable_defaults = SocklabApp.get_theme_variable_defaults

        def compose(self) -> ComposeResult:
            yield PortsView("20-25")

        def on_ports_view_free_port_found(self, message: PortsView.FreePortFound) -> None:
            found.append(message.port)

    app = PortsApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(PortsView)
        screen = PortsScreen(app, pilot, view, view.query_one("#ports-table", PortsTable), found)
        await screen.settle()
        yield screen


def _lines(table: object) -> list[str]:
    """The table's lines as drawn now (only the visible ones exist)."""
    height = table.scrollable_content_region.height  # type: ignore[attr-defined]
    return [table.render_line(y).text for y in range(height)]  # type: ignore[attr-defined]


async def test_ports_view_lists_a_range_and_flags_bad_input() -> None:
    from textual.widgets import DataTable, Input, Static

    async with ports_screen() as screen:
        pilot, view, table = screen.pilot, screen.view, screen.table
        assert table.row_count == 6
        assert table.column("port") == [str(p) for p in range(20, 26)]
        if HAVE_SERVICES:
            assert table.column("tcp")[:4] == ["ftp-data", "ftp", "ssh", "telnet"]
        ssh = ports.port_info(22)  # this machine's names and privilege boundary
        assert table.row_cells(2) == ("22", "well-known", ssh.tcp or "", ssh.udp or "",
                                      "yes" if ssh.privileged else "", "", "")
        assert set(table.column("class")) == {"well-known"}
        assert set(table.column("listening")) == {""}  # no scan yet
        lines = _lines(table)
        assert lines[0].split()[:3] == ["port", "class", "tcp"]
        assert lines[1].split()[:2] == ["20", "well-known"]
        common = view.query_one("#ports-common-table", DataTable)
        assert common.row_count == len(ports.COMMON_PORTS)

        field = view.query_one("#ports-range", Input)
        field.value = "abc$"
        await pilot.press("enter")
        await screen.settle()
        assert field.has_class("-invalid")
        status = view.query_one("#ports-status", Static)
        assert "not a port" in str(status.render()) and status.has_class("-error")
        assert table.row_count == 6  # the last good table stays

        field.value = "49152-49160"
        await pilot.press("enter")
        await screen.settle()
        assert not field.has_class("-invalid")
        assert set(table.column("class")) == {"dynamic"} and table.row_count == 9
        assert table.column("port") == [str(p) for p in range(49152, 49161)]


async def test_ports_view_full_range_lists_every_port_and_renders_the_end() -> None:
    from textual.widgets import Input

    async with ports_screen() as screen:
        pilot, view, table = screen.pilot, screen.view, screen.table
        view.query_one("#ports-range", Input).value = "0-65535"
        await pilot.press("enter")
        await screen.settle()
        assert table.row_count == 65536
        assert table.row_cells(0)[:2] == ("0", "well-known")
        assert table.row_cells(65535)[:2] == ("65535", "dynamic")
        assert table.row_cells(40000)[:2] == ("40000", "registered")
        assert table.virtual_size.height == 65536 + 1  # the header line, then the rows

        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 65535 and table.scroll_y == table.max_scroll_y > 0
        lines = _lines(table)
        assert lines[0].split()[:2] == ["port", "class"]  # the header stays put
        assert lines[-1].split()[:2] == ["65535", "dynamic"]
        assert lines[-2].split()[:2] == ["65534", "dynamic"]

        await pilot.press("pageup")
        await pilot.press("up")
        await pilot.pause()
        page = table.scrollable_content_region.height - 1
        assert table.cursor == 65535 - page - 1
        assert any(line.split()[:1] == [str(table.cursor)] for line in _lines(table)[1:])

        await pilot.press("home")
        await pilot.press("pagedown", "down")
        await pilot.pause()
        assert table.cursor == page + 1
        assert _lines(table)[-1].split()[:1] == [str(page + 1)]


async def test_ports_view_scan_finds_our_listener_and_free_port() -> None:
    from textual.widgets import Input

    async with ports_screen() as screen:
        pilot, view, table, found = screen.pilot, screen.view, screen.table, screen.found

        with listener() as port:
            lo, hi = max(1, port - 5), min(65535, port + 5)
            view.query_one("#ports-range", Input).value = f"{lo}-{hi}"
            await pilot.click("#ports-scan")
            await screen.settle()
            assert view.result is not None
        assert table.row_count == hi - lo + 1
        assert table.column("port") == [str(p) for p in range(lo, hi + 1)]
        rows = dict(zip(table.column("port"), table.column("listening"), strict=True))
        assert rows[str(port)] == "listening"
        assert all(v in {"listening", "queue full", "in use", "no permission", "free"}
                   for v in rows.values())
        line = next(ln for ln in _lines(table)[1:] if ln.split()[:1] == [str(port)])
        assert line.split()[-1] == "listening"

        # Showing the range again forgets the scan; scanning it updates in place.
        await pilot.click("#ports-show")
        await screen.settle()
        assert table.row_count == hi - lo + 1 and set(table.column("listening")) == {""}

        await pilot.click("#ports-free")
        await screen.settle()  # the kernel is asked in a thread, awaited by a worker
        assert len(found) == 1
        with socket.socket() as s:
            s.bind(("127.0.0.1", found[0]))
