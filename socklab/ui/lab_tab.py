"""The Lab tab: the two panes, the Cable bar and the event log, one above the other.

The panes are as tall as their fields, buttons and socket rows, and the log
takes what is left.  On a short screen with a lesson open (80×24: the drawer
takes 9 rows), the panes' rows once took all of it: a server listening with a
connection or two, and in two-hosts mode the Cable bar, left the log 0 rows,
and the log is where each call lands.  `LabTab` caps each pane at the tab's
height less the log's minimum and the Cable bar's row (when it is shown), so
the log always keeps its rows; a pane taller than that scrolls, kept on its
buttons (the fields above them are a scroll, a Tab, or F2's fold away).
"""

from __future__ import annotations

from textual import events
from textual.css.scalar import Unit
from textual.widgets import TabPane

from .cable_bar import CableBar
from .endpoint_pane import EndpointPane
from .event_log import EventLog

#: The fewest rows a pane is given, whatever the screen (its border and buttons).
PANE_FLOOR = 4


class LabTab(TabPane):
    """The Lab tab, keeping the event log's rows on any screen."""

    def on_resize(self, event: events.Resize) -> None:
        self.fit_panes()

    def on_cable_bar_toggled(self, message: CableBar.Toggled) -> None:
        self.fit_panes()

    def fit_panes(self) -> None:
        """Cap each pane so the log keeps its minimum height (and the Cable bar its row)."""
        log = self.query_one(EventLog)
        minimum = log.styles.min_height
        log_rows = int(minimum.value) if minimum is not None and minimum.unit == Unit.CELLS else 0
        cable_rows = 1 if self.query_one(CableBar).display else 0  # one row: Horizontal
        budget = max(PANE_FLOOR, self.size.height - log_rows - cable_rows)
        for pane in self.query(EndpointPane):
            if pane.styles.max_height is None or pane.styles.max_height.value != budget:
                pane.styles.max_height = budget
                self.call_after_refresh(pane.keep_buttons_in_view)
