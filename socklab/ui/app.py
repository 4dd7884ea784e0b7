"""The lab screen: server pane and client pane side by side, one live log below.

This module is wiring only.  The panes make the calls (in thread workers),
the engine reports each call as an event, and the event bus hands every event
to `_sink`, which only appends it to a deque (it runs under the bus lock, on
any thread, so it must never block).  A 20 Hz timer drains the deque in one
batch into the `EventLog` and refreshes the panes' state.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer, Header, Input, Select, TabbedContent, TabPane

from ..engine import Lab
from ..events import Event
from .client_pane import ClientPane
from .code_view import CodeView
from .event_log import EventLog
from .numbers import RealNumbers
from .port_info import PortInfo
from .ports_view import PortsView
from .server_pane import ServerPane

#: How often queued events are moved into the log (a batch per tick).
DRAIN_INTERVAL = 1 / 20
#: Events moved into the log per tick at most, so a storm of calls never
#: makes one tick long; a burst bigger than this is shown over a few ticks.
DRAIN_MAX = 500
#: Events kept waiting for the log.  A storm that outruns it (the engine
#: coalesces data floods, so only a storm of distinct calls gets here) keeps
#: its newest events and counts the rest as not shown: memory stays bounded.
INBOX_MAX = 20_000

PROJECTOR = Theme(
    name="projector",
    primary="#00d7ff",
    secondary="#ffd700",
    accent="#ffd700",
    warning="#ffd700",
    error="#ff5f5f",
    success="#5fff5f",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    boost="#303030",
    dark=True,
    variables={
        "server-color": "#ffaf00",
        "client-color": "#00ffff",
        "footer-key-foreground": "#ffd700",
        "input-selection-background": "#00d7ff 40%",
    },
)


class SocklabApp(App[int]):
    """socklab's lab: real socket calls, one ordered live log."""

    CSS_PATH = "socklab.tcss"
    #: Start on the server's Run button: Enter runs it, and letter keys (x, s)
    #: reach the app's bindings instead of a field.
    AUTO_FOCUS = "#server-run"
    TITLE = "socklab"
    SUB_TITLE = "real sockets, one live log"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = [
        Binding("f5", "run_server", "Run server"),
        Binding("f6", "run_client", "Run client"),
        Binding("x", "hex", "Hex"),
        Binding("s", "save_log(False)", "Save"),
        Binding("j", "save_log(True)", "Save JSONL", show=False),
        Binding("l", "focus_log", "Log", show=False),
        Binding("ctrl+r", "reset", "Reset"),
        Binding("f8", "toggle_projector", "Projector"),
    ]

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        numbers: RealNumbers | None = None,
        save_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.lab = Lab(clock=clock)
        self.numbers = numbers or RealNumbers()
        self.save_dir = save_dir
        self._inbox: deque[Event] = deque(maxlen=INBOX_MAX)
        self._last_seq = 0
        #: Events a storm pushed out of the inbox before the log could show them.
        self.skipped = 0
        self._unsubscribe = self.lab.subscribe(self._sink)
        self._previous_theme = "textual-dark"
        self.register_theme(PROJECTOR)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {"server-color": "#ff9f43", "client-color": "#48c9ff"}

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Lab", id="lab"):
                with Horizontal(id="panes"):
                    yield ServerPane(self.lab, id="server")
                    yield ClientPane(self.lab, id="client")
                yield EventLog(id="log")
            with TabPane("Code", id="code"):
                yield CodeView(id="code-view")
            with TabPane("Ports", id="ports"):
                yield PortsView(id="ports-view")
        yield Footer()

    def on_mount(self) -> None:
        for pane in (self.server_pane, self.client_pane):
            pane.numbers = self.numbers
        log = self.event_log
        log.border_title = "Event log"
        log.border_subtitle = "↑↓ select · x hex · s save"
        self.set_interval(DRAIN_INTERVAL, self._drain)
        # What exists once the screen is up lives as long as the app: keep it
        # out of the cyclic collector's full passes, which otherwise stall the
        # UI under a storm of events (PERF-NOTES: up to 1.4 s).
        self.call_after_refresh(gc.freeze)
        self._update_code()

    @property
    def server_pane(self) -> ServerPane:
        return self.query_one("#server", ServerPane)

    @property
    def client_pane(self) -> ClientPane:
        return self.query_one("#client", ClientPane)

    @property
    def event_log(self) -> EventLog:
        return self.query_one("#log", EventLog)

    # -- events from the engine ----------------------------------------------

    def _sink(self, event: Event) -> None:
        """Called under the bus lock from any thread: only queue the event."""
        self._inbox.append(event)

    def _drain(self) -> None:
        """Move every queued event into the log in one batch."""
        inbox = self._inbox
        if not inbox:
            return
        try:
            log, server, client = self.event_log, self.server_pane, self.client_pane
        except NoMatches:
            return  # the app is closing: its widgets are gone, but the timer may fire once more
        batch = [inbox.popleft() for _ in range(min(len(inbox), DRAIN_MAX))]
        # seq is one global order: a gap means the bounded inbox let events go.
        gap = batch[0].seq - self._last_seq - 1
        self._last_seq = batch[-1].seq
        if gap > 0:
            self.skipped += gap
            log.border_title = f"Event log · {self.skipped:,} not shown (storm of calls)"
        shown = [self.numbers.event(event) for event in batch]
        log.add_events(shown)
        server.refresh_state()
        client.refresh_state()
        if gap > 0 or any(event.op in ("bind", "listen", "close") and event.ok
                          for event in batch):
            for info in self.query(PortInfo):
                info.recheck()

    def drain_now(self) -> None:
        """Drain without waiting for the timer (tests and screenshots)."""
        self._drain()

    def on_server_pane_bound(self, message: ServerPane.Bound) -> None:
        """Let the client follow the server's port while it still points at it."""
        client = self.client_pane
        client_port = client.input("port").value.strip()
        requested = str(self.numbers.port(message.requested))
        # Follow while the learner has not typed a port of their own: the field
        # still holds its default, the port the server asked for, or the port a
        # previous bind gave.
        if client_port in (requested, self.server_pane.last_bound, client.auto_port):
            client.set_port(message.port)
            client.auto_port = client.input("port").value
        self.server_pane.last_bound = str(self.numbers.port(message.port))

    def on_input_changed(self, message: Input.Changed) -> None:
        self._update_code()

    def on_select_changed(self, message: Select.Changed) -> None:
        self._update_code()

    def _update_code(self) -> None:
        """Keep the Code tab's programs in step with the panes' fields."""
        server, client = self.server_pane, self.client_pane
        common = ("family", "kind", "host", "port")
        try:
            settings = {
                pane.SIDE: {
                    "family": pane.family,
                    "kind": pane.kind,
                    "host": pane.input("host").value,
                    "port": pane.input("port").value,
                }
                for pane in (server, client)
            }
            settings["server"]["backlog"] = server.input("backlog").value
            settings["server"]["mode"] = server.mode
            self.query_one("#code-view", CodeView).update_settings(
                settings["server"], {k: settings["client"][k] for k in common})
        except Exception as exc:  # the code view must never take the lab down
            self.log.warning(f"code view not updated: {exc}")

    def on_ports_view_free_port_found(self, message: PortsView.FreePortFound) -> None:
        """"Find a free port" on the Ports tab fills the server's port field."""
        self.server_pane.input("port").value = str(message.port)
        self.notify(f"Port {message.port} was free: it is in the server's port field",
                    markup=False)

    # -- actions -------------------------------------------------------------

    def action_run_server(self) -> None:
        self.server_pane.press("run")

    def action_run_client(self) -> None:
        self.client_pane.press("run")

    def action_hex(self) -> None:
        if not self.event_log.toggle_hex():
            self.notify("No event with bytes to show: select one in the log (↑/↓)",
                        severity="warning", markup=False)

    def action_save_log(self, json_lines: bool) -> None:
        directory = self.save_dir or Path.cwd()
        try:
            path = self.event_log.save(directory, json_lines)
        except OSError as exc:
            self.notify(f"Could not save the log: {exc}", severity="error", markup=False)
            return
        self.notify(f"Log saved to {path}", title="Saved", markup=False)

    def action_focus_log(self) -> None:
        self.event_log.focus()

    def action_toggle_projector(self) -> None:
        if self.theme == "projector":
            self.theme = self._previous_theme
        else:
            self._previous_theme = self.theme
            self.theme = "projector"

    async def action_reset(self) -> None:
        """Close every socket and stop every server thread; keep the log."""
        open_before = self.lab.open_sockets
        await asyncio.to_thread(self.lab.reset)
        self.server_pane.after_reset()
        self.client_pane.after_reset()
        self._drain()
        self.notify(f"Reset: closed {open_before} socket(s); the log is kept", markup=False)

    async def action_quit(self) -> None:
        await asyncio.to_thread(self.lab.close_all)
        self.exit(0)

    def on_unmount(self) -> None:
        self._unsubscribe()
        self.lab.close_all()

    # -- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        server, client = self.server_pane, self.client_pane
        yield SystemCommand("Run server", "socket, bind, listen, then serve (mode)",
                            self.action_run_server)
        yield SystemCommand("Run client", "socket, connect, send, recv until EOF, close",
                            self.action_run_client)
        for pane in (server, client):
            for suffix, label in pane.CALLS:
                if suffix == "run":
                    continue
                yield SystemCommand(
                    f"{pane.TITLE}: {pane.label_for(suffix, label)}",
                    f"make the {pane.SIDE}'s {suffix.replace('-', ' ')} call",
                    lambda p=pane, s=suffix: p.press(s),
                    discover=False,
                )
        yield SystemCommand("Reset the lab", "close every socket (the log is kept)",
                            self.action_reset)
        yield SystemCommand("Save log as text", "socklab-log-<time>.txt here",
                            lambda: self.action_save_log(False))
        yield SystemCommand("Save log as JSON Lines", "socklab-log-<time>.jsonl here",
                            lambda: self.action_save_log(True))
        yield SystemCommand("Toggle hex view", "show the selected event's bytes in hex",
                            self.action_hex)
        yield SystemCommand("Projector theme", "high-contrast theme for a classroom",
                            self.action_toggle_projector)


def run_app(theme: str | None = None) -> int:
    """Open the lab; returns the exit status."""
    app = SocklabApp()
    if theme is not None:
        if theme not in app.available_themes:
            names = ", ".join(sorted(app.available_themes))
            print(f"socklab: error: unknown theme {theme!r}; choose one of: {names}",
                  file=sys.stderr)
            return 2
        app.theme = theme
    result = app.run()
    return result if isinstance(result, int) else 0
