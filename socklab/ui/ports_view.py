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
"""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, DataTable, Input, Select, Static

from .. import ports
from ..inputs import InputError
from .ports_table import PortRow, PortsTable, build_rows

COMMON_COLUMNS = ("port", "protocol", "Python library", "use")
DEFAULT_RANGE = "1-1024"
HOSTS = [("127.0.0.1", "127.0.0.1"), ("::1", "::1")]

#: A scan's findings as the listening column says them (13 columns at most).
STATE_LABELS = {ports.LISTENING: "listening", ports.QUEUE_FULL: "queue full",
                ports.IN_USE: "in use", ports.NO_PERMISSION: "no permission",
                ports.FREE: "free"}


#: A range's facts and the table's rows for them.
Listed = tuple[list[ports.PortInfo], list[PortRow]]


def _listed(port_range: ports.PortRange) -> Listed:
    """The facts and rows of a range (off the UI thread: 65,536 rows take a while)."""
    infos = ports.port_infos(port_range)
    return infos, build_rows(infos)


def _scan_and_list(port_range: ports.PortRange, host: str,
                   relist: bool) -> tuple[ports.ScanResult, Listed | None]:
    """Scan a range (blocking: run in a thread), and list it if it is not listed."""
    result = ports.scan(host, port_range)
    return result, (_listed(port_range) if relist else None)


def findings(result: ports.ScanResult) -> dict[int, str]:
    """A scan's findings for the listening column (free ports are left out)."""
    return {port: STATE_LABELS.get(state, state) for port, state in result.states.items()}


class PortsView(Widget):
    """Port ranges, service names, and what listens on this machine."""

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
        self.port_range: ports.PortRange | None = None
        self.infos: list[ports.PortInfo] = []
        self.result: ports.ScanResult | None = None
        #: ports asked for but not yet in the table (computed in a worker)
        self.rows_pending = 0
        #: the range the table lists now
        self.shown_range: ports.PortRange | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="ports-bar"):
            yield Input(self.initial_range, placeholder="RANGE: 80, 1-1024, http",
                        id="ports-range", tooltip="a port, a range, or a service name")
            yield Select(HOSTS, value="127.0.0.1", allow_blank=False, id="ports-host",
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
        self.show_range(self.initial_range)

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

    # -- scan ----------------------------------------------------------------------

    @on(Button.Pressed, "#ports-scan")
    def _scan_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.scan()

    def scan(self) -> None:
        """Scan the current range on the chosen loopback address (in a worker)."""
        parsed = self._parse(self.query_one("#ports-range", Input).value)
        if parsed is None:
            return
        self.port_range = parsed
        host = str(self.query_one("#ports-host", Select).value)
        self.query_one("#ports-scan", Button).disabled = True
        self._set_status(f"scanning {parsed} on {host} …")
        self._scan(parsed, host)

    @work(exclusive=True, group="ports-scan", exit_on_error=False)
    async def _scan(self, port_range: ports.PortRange, host: str) -> None:
        # The scan runs in a thread; its result comes back here, on the UI
        # thread, so the widgets are only ever touched from this worker.
        relist = port_range != self.shown_range  # another range than the one listed
        try:
            result, listed = await asyncio.to_thread(_scan_and_list, port_range, host, relist)
        except (InputError, OSError) as exc:
            self._scan_failed(str(exc))
            return
        self._scanned(port_range, listed, result)

    def _scanned(self, port_range: ports.PortRange, listed: Listed | None,
                 result: ports.ScanResult) -> None:
        if not self.is_mounted:
            return
        self.query_one("#ports-scan", Button).disabled = False
        if listed is not None:
            self.port_range = port_range
            self._fill(port_range, *listed)
        self.result = result
        if port_range == self.shown_range:
            self.query_one("#ports-table", PortsTable).set_findings(
                findings(result), port_range, STATE_LABELS[ports.FREE])
        self._set_status(f"{result.summary()} · ephemeral range here "
                         f"{ports.ephemeral_range()}")
        self.post_message(self.Scanned(result))

    def _scan_failed(self, message: str) -> None:
        self.query_one("#ports-scan", Button).disabled = False
        self._set_status(f"scan failed: {message}", error=True)

    # -- find a free port --------------------------------------------------------------

    @on(Button.Pressed, "#ports-free")
    def _free_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.find_free_port()

    def find_free_port(self) -> int | None:
        """Ask the kernel for a free port and post `FreePortFound`."""
        host = str(self.query_one("#ports-host", Select).value)
        try:
            port = ports.find_free_port(host)
        except (InputError, OSError) as exc:
            self._set_status(f"no free port: {exc}", error=True)
            return None
        self._set_status(f"port {port} is free on {host} (the kernel chose it): "
                         f"{ports.describe_port(port, check=False)}")
        self.post_message(self.FreePortFound(port))
        return port
