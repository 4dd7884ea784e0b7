"""The Ports screen's port table: a virtual, Line-API table for up to 65,536 rows.

Why not ``DataTable``: with the full range (65,536 rows) one ``add_rows`` took
over a second and measuring cell widths froze the screen for seconds.  Here
the rows are a plain list of tuples (built in one pass from
`socklab.ports.port_infos`), the columns have fixed widths, and only the
lines on screen are ever turned into a `Strip` (``render_line``), so the cost
of a frame does not depend on how many rows there are.

Line 0 of the widget is the column header, always drawn whatever the vertical
scroll; row ``i`` is drawn at line ``i - scroll_y + 1``.  The virtual height is
therefore ``rows + 1``.

Scan findings live in a dict ``port -> label``; a scan updates the
"listening" column in place (one refresh, no rebuild).

Safety: every cell is a plain string in a `Segment` (never markup), and
service names from ``/etc/services`` are stripped of unprintable characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.segment import Segment
from textual import events
from textual.geometry import Size
from textual.strip import Strip

from .. import ports
from .row_cursor import RowCursor

COLUMNS = ("port", "class", "tcp", "udp", "privileged", "ephemeral", "listening")
#: (column, fixed width): the table never measures a cell.
COLUMN_WIDTHS = {"port": 5, "class": 10, "tcp": 12, "udp": 12, "privileged": 4,
                 "ephemeral": 4, "listening": 13}
#: Short headers, so the whole table fits an 80-column terminal.
COLUMN_LABELS = {"privileged": "priv", "ephemeral": "eph"}
#: Between two columns.
GAP = "  "
#: Left margin of every line.
MARGIN = " "

#: One row: port, range class, tcp name, udp name, privileged, ephemeral.
PortRow = tuple[int, str, str, str, str, str]


def build_rows(infos: Iterable[ports.PortInfo]) -> list[PortRow]:
    """The table's rows, in one pass (the listening column is kept apart)."""
    return [(i.port, i.range_class, i.tcp or "", i.udp or "",
             "yes" if i.privileged else "", "yes" if i.ephemeral else "")
            for i in infos]


def _plain(text: str) -> str:
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def _fit(text: str, width: int) -> str:
    text = _plain(text)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


LINE_WIDTH = len(MARGIN) + sum(COLUMN_WIDTHS.values()) + len(GAP) * (len(COLUMNS) - 1) + 1
HEADER = MARGIN + GAP.join(_fit(COLUMN_LABELS.get(c, c), COLUMN_WIDTHS[c])
                           for c in COLUMNS) + " "


class PortsTable(RowCursor, can_focus=True):
    """Every port of a range, one line each; only the visible lines are drawn.

    ↑/↓ PgUp/PgDn Home/End move the highlighted row; the wheel scrolls.
    """

    COMPONENT_CLASSES = {"ports-table--header", "ports-table--cursor",
                         "ports-table--odd"}

    HEADER_LINES = 1

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: list[PortRow] = []
        #: port -> the listening column's text (a scan's findings)
        self.findings: dict[int, str] = {}
        #: what ports absent from ``findings`` say (e.g. "free" after a scan)
        self.default_finding = ""
        #: the ports the findings cover (others show nothing)
        self.scanned: ports.PortRange | None = None
        #: the highlighted row (an index into ``rows``)
        self.cursor: int | None = 0

    # -- data -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list[PortRow]) -> None:
        """Show these rows (and forget any findings): one size update, one refresh."""
        self.rows = rows
        self.findings = {}
        self.default_finding = ""
        self.scanned = None
        self.cursor = 0
        self.virtual_size = Size(LINE_WIDTH, len(rows) + 1)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def set_findings(self, findings: Mapping[int, str], scanned: ports.PortRange,
                     default: str = "") -> None:
        """Fill the listening column in place (ports in ``scanned`` and not in
        ``findings`` show ``default``)."""
        self.findings = dict(findings)
        self.scanned = scanned
        self.default_finding = default
        self.refresh()

    def finding(self, port: int) -> str:
        found = self.findings.get(port)
        if found is not None:
            return found
        if port and self.scanned is not None and port in self.scanned:
            return self.default_finding
        return ""

    def row_cells(self, index: int) -> tuple[str, ...]:
        """Row ``index`` as the table shows it, one string per column (uncropped)."""
        port, klass, tcp, udp, priv, eph = self.rows[index]
        return (str(port), klass, tcp, udp, priv, eph, self.finding(port))

    def column(self, name: str) -> list[str]:
        """Every row's cell in one column."""
        at = COLUMNS.index(name)
        if at == 0:
            return [str(row[0]) for row in self.rows]
        if at < 6:
            return [str(row[at]) for row in self.rows]
        return [self.finding(row[0]) for row in self.rows]

    def line_text(self, index: int) -> str:
        """Row ``index`` as one line of plain text (fixed-width columns)."""
        cells = self.row_cells(index)
        return MARGIN + GAP.join(_fit(cell, COLUMN_WIDTHS[column])
                                 for column, cell in zip(COLUMNS, cells, strict=True)) + " "

    # -- cursor and scrolling ----------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1 or not self.rows:
            return
        index = int(self.scroll_y) + offset.y - 1
        if index < len(self.rows):
            self.move_cursor(index)

    # -- rendering ------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            text = HEADER
            style = base + self.get_component_rich_style("ports-table--header")
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            text = self.line_text(index)
            if index == self.cursor:
                style = base + self.get_component_rich_style("ports-table--cursor")
            elif index % 2:
                style = base + self.get_component_rich_style("ports-table--odd")
            else:
                style = base
        return Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, style)
