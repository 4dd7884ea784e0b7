"""The lab screen: server pane and client pane side by side, one live log below.

This module is wiring only.  A pane's button becomes a request to the
`LabSession`, which makes the real calls on the lab's threads.  Every call is
an event on the lab's bus; the `Bridge` (the one place those threads meet the
screen) batches them, spools all of them for saving, and publishes each batch
to the subscribers wired here: the log, the view-state model the panes show,
the port-info rechecks and the client's port following the server's.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    Footer,
    Header,
    Input,
    Select,
    TabbedContent,
    TabPane,
)

from ..capture import Capture, Inferred, watch_packets
from ..engine import Lab
from ..guard import follow_web_server
from ..guided import Lesson
from ..hosts.cable_lab import set_cable
from ..labcalls import Request
from ..session import LabSession
from ..viewstate import BoundPort, ViewState
from .bridge import Batch, Bridge, Coalesced
from .cable_bar import CableBar
from .client_pane import ClientPane
from .code_view import CodeView
from .event_log import EventLog
from .first_frame import (
    first_frame_painted,
    hold_collection,
    presized_screen,
    release_collection,
)
from .guarded import StopAndReport, run_guarded
from .http_view import HttpView
from .lesson_host import LessonHost
from .lesson_panel import LessonPanel
from .numbers import RealNumbers
from .palette import TwoHostsMode, lab_commands
from .payload_view import PayloadView
from .port_info import PortInfo
from .ports_view import PortsView
from .server_pane import ServerPane
from .textual_fixes import install as install_textual_fixes
from .themes import DEFAULT_VARIABLES, PROJECTOR
from .wire_view import WireActions, WireView

#: Calls whose success can change what listens on a port (port info looks again).
_PORT_CHANGES = frozenset({"bind", "listen", "close"})

class SocklabApp(StopAndReport, LessonHost, TwoHostsMode, WireActions, App[int]):
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
        # A lesson's Back and Next: first, so a narrow footer still shows them
        # (only while a lesson is open: LessonHost.check_action).
        Binding("f9", "lesson_back", "Back", priority=True),
        Binding("f10", "lesson_next", "Next", priority=True),
        Binding("f5", "run_server", "Run server"),
        Binding("f6", "run_client", "Run client"),
        Binding("x", "hex", "Hex"),
        Binding("s", "save_log(False)", "Save"),
        Binding("j", "save_log(True)", "Save JSONL", show=False),
        Binding("l", "focus_log", "Log", show=False),
        Binding("ctrl+r", "reset", "Reset"),
        Binding("f8", "toggle_projector", "Projector"),
        Binding("p", "toggle_packets", "Packets"),
        Binding("ctrl+l", "clear_log", "Clear log", show=False),
        Binding("d", "detail", "Detail"),
        Binding("f2", "toggle_fields", "Fields", show=False),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("ctrl+e", "export_code", "Export code", show=False),
    ]

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        numbers: RealNumbers | None = None,
        save_dir: Path | None = None,
        packets: bool = False,
    ) -> None:
        super().__init__()
        #: Capture the lab's segments (the log's packet rows, the Wire tab).
        self.packets = packets
        self._wire: asyncio.Future[Capture | Inferred] | None = None
        self.numbers = numbers or RealNumbers()
        self.save_dir = save_dir
        self.bridge = Bridge(self)
        self.session = LabSession(
            clock, tell=lambda message: self.bridge.tell(message, severity="error"))
        self._unsubscribe = self.session.subscribe(self.bridge.sink)
        self.view_state = ViewState()
        #: The server's bound port the client's port field last followed.
        self._followed: BoundPort | None = None
        self._changed: set[str] = set()
        self._pane_refresh = Coalesced(self, self._refresh_panes)
        self._port_recheck = Coalesced(self, self._recheck_port_info)
        self._previous_theme = "textual-dark"
        self.register_theme(PROJECTOR)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(DEFAULT_VARIABLES)

    def get_default_screen(self) -> Screen[object]:
        return presized_screen(self)  # styled once, not again on the first resize

    def on_load(self) -> None:
        hold_collection()  # no cyclic collection until the first frame

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Lab", id="lab"):
                with Horizontal(id="panes"):
                    yield ServerPane(self._ask, self.view_state, id="server")
                    yield ClientPane(self._ask, self.view_state, id="client")
                yield CableBar(lambda conditions: set_cable(self.lab, conditions),
                               self.cable_at_start, id="cable-bar")
                yield EventLog(id="log")
            with TabPane("Code", id="code"):
                yield CodeView(id="code-view")
            with TabPane("Ports", id="ports"):
                yield PortsView(id="ports-view")
            with TabPane("Wire", id="wire"):
                yield WireView(id="wire-view")
            with TabPane("HTTP", id="http"):
                yield HttpView(id="http-view")
        yield LessonPanel(id="lesson-panel")
        yield Footer()

    def on_mount(self) -> None:
        for pane in (self.server_pane, self.client_pane):
            pane.numbers = self.numbers
        log = self.event_log
        log.border_title = "Event log"
        log.border_subtitle = "↑↓ select · d detail · x hex · s save · F2 fields"
        for subscriber in (self._show_in_log, self._show_in_panes, self._recheck_ports):
            self.bridge.subscribe(subscriber)
        self.bridge.subscribe(self._show_on_wire)
        if self.packets:  # opening the capture socket: off the UI thread
            self._wire = asyncio.get_running_loop().run_in_executor(None, watch_packets,
                                                                   self.lab)
            self._wire.add_done_callback(self._wire_started)
        self.bridge.start()
        # What exists once the screen is up lives as long as the app: keep it
        # out of the cyclic collector's full passes, which otherwise stall the
        # UI under a storm of events (PERF-NOTES: up to 1.4 s).
        self.call_after_refresh(first_frame_painted)
        self._update_code()
        self.stop_if_signalled()

    @property
    def server_pane(self) -> ServerPane:
        return self.query_one("#server", ServerPane)

    @property
    def client_pane(self) -> ClientPane:
        return self.query_one("#client", ClientPane)

    @property
    def event_log(self) -> EventLog:
        return self.query_one("#log", EventLog)

    @property
    def lab(self) -> Lab:
        """The session's lab (tests subscribe to it and count its open sockets)."""
        return self.session.lab

    def _ask(self, request: Request) -> None:
        """Hand a pane's request to the session.  A worker waits (off the UI
        thread) until its calls end, so ``app.workers.wait_for_complete()``
        means what it always did: the calls pressed so far have returned."""
        pending = self.session.request(request)
        self.run_worker(pending.wait, thread=True, group="calls", exit_on_error=False,
                        name=f"{request.side} {request.call}")

    @property
    def skipped(self) -> int:
        """Events a storm kept from the log (saving still writes them)."""
        return self.bridge.skipped

    # -- the bridge's subscribers ---------------------------------------------

    def _show_in_log(self, batch: Batch) -> None:
        try:
            log = self.event_log
        except NoMatches:
            return  # the app is closing: its widgets are gone
        if batch.gap:
            log.border_title = f"Event log · {batch.skipped:,} not shown (storm of calls)"
        log.add_events([self.numbers.event(event) for event in batch.events])

    def _show_in_panes(self, batch: Batch) -> None:
        changed = self.view_state.apply(batch.events)
        for event in batch.events:
            if event.peer_conn is not None and event.op == "accept":
                self._pair(event.conn, event.peer_conn)
                changed = changed | {"server", "client"}
        if changed:
            self._changed |= changed
            self._pane_refresh.ask()

    def _pair(self, server_conn: int | None, client_conn: int) -> None:
        """server[k] ⇄ client[n]: each pane names the other's socket."""
        if server_conn is None:
            return
        self.server_pane.pairs[str(server_conn)] = client_conn
        self.client_pane.pairs[str(client_conn)] = server_conn
        for pane in (self.server_pane, self.client_pane):
            pane.view.sides[pane.SIDE].version += 1  # the rows say something new

    def _refresh_panes(self) -> None:
        changed, self._changed = self._changed, set()
        if "server" in changed:
            changed.add("client")  # the client's Run is lit once a server is up
        try:
            panes = {"server": self.server_pane, "client": self.client_pane}
        except NoMatches:
            return  # the app is closing: its widgets are gone
        for side in changed:
            panes[side].refresh_state()
        bound = self.view_state.bound
        if bound is not None and bound is not self._followed:
            previous, self._followed = self._followed, bound
            self._follow_server_port(bound, previous)

    def _recheck_ports(self, batch: Batch) -> None:
        if batch.gap or any(event.op in _PORT_CHANGES and event.ok and event.phase == "done"
                            for event in batch.events):
            self._port_recheck.ask()

    def _recheck_port_info(self) -> None:
        for info in self.query(PortInfo):
            info.recheck()

    def _follow_server_port(self, bound: BoundPort, previous: BoundPort | None) -> None:
        """Let the client follow the server's port while it still points at it."""
        client = self.client_pane
        client_port = client.input("port").value.strip()
        # Follow while the learner has not typed a port of their own: the field
        # still holds its default, the port the server asked for, or the port a
        # previous bind gave.
        pointing = {str(self.numbers.port(bound.requested)), client.auto_port}
        if previous is not None:
            pointing.add(str(self.numbers.port(previous.port)))
        if client_port in pointing:
            client.set_port(bound.port)
            client.auto_port = client.input("port").value

    def drain_now(self) -> None:
        """Publish everything that has arrived, and show it, without waiting for timers."""
        self.bridge.flush()
        self._pane_refresh.run_now()
        self._port_recheck.run_now()

    def on_input_changed(self, message: Input.Changed) -> None:
        self._update_code()

    def on_select_changed(self, message: Select.Changed) -> None:
        self._update_code()

    def on_checkbox_changed(self, message: Checkbox.Changed) -> None:
        self._update_code()

    def _update_code(self) -> None:
        """Keep the Code tab's programs in step with the panes' fields and options."""
        try:
            settings = {pane.SIDE: pane.code_settings()
                        for pane in (self.server_pane, self.client_pane)}
            settings["server"]["backlog"] = self.server_pane.input("backlog").value
            settings["server"]["mode"] = self.server_pane.mode
            self.query_one("#code-view", CodeView).update_settings(
                settings["server"], settings["client"])
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
        """Save every event of the session (not only those in view), in a worker."""
        self.bridge.save(self.save_dir or Path.cwd(), json_lines)

    def action_focus_log(self) -> None:
        self.event_log.focus()

    def action_toggle_projector(self) -> None:
        if self.theme == "projector":
            self.theme = self._previous_theme
        else:
            self._previous_theme = self.theme
            self.theme = "projector"

    def action_detail(self) -> None:
        """The selected event's whole payload (or the newest with bytes): text, repr, hex."""
        log = self.event_log
        buffer = log.buffer
        index = log.cursor if log.cursor is not None else buffer.last_with_payload()
        event = buffer.rows[buffer.event_index(index)].event if index is not None else None
        if event is None or not event.raw:
            self.notify("No event with bytes to show: select a send or recv (↑/↓)",
                        severity="warning", markup=False)
            return
        self.push_screen(PayloadView(event))

    def action_clear_log(self) -> None:
        """Empty the log view; the session is kept (saving still writes every event)."""
        self.event_log.clear()
        self.notify("Log cleared (s / j still save the whole session)", markup=False)

    def action_toggle_fields(self) -> None:
        """Fold the panes' fields away (buttons and sockets stay): the log gets the room."""
        panes = self.query_one("#panes")
        panes.set_class(not panes.has_class("-folded"), "-folded")

    def action_leave_field(self) -> None:
        """Esc in a text field: back to the pane's Run button, so keys are keys again."""
        focused = self.focused
        if not isinstance(focused, Input):
            return
        for pane in (self.server_pane, self.client_pane):
            if focused in pane.query(Input):
                pane.query_one(f"#{pane.wid('run')}").focus()
                return
        self.screen.set_focus(None)

    def action_export_code(self) -> None:
        """Ctrl+E on the Code tab exports, wherever the focus is."""
        if self.query_one("#tabs", TabbedContent).active == "code":
            self.query_one("#code-view", CodeView).action_export()

    async def action_reset(self, quiet: bool = False) -> None:
        """Close every socket (each a logged close) and stop every server thread; keep the log
        (``quiet``: a lesson starting, without the toast)."""
        closed = await asyncio.to_thread(self.session.reset)
        self.drain_now()  # the closes reach the log, the panes and port info
        self.view_state.forget_closed()
        for pane in (self.server_pane, self.client_pane):
            pane.pairs.clear()  # numbering starts again after Reset
            pane.refresh_state()
        if not quiet:
            self.notify(f"Reset: closed {closed} socket(s); the log is kept", markup=False)

    def close_lab(self, reason: str) -> None:
        """Close every socket, each close saying ``reason`` (a stop signal's; blocking)."""
        self.session.close(reason)

    async def action_quit(self) -> None:
        await asyncio.to_thread(self.session.close)
        self.exit(0)

    async def on_unmount(self) -> None:
        release_collection()  # held since on_load, if the first frame never came
        # Closing sockets (and the spool, after a save still writing) waits:
        # never on the UI thread.
        await asyncio.to_thread(self.session.close)
        if self._wire is not None:
            wire, self._wire = await self._wire, None
            await asyncio.to_thread(wire.stop)
        self._unsubscribe()
        await asyncio.to_thread(self.bridge.close)

    # -- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from lab_commands(self)


def run_app(theme: str | None = None, lesson: str | Lesson | None = None,
            auto_pause: float | None = None, two_hosts: bool = False,
            server_program: str | None = None, cable: object = None) -> int:
    """Open the lab (on a lesson, played by itself with ``auto_pause``); the exit
    status (see `run_guarded`)."""
    install_textual_fixes()
    two_hosts_allowed = follow_web_server()  # under socklab web: off unless allowed
    app = SocklabApp(packets=True)
    if two_hosts_allowed:
        app.hosts_ready(app.session.set_two_hosts, start=two_hosts, cable=cable)
    app.lesson_to_open, app.lesson_pause = lesson, auto_pause
    if theme is not None:
        if theme not in app.available_themes:
            names = ", ".join(sorted(app.available_themes))
            print(f"socklab: error: unknown theme {theme!r}; choose one of: {names}",
                  file=sys.stderr)
            return 2
        app.theme = theme
    if server_program is not None:  # the learner's own server beside the panes
        from ..program.runner import running_program
        with running_program(app.lab, server_program):
            return run_guarded(app)
    return run_guarded(app)
