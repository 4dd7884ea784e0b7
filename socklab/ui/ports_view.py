"""The Ports screen: type a range, see what each port means on this machine.

A table of port, IANA class, TCP/UDP service names, privileges and the OS's
ephemeral range (from `socklab.ports`); Scan fills in what listens here
(loopback only, in a thread awaited by an async worker, so results reach
the widgets on the UI thread); "Find a free port" asks the kernel and
posts `PortsView.FreePortFound` for the lab's port field; below, the
lecture's table of common ports, corrected.

The full range (65,536 rows) stays smooth: the rows are computed off the UI
thread in one pass and handed to `PortsTable`, a Line-API ``ScrollView`` that
only renders the lines on screen (see `socklab.ui.ports_table`); a scan
fills its listening column in place.  Bad input is flagged in place, never
raised.

In two-hosts mode (`set_hosts`, from ``ui/two_hosts.py``) a From choice
appears: scan from this machine, or from inside host A or host B (a thread
that entered its namespace, `socklab.hosts.netns.run_on`), at that host's
own loopback, its cable address, or the other host's across the cable: a
server bound to 127.0.0.1 on A listens from A, not from B at 192.168.0.1.
"""

from __future__ import annotations

import asyncio
from functools import partial

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, DataTable, Input, Select, Static

from .. import ports
from ..hosts import HOSTS
from ..hosts.netns import run_on
from ..inputs import InputError
from .ports_table import PortRow, PortsTable, build_rows

COMMON_COLUMNS = ("port", "protocol", "Python library", "use")
DEFAULT_RANGE = "1-1024"
LOOPBACKS = [("127.0.0.1", "127.0.0.1"), ("::1", "::1")]
#: The From choice (two-hosts mode): this machine, or inside one of the hosts.
HERE = "here"
ORIGINS = [("this machine", HERE)] + [(f"host {h.letter} {h.address}", h.letter)
                                      for h in HOSTS]
#: Bounds the wait for a scan inside a host (65,536 ports across the cable: ~2 s).
SCAN_TIMEOUT = 120.0

#: A scan's findings as the listening column says them (13 columns at most).
STATE_LABELS = {ports.LISTENING: "listening", ports.QUEUE_FULL: "queue full",
                ports.IN_USE: "in use", ports.NO_PERMISSION: "no permission",
                ports.FREE: "free", ports.REFUSED: "refused"}


#: A range's facts and the table's rows for them.
Listed = tuple[list[ports.PortInfo], list[PortRow]]


def _listed(port_range: ports.PortRange) -> Listed:
    """The facts and rows of a range (off the UI thread: 65,536 rows take a while)."""
    infos = ports.port_infos(port_range)
    return infos, build_rows(infos)


def _scan_and_list(port_range: ports.PortRange, host: str, relist: bool, across_cable: bool
                   ) -> tuple[ports.ScanResult, Listed | None, ports.EphemeralRange]:
    """Scan a range (blocking: run in a thread, inside a host in two-hosts mode), list
    it if it is not listed, and read the ephemeral range of where it ran."""
    result = ports.scan(host, port_range, across_cable=across_cable)
    return result, (_listed(port_range) if relist else None), ports.ephemeral_range()


def addresses_from(origin: str) -> list[tuple[str, str]]:
    """The addresses a scan from ``origin`` may aim at: loopback, and from a host
    its own cable address, then the other host's across the cable."""
    if origin == HERE:
        return LOOPBACKS
    host = next(h for h in HOSTS if h.letter == origin)
    others = [h.address for h in HOSTS if h is not host]
    return LOOPBACKS + [(a, a) for a in (host.address, *others)]


def addresses_line(origin: str) -> str:
    """What 127.0.0.1 means from ``origin``, and where the other host is (beside the
    From choice; one line even at 80 columns)."""
    if origin == HERE:
        return "127.0.0.1 is this machine's, neither host's"
    host = next(h for h in HOSTS if h.letter == origin)
    other = next(h for h in HOSTS if h is not host)
    return f"127.0.0.1 is {host.letter}'s own · {other.letter} is {other.address}"


def findings(result: ports.ScanResult) -> dict[int, str]:
    """A scan's findings for the listening column (free ports are left out)."""
    return {port: STATE_LABELS.get(state, state) for port, state in result.states.items()}


class PortsView(Widget):
    """Port ranges, service names, and what listens on this machine (or, in
    two-hosts mode, on one of the hosts)."""

    DEFAULT_CSS = """
    PortsView {
        height: 1fr;
        layout: vertical;
    }
    PortsView #ports-table {
        height: 1fr;
    }
    """

    class FreePortFound(Message):
        """A port that was free to bind a moment ago (the kernel chose it)."""

        def __init__(self, port: int) -> None:
            super().__init__()
            self.port = port

    class Scanned(Message):
        """A scan finished; ``result`` has every finding."""

        def __init__(self, result: ports.ScanResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, initial_range: str = DEFAULT_RANGE, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.initial_range = initial_range
        #: Two-hosts mode: the namespaces of hosts A and B (None: one machine).
        self.hosts_names: dict[str, str] | None = None
        #: The addresses the address choice offers now.
        self.offered = [value for _label, value in LOOPBACKS]
        self.port_range: ports.PortRange | None = None
        self.infos: list[ports.PortInfo] = []
        self.result: ports.ScanResult | None = None
        #: ports asked for but not yet in the table (computed in a worker; -1: the
        #: first range, listed once the first frame is painted)
        self.rows_pending = 0
        #: the range the table lists now
        self.shown_range: ports.PortRange | None = None

    def compose(self) -> ComposeResult:
        # Two hosts only (one machine: there is only here): one line above the bar.
        with Horizontal(id="ports-from-bar") as where:
            where.display = False
            yield Static("scan from", id="ports-from-label", markup=False)
            # Disabled while hidden: the screen's first focus must stay on the range.
            yield Select(ORIGINS, value=HERE, allow_blank=False, id="ports-from", compact=True,
                         disabled=True,
                         tooltip="where the scan runs: this machine, or inside a host")
            yield Static(addresses_line(HERE), id="ports-from-hint", markup=False)
        with Horizontal(id="ports-bar"):
            yield Input(self.initial_range, placeholder="RANGE: 80, 1-1024, http",
                        id="ports-range", tooltip="a port, a range, or a service name")
            yield Select(LOOPBACKS, value="127.0.0.1", allow_blank=False, id="ports-host",
                         tooltip="scan this machine only, over loopback")
            yield Button("Show", id="ports-show")
            yield Button("Scan", id="ports-scan", variant="primary")
            yield Button("Free port", id="ports-free",
                         tooltip="find a free port and hand it to the lab")
        yield Static("", id="ports-status", classes="status", markup=False)
        yield PortsTable(id="ports-table")
        tall = self.app.size.height >= 40  # room for both tables: open it
        with Collapsible(title="The lecture's common ports, corrected", id="ports-common",
                         collapsed=not tall):
            yield DataTable(id="ports-common-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        common = self.query_one("#ports-common-table", DataTable)
        for column in COMMON_COLUMNS:
            common.add_column(column, key=column)
        common.add_rows((c.port, c.protocol, c.modules, c.use) for c in ports.COMMON_PORTS)
        # Listing the range (a thread, then a table fill) is not for the first
        # frame: the tab is hidden then (start-up, issue 24).  Pending meanwhile.
        self.rows_pending = -1
        self.call_after_refresh(self.show_range, self.initial_range)

    # -- the range ---------------------------------------------------------------

    def _set_status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#ports-status", Static)
        status.update(message)
        status.set_class(error, "-error")

    def _parse(self, text: str) -> ports.PortRange | None:
        field = self.query_one("#ports-range", Input)
        try:
            parsed = ports.parse_range(text)
        except InputError as exc:
            field.add_class("-invalid")
            self._set_status(str(exc), error=True)
            return None
        field.remove_class("-invalid")
        return parsed

    @on(Input.Changed, "#ports-range")
    def _range_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._parse(event.value) is not None:
            self._set_status("Enter or Show lists it; Scan checks what listens here")

    @on(Input.Submitted, "#ports-range")
    @on(Button.Pressed, "#ports-show")
    def _show_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        self.show_range(self.query_one("#ports-range", Input).value)

    def show_range(self, text: str) -> None:
        """List a range (no scan).  Bad text is flagged, and the table is kept."""
        parsed = self._parse(text)
        if parsed is None:
            return
        self.port_range = parsed
        self.result = None
        self.rows_pending = len(parsed)
        self._set_status(f"{len(parsed)} port{'s' if len(parsed) != 1 else ''} …")
        self._load(parsed)

    @work(exclusive=True, group="ports-load", exit_on_error=False)
    async def _load(self, port_range: ports.PortRange) -> None:
        infos, rows = await asyncio.to_thread(_listed, port_range)
        self._fill(port_range, infos, rows)

    def _fill(self, port_range: ports.PortRange, infos: list[ports.PortInfo],
              rows: list[PortRow]) -> None:
        if port_range != self.port_range or not self.is_mounted:
            return  # a newer range was asked for meanwhile
        self.infos = infos
        self.shown_range = port_range
        self.rows_pending = 0
        self.query_one("#ports-table", PortsTable).set_rows(rows)
        self._set_status(self._range_line(port_range))

    def _range_line(self, port_range: ports.PortRange) -> str:
        return (f"{port_range}: {len(port_range)} port{'s' if len(port_range) != 1 else ''}"
                f" · ephemeral range here {ports.ephemeral_range()} · privileged below "
                f"{ports.unprivileged_port_start()}")

    # -- where from (two-hosts mode) ------------------------------------------------

    def set_hosts(self, names: dict[str, str] | None) -> None:
        """Two-hosts mode on (the namespaces of hosts A and B) or off (None): the
        From choice appears or goes, and scans start from this machine again."""
        self.hosts_names = names
        self.query_one("#ports-from-bar").display = names is not None
        self.set_class(names is not None, "-hosts")
        chooser = self.query_one("#ports-from", Select)
        chooser.disabled = names is None
        chooser.value = HERE
        self._offer_addresses(HERE)

    def _origin(self) -> str:
        """HERE, or the letter of the host the scan runs from."""
        if self.hosts_names is None:
            return HERE
        return str(self.query_one("#ports-from", Select).value)

    def _namespace(self, origin: str) -> str | None:
        """The network namespace a scan from ``origin`` runs in (None: this machine's)."""
        return None if self.hosts_names is None or origin == HERE else self.hosts_names[origin]

    def _where(self, origin: str) -> str:
        """"host B", "this machine" (two hosts), or "" (one machine: nothing to say)."""
        if self.hosts_names is None:
            return ""
        return "this machine" if origin == HERE else f"host {origin}"

    @on(Select.Changed, "#ports-from")
    def _from_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._offer_addresses(self._origin())

    def _offer_addresses(self, origin: str) -> None:
        """The address choice for ``origin``, keeping the chosen one when it is offered."""
        field = self.query_one("#ports-host", Select)
        chosen, offered = field.value, addresses_from(origin)
        self.offered = [value for _label, value in offered]
        self.query_one("#ports-from-hint", Static).update(addresses_line(origin))
        field.set_options(offered)
        field.value = chosen if any(chosen == value for _label, value in offered) \
            else offered[0][1]
        field.tooltip = ("scan this machine only, over loopback" if origin == HERE else
                         f"an address as host {origin} sees it: its own, or across the cable")

    # -- scan ----------------------------------------------------------------------

    @on(Button.Pressed, "#ports-scan")
    def _scan_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.scan()

    def scan(self) -> None:
        """Scan the current range at the chosen address, from the chosen host (in a worker)."""
        parsed = self._parse(self.query_one("#ports-range", Input).value)
        if parsed is None:
            return
        self.port_range = parsed
        host, origin = str(self.query_one("#ports-host", Select).value), self._origin()
        where = self._where(origin)
        self.query_one("#ports-scan", Button).disabled = True
        self._set_status(f"scanning {parsed} on {host}{' from ' + where if where else ''} …")
        self._scan(parsed, host, origin)

    @work(exclusive=True, group="ports-scan", exit_on_error=False)
    async def _scan(self, port_range: ports.PortRange, host: str, origin: str) -> None:
        # The scan runs in a thread (inside the host's namespace, from a host);
        # its result comes back here, on the UI thread, so the widgets are
        # only ever touched from this worker.
        relist = port_range != self.shown_range  # another range than the one listed
        namespace = self._namespace(origin)
        job = partial(_scan_and_list, port_range, host, relist, namespace is not None)
        try:
            result, listed, ephemeral = await asyncio.to_thread(run_on, namespace, job,
                                                                SCAN_TIMEOUT)
        except (InputError, OSError) as exc:
            self._scan_failed(str(exc))
            return
        result.origin = self._where(origin)
        self._scanned(port_range, listed, result, ephemeral)

    def _scanned(self, port_range: ports.PortRange, listed: Listed | None,
                 result: ports.ScanResult, ephemeral: ports.EphemeralRange) -> None:
        if not self.is_mounted:
            return
        self.query_one("#ports-scan", Button).disabled = False
        if listed is not None:
            self.port_range = port_range
            self._fill(port_range, *listed)
        self.result = result
        if port_range == self.shown_range:
            self.query_one("#ports-table", PortsTable).set_findings(
                findings(result), port_range,
                STATE_LABELS[ports.REFUSED if result.remote else ports.FREE])
        # Another host's ports are not in this host's ephemeral range's business.
        inside = result.origin not in ("", "this machine")
        there = f"{result.origin}'s ephemeral range" if inside else "ephemeral range here"
        self._set_status(result.summary() if result.remote else
                         f"{result.summary()} · {there} {ephemeral}")
        self.post_message(self.Scanned(result))

    def _scan_failed(self, message: str) -> None:
        self.query_one("#ports-scan", Button).disabled = False
        self._set_status(f"scan failed: {message}", error=True)

    # -- find a free port --------------------------------------------------------------

    @on(Button.Pressed, "#ports-free")
    def _free_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.find_free_port()

    def find_free_port(self) -> None:
        """Ask the kernel for a free port, on the chosen host (in a worker); posts
        `FreePortFound`."""
        host, origin = str(self.query_one("#ports-host", Select).value), self._origin()
        owner = next((h for h in HOSTS if h.address == host), None)
        if origin != HERE and owner is not None and owner.letter != origin:
            self._set_status(f"no free port: a free port is found by binding, and {host} is "
                             f"host {owner.letter}'s address, not host {origin}'s: choose "
                             f"From host {owner.letter}", error=True)
            return
        self._find_free(host, origin)

    @work(exclusive=True, group="ports-free", exit_on_error=False)
    async def _find_free(self, host: str, origin: str) -> None:
        job = partial(ports.find_free_port, host)
        try:
            port = await asyncio.to_thread(run_on, self._namespace(origin), job)
        except (InputError, OSError) as exc:
            self._set_status(f"no free port: {exc}", error=True)
            return
        where = {"": "", "this machine": " on this machine"}.get(
            self._where(origin), f" inside host {origin}")
        self._set_status(f"port {port} is free on {host}{where} (the kernel chose it): "
                         f"{ports.describe_port(port, check=False)}")
        self.post_message(self.FreePortFound(port))
