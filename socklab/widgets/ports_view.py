"""The Ports screen: type a range, see what each port means on this machine.

A table of port, IANA class, TCP/UDP service names, privileges and the OS's
ephemeral range (from `socklab.ports`); Scan fills in what listens here
(loopback only, in a thread worker); "Find a free port" asks the kernel and
posts `PortsView.FreePortFound` for the lab's port field; below, the
lecture's table of common ports, corrected.

The full range (65,536 rows) stays smooth: the rows are computed off the UI
thread and handed to the DataTable in one ``add_rows`` call, and DataTable
only renders the rows on screen.  Bad input is flagged in place, never raised.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, DataTable, Input, Select, Static

from .. import ports
from ..inputs import InputError

COLUMNS = ("port", "class", "tcp", "udp", "privileged", "ephemeral", "listening")
COMMON_COLUMNS = ("port", "protocol", "Python library", "use")
DEFAULT_RANGE = "1-1024"
HOSTS = [("127.0.0.1", "127.0.0.1"), ("::1", "::1")]
Row = tuple[object, ...]


#: (column, fixed width): fixed widths mean DataTable never needs a cell's width.
COLUMN_WIDTHS = {"port": 5, "class": 10, "tcp": 12, "udp": 12, "privileged": 4,
                 "ephemeral": 4, "listening": 13}
#: Short headers, so the whole table fits an 80-column terminal.
COLUMN_LABELS = {"privileged": "priv", "ephemeral": "eph"}
#: A scan's findings as the listening column says them (13 columns at most).
STATE_LABELS = {ports.LISTENING: "listening", ports.QUEUE_FULL: "queue full",
                ports.IN_USE: "in use", ports.NO_PERMISSION: "no permission",
                ports.FREE: "free"}
#: Rows handed to the DataTable per refresh (~0.2 s of UI time each, measured).
CHUNK_ROWS = 4096
#: Ranges up to this many ports list every port (49152-65535 is 16,384 rows and
#: fills in ~0.9 s, the screen never stalling more than ~0.2 s).  Bigger ranges
#: list the ports with a service name or a listener: DataTable's own per-row
#: work grows with its size, and all 65,536 rows took 3–7 s with stalls of up to
#: 1.5 s, for rows that are almost all blank.
FULL_LIST_UP_TO = 16384


class Cell:
    """One plain-text table cell: never markup, and never measured.

    DataTable measures every new cell (Rich's measure asks the console for its
    size each time); with 65,536 rows × 7 columns that froze the UI for 4–11 s.
    The columns have fixed widths, so a cell with no ``__rich_measure__`` is
    both correct and ~3× cheaper.  Text is cropped to the column.
    """

    __slots__ = ("text",)

    def __init__(self, text: object) -> None:
        self.text = str(text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.text)


def notable(infos: list[ports.PortInfo],
            result: ports.ScanResult | None = None) -> list[ports.PortInfo]:
    """The rows worth showing from a big range: a service name, or a listener."""
    found = set(result.listening) if result is not None else set()
    return [i for i in infos if i.tcp or i.udp or i.port in found]


def table_rows(infos: list[ports.PortInfo], result: ports.ScanResult | None = None) -> list[Row]:
    """The DataTable rows for these ports."""
    def status(port: int) -> str:
        return STATE_LABELS.get(result.status(port), "") if result is not None else ""

    return [
        (Cell(i.port), Cell(i.range_class), Cell(i.tcp or ""), Cell(i.udp or ""),
         Cell("yes" if i.privileged else ""), Cell("yes" if i.ephemeral else ""),
         Cell(status(i.port) if i.port else ""))
        for i in infos
    ]


class PortsView(Widget):
    """Port ranges, service names, and what listens on this machine."""

    DEFAULT_CSS = """
    PortsView {
        height: 1fr;
        layout: vertical;
    }
    PortsView #ports-bar {
        height: auto;
    }
    PortsView #ports-range {
        width: 1fr;
        min-width: 16;
    }
    PortsView #ports-host {
        width: 18;
    }
    PortsView #ports-bar Button {
        margin: 0 0 0 1;
        min-width: 8;
    }
    PortsView #ports-status {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    PortsView #ports-status.-error {
        color: $error;
        text-style: bold;
    }
    PortsView #ports-table {
        height: 1fr;
    }
    PortsView #ports-common {
        height: auto;
        max-height: 16;
    }
    PortsView #ports-common DataTable {
        height: auto;
        max-height: 12;
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
        #: rows computed but not yet in the table (the table fills in chunks)
        self.rows_pending = 0
        self._generation = 0

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
        yield Static("", id="ports-status", markup=False)
        table: DataTable[object] = DataTable(id="ports-table", cursor_type="row",
                                             zebra_stripes=True)
        yield table
        tall = self.app.size.height >= 40  # room for both tables: open it
        with Collapsible(title="The lecture's common ports, corrected", id="ports-common",
                         collapsed=not tall):
            yield DataTable(id="ports-common-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#ports-table", DataTable)
        for column in COLUMNS:
            table.add_column(COLUMN_LABELS.get(column, column), key=column,
                             width=COLUMN_WIDTHS[column])
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
        self._set_status(f"{len(parsed)} port{'s' if len(parsed) != 1 else ''} …")
        self._load(parsed)

    @work(thread=True, exclusive=True, group="ports-load", exit_on_error=False)
    def _load(self, port_range: ports.PortRange) -> None:
        infos = ports.port_infos(port_range)
        shown = infos if len(infos) <= FULL_LIST_UP_TO else notable(infos)
        self.app.call_from_thread(self._fill, port_range, shown, table_rows(shown), None)

    def _fill(self, port_range: ports.PortRange, infos: list[ports.PortInfo],
              rows: list[Row], result: ports.ScanResult | None) -> None:
        if port_range != self.port_range:
            return  # a newer range was asked for meanwhile
        self.infos = infos
        self._generation += 1
        self.rows_pending = len(rows)
        self.query_one("#ports-table", DataTable).clear()
        eph = ports.ephemeral_range()
        line = (f"{port_range}: {len(port_range)} port{'s' if len(port_range) != 1 else ''}"
                f" · ephemeral range here {eph} · privileged below "
                f"{ports.unprivileged_port_start()}")
        if result is not None:
            line = f"{result.summary()} · ephemeral range here {eph}"
        if len(rows) < len(port_range):
            line += (f" · showing the {len(rows)} with a service name or a listener "
                     f"(ranges up to {FULL_LIST_UP_TO} ports list every port)")
        self._add_chunk(self._generation, rows, 0, line)

    def _add_chunk(self, generation: int, rows: list[Row], start: int, line: str) -> None:
        """Add the next CHUNK_ROWS rows, then yield to the screen before the rest."""
        if generation != self._generation or not self.is_mounted:
            return  # a newer range replaced this one
        table = self.query_one("#ports-table", DataTable)
        table.add_rows(rows[start:start + CHUNK_ROWS])
        done = min(len(rows), start + CHUNK_ROWS)
        self.rows_pending = len(rows) - done
        if self.rows_pending:
            self._set_status(f"listing {done} of {len(rows)} ports …")
            self.call_after_refresh(self._add_chunk, generation, rows, done, line)
        else:
            self._set_status(line)

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

    @work(thread=True, exclusive=True, group="ports-scan", exit_on_error=False)
    def _scan(self, port_range: ports.PortRange, host: str) -> None:
        try:
            result = ports.scan(host, port_range)
            infos = ports.port_infos(port_range)
            if len(infos) > FULL_LIST_UP_TO:
                infos = notable(infos, result)
            rows = table_rows(infos, result)
        except (InputError, OSError) as exc:
            self.app.call_from_thread(self._scan_failed, str(exc))
            return
        self.app.call_from_thread(self._scanned, port_range, infos, rows, result)

    def _scanned(self, port_range: ports.PortRange, infos: list[ports.PortInfo],
                 rows: list[Row], result: ports.ScanResult) -> None:
        self.query_one("#ports-scan", Button).disabled = False
        self.result = result
        self._fill(port_range, infos, rows, result)
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
