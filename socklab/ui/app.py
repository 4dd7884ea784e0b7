"""The lab screen: server pane and client pane side by side, one live log below.

This module is the composition root: it builds the screen (`compose`) and
lists its parts in one place (`SocklabApp.__init__`), in the order they are
mounted and the order each batch of events reaches them.

A pane's button becomes a `Request` handed to `LabControls.ask`
(socklab/ui/controls.py), which gives it to the `LabSession`, which makes the
real calls on the lab's threads.  Every call is an event on the lab's bus; the
`Bridge` (the one place those threads meet the screen) batches them, spools
all of them for saving, and publishes each batch to the subscribers listed
here: the log, the view model the panes show, the port-info rechecks, the
Wire tab, the lessons and the HTTP view, and the controls' count of calls.
Parts act on the lab through `LabControls`, never by reaching into the panes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    Header,
    Input,
    Select,
    TabbedContent,
    TabPane,
)

from .. import explain
from ..capture import watch_packets
from ..engine import Lab
from ..events import CLIENT, SERVER
from ..guard import follow_web_server
from ..guided import Lesson
from ..hosts.cable_lab import set_cable
from ..session import LabSession
from ..viewstate import ViewState
from .bridge import Bridge
from .cable_bar import CableBar
from .client_pane import ClientPane
from .code_view import CodeView
from .controls import LabControls
from .endpoint_pane import EndpointPane
from .event_log import EventLog
from .feeds import LogFeed, PaneFeed, PortRecheck
from .first_frame import (
    first_frame_painted,
    hold_collection,
    presized_screen,
    release_collection,
    styled_when_mounted,
)
from .footer import SteadyFooter
from .guarded import StopAndReport, run_guarded
from .http_view import HttpView
from .lab_tab import LabTab
from .lesson_host import Lessons
from .lesson_panel import LessonPanel
from .palette import lab_commands
from .payload_view import PayloadView
from .ports_view import PortsView
from .program_pane import PanePrograms, ProgramBox
from .server_pane import ServerPane
from .shown_numbers import RealNumbers
from .textual_fixes import fast_callbacks
from .textual_fixes import install as install_textual_fixes
from .themes import DEFAULT_VARIABLES, Projector
from .two_hosts import TwoHosts
from .wire_view import Wire, WireView

if TYPE_CHECKING:
    from ..program.runner import ProgramRun


class SocklabApp(StopAndReport, App[int]):
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
        Binding("b", "bulk_send", "Bulk send"),
        Binding("ctrl+l", "clear_log", "Clear log", show=False),
        Binding("d", "detail", "Detail"),
        Binding("f2", "toggle_fields", "Fields", show=False),
        Binding("f7", "toggle_two_hosts", "Two hosts", show=False),
        Binding("f3", "program('server')", "Server program", show=False),
        Binding("f4", "program('client')", "Client program", show=False),
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
        fast_callbacks()  # a lab driven without run_app (tests) too: textual_fixes item 5
        self.numbers = numbers or RealNumbers()
        self.save_dir = save_dir
        self.bridge = Bridge(self)
        self.session = LabSession(
            clock, tell=lambda message: self.bridge.tell(message, severity="error"))
        self._unsubscribe = self.session.subscribe(self.bridge.sink)
        self.view_state = ViewState()
        self.projector = Projector(self)
        # -- the parts, in the order they are mounted ----------------------------------
        #: The one way parts act on the lab (and the panes' ``ask``).
        self.controls = LabControls(self, self.session.request, self.lab.bus)
        self.panes_feed = PaneFeed(self, self.view_state)
        self.ports_feed = PortRecheck(self)
        self.wire = Wire(self, (lambda: watch_packets(self.lab)) if packets else None)
        self.hosts = TwoHosts(self)
        self.lessons = Lessons(self)
        #: The learner's own programs, a pane each (F3, F4).
        self.programs = PanePrograms(self, self._launch_program, self._close_side)
        #: The bridge's subscribers: each batch reaches them in this order.
        self.subscribers = (LogFeed(self), self.panes_feed, self.ports_feed, self.wire,
                            self.lessons, self.programs, self.controls)

    def _launch_program(self, argv: list[str], side: str) -> ProgramRun:
        """A pane's program, started on the lab's bus (socklab/ui/program_pane.py)."""
        from ..program.runner import pane_program
        return pane_program(self.lab, argv, side)

    def _close_side(self, side: str) -> int:
        """A pane switched to its program: the lab's own sockets of that side closed."""
        return self.session.close_side(side, explain.TO_PROGRAM)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(DEFAULT_VARIABLES)

    def get_default_screen(self) -> Screen[object]:
        return presized_screen(self)  # styled once, not again on the first resize

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        if not styled_when_mounted(node):  # else styled when mounted, not twice
            super().update_styles(node, animate)

    def on_load(self) -> None:
        hold_collection()  # no cyclic collection until the first frame

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        ask, view = self.controls.ask, self.view_state
        yield Header()
        with TabbedContent(id="tabs"):
            with LabTab("Lab", id="lab"):
                with Horizontal(id="panes"):
                    yield ServerPane(ask, view, id="server")
                    yield ClientPane(ask, view, id="client")
                yield CableBar(lambda conditions: set_cable(self.lab, conditions),
                               self.hosts.cable_at_start, id="cable-bar")
                yield EventLog(id="log")
            with TabPane("Code", id="code"):
                yield CodeView(id="code-view")
            with TabPane("Ports", id="ports"):
                yield PortsView(id="ports-view")
            with TabPane("Wire", id="wire"):
                yield WireView(id="wire-view")
            with TabPane("HTTP", id="http"):
                yield HttpView(id="http-view")
        yield LessonPanel(self.controls, id="lesson-panel")
        yield SteadyFooter()

    def on_mount(self) -> None:
        for side in (SERVER, CLIENT):
            self.pane(side).numbers = self.numbers
        log = self.event_log
        log.border_title = "Event log"
        log.border_subtitle = "↑↓ select · d detail · x hex · s save · F2 fields"
        for subscriber in self.subscribers:
            self.bridge.subscribe(subscriber.on_batch)
        self.wire.mount()
        self.hosts.mount()
        self.lessons.mount()
        self.programs.mount()
        self.bridge.start()
        # What exists once the screen is up lives as long as the app: keep it
        # out of the cyclic collector's full passes, which otherwise stall the
        # UI under a storm of events (PERF-NOTES: up to 1.4 s).
        self.call_after_refresh(first_frame_painted)
        self._update_code()
        self.stop_if_signalled()

    # -- the screen's parts, by name -------------------------------------------------

    def pane(self, side: str) -> EndpointPane:
        return self.server_pane if side == SERVER else self.client_pane

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
    def lesson_panel(self) -> LessonPanel:
        return self.query_one(LessonPanel)

    @property
    def http_view(self) -> HttpView:
        return self.query_one(HttpView)

    def show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    @property
    def lab(self) -> Lab:
        """The session's lab (tests subscribe to it and count its open sockets)."""
        return self.session.lab

    @property
    def skipped(self) -> int:
        """Events a storm kept from the log (saving still writes them)."""
        return self.bridge.skipped

    def drain_now(self) -> None:
        """Publish everything that has arrived, and show it, without waiting for timers."""
        self.bridge.flush()
        self.panes_feed.run_now()
        self.ports_feed.run_now()

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

    def action_bulk_send(self) -> None:
        """b: the client's send() of 1 MiB (socklab.labcalls.BULK_BYTES)."""
        self.client_pane.press("send-bulk")

    def action_hex(self) -> None:
        if not self.event_log.toggle_hex():
            self.notify("No event with bytes to show: select one in the log (↑/↓)",
                        severity="warning", markup=False)

    def action_save_log(self, json_lines: bool) -> None:
        """Save every event of the session (not only those in view), in a worker."""
        self.bridge.save(self.save_dir or Path.cwd(), json_lines)

    def action_focus_log(self) -> None:
        self.event_log.focus()

    def action_toggle_packets(self) -> None:
        self.wire.toggle_packets()

    async def action_program(self, side: str) -> None:
        """F3 / F4: the pane runs the learner's program, or the lab's calls again."""
        await self.programs.toggle(side)

    async def on_program_box_asked(self, message: ProgramBox.Asked) -> None:
        await self.programs.asked(message.side, message.what)

    async def action_toggle_two_hosts(self) -> None:
        """Two hosts on or off: the server on host A, the client on host B."""
        await self.hosts.toggle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Back and Next (F9, F10) are in the footer only while a lesson is open."""
        if action in ("lesson_next", "lesson_back"):
            return self.lessons.is_open()
        return True

    def action_lesson_next(self) -> None:
        """The lesson's Next: go on, or do the step."""
        self.lessons.next()

    def action_lesson_back(self) -> None:
        self.lessons.back()

    def on_resize(self, event: events.Resize) -> None:
        self.lessons.resize(event.size.width)

    def on_http_view_matched(self, message: HttpView.Matched) -> None:
        """The regex box's matches: a lesson's step may be waiting for them."""
        self.lesson_panel.note_regex(message.matches)

    def action_toggle_projector(self) -> None:
        self.projector.toggle()

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
        for side in (SERVER, CLIENT):
            pane = self.pane(side)
            if focused in pane.query(Input):
                pane.home().focus()
                return
        self.screen.set_focus(None)

    def action_export_code(self) -> None:
        """Ctrl+E on the Code tab exports, wherever the focus is."""
        if self.query_one("#tabs", TabbedContent).active == "code":
            self.query_one("#code-view", CodeView).action_export()

    async def action_reset(self) -> None:
        """Close every socket (each a logged close) and stop every server thread; keep the log."""
        await self.reset_lab()

    async def reset_lab(self, quiet: bool = False) -> int:
        """Ctrl+R (and `LabControls.reset`): every socket closed, numbering from 1
        again; the log is kept.  How many sockets were open."""
        closed = await asyncio.to_thread(self.session.reset)
        self.drain_now()  # the closes reach the log, the panes and port info
        self.view_state.forget_closed()
        self.panes_feed.refresh_all()
        if not quiet:
            self.notify(f"Reset: closed {closed} socket(s); the log is kept", markup=False)
        return closed

    def close_lab(self, reason: str) -> None:
        """Close every socket, each close saying ``reason`` (a stop signal's; blocking);
        the learner's programs are stopped too."""
        self.programs.stop_now()
        self.session.close(reason)

    async def action_quit(self) -> None:
        await self.programs.stop_all()
        await asyncio.to_thread(self.session.close)
        self.exit(0)

    async def on_unmount(self) -> None:
        release_collection()  # held since on_load, if the first frame never came
        # Closing sockets (and the spool, after a save still writing) waits:
        # never on the UI thread.
        await self.programs.stop_all()
        await asyncio.to_thread(self.session.close)
        await self.wire.stop()
        self._unsubscribe()
        await asyncio.to_thread(self.bridge.close)

    # -- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from lab_commands(self)


def run_app(theme: str | None = None, lesson: str | Lesson | None = None,
            auto_pause: float | None = None, two_hosts: bool = False,
            server_program: str | None = None, cable: object = None,
            client_program: str | None = None) -> int:
    """Open the lab (on a lesson, played by itself with ``auto_pause``); the exit
    status (see `run_guarded`)."""
    install_textual_fixes()
    two_hosts_allowed = follow_web_server()  # under socklab web: off unless allowed
    app = SocklabApp(packets=True)
    if two_hosts_allowed:
        app.hosts.ready(app.session.set_two_hosts, start=two_hosts, cable=cable)
    app.lessons.to_open, app.lessons.pause = lesson, auto_pause
    if theme is not None:
        if theme not in app.available_themes:
            names = ", ".join(sorted(app.available_themes))
            print(f"socklab: error: unknown theme {theme!r}; choose one of: {names}",
                  file=sys.stderr)
            return 2
        app.theme = theme
    for side, program in ((SERVER, server_program), (CLIENT, client_program)):
        if program is not None:  # the learner's own program in that pane
            app.programs.to_open[side] = program
    try:
        return run_guarded(app)
    finally:
        app.programs.stop_now()  # already stopped as the screen closed: never left running
