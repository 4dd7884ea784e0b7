"""``socklab replay``: a saved session, played back in the lab's log view.

Read-only: no socket is made.  The whole session is in the log (the lab's own
`EventLog`), the cursor on the event the replay stands at — the last one when
it opens.  ←/→ step one event back or forward; what each side had open (the
kernel's states, the accept queue) and the Wire tab's diagram are rebuilt from
the events up to the cursor, so they follow it both ways.  Space plays the
session from the start (or from where it was paused) at the chosen speed.

Pace: the session's own gaps, never less than `STEP` nor more than `LONGEST`
(a loopback exchange takes milliseconds, a class needs to read each line),
divided by the speed.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from ..capture.diagram import WireDiagram
from ..events import CLIENT, SERVER
from ..logmodel import MAIN, VIEW_COALESCE_AT
from ..replay import Recording
from ..viewstate import ViewState
from .event_log import EventLog
from .guarded import StopAndReport, run_guarded
from .replay_sides import ReplaySide
from .textual_fixes import install as install_textual_fixes
from .themes import DEFAULT_VARIABLES, Projector
from .wire_view import WireView

#: Seconds per event at speed 1, at least (and at most, for a long pause).
STEP, LONGEST = 0.5, 3.0
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


class ReplayLog(EventLog):
    """The lab's log; a resize re-wraps its lessons (which drops the cursor), so
    the replay puts the cursor back on its event after each one."""

    def on_resize(self) -> None:  # Textual also runs EventLog.on_resize, first
        if isinstance(self.app, ReplayApp):
            self.call_after_refresh(self.app.place_cursor)


class ReplayApp(StopAndReport, App[int]):
    """A recorded session, stepped through or played; nothing is called for real.

    It ends as the lab does (`StopAndReport`): a stop signal exits 128 + its
    number, a terminal that goes away ends it quietly, and an error is a report."""

    CSS_PATH = Path(__file__).with_name("socklab.tcss")  # the lab's one stylesheet
    TITLE = "socklab replay"

    BINDINGS = [
        Binding("left,up", "step(-1)", "Back", priority=True),
        Binding("right,down", "step(1)", "Forward", priority=True),
        Binding("home", "go(0)", "First", show=False, priority=True),
        Binding("end", "go(-1)", "Last", show=False, priority=True),
        Binding("space", "play", "Play/pause", priority=True),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("p", "toggle_packets", "Packets"),
        Binding("f8", "toggle_projector", "Projector"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, recording: Recording, *, speed: float = 1.0,
                 play: bool = False) -> None:
        super().__init__()
        self.recording = recording
        self.events = recording.events
        self.sub_title = Path(recording.name).name
        #: The event the replay stands at (an index into ``events``).
        self.position = len(self.events) - 1
        self.speed = speed
        self._timer: Timer | None = None
        self._play_at_start = play
        self._view = ViewState()
        self._applied = 0  # events folded into ``_view`` so far
        #: Where each event is in the session (the log's rows hold the same objects).
        self._index = {id(event): index for index, event in enumerate(self.events)}
        self.projector = Projector(self)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(DEFAULT_VARIABLES)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Replay", id="replay"):
                with Horizontal(id="replay-sides"):
                    yield ReplaySide(SERVER)
                    yield ReplaySide(CLIENT)
                yield Static("", id="replay-status", markup=False)
                yield ReplayLog(id="log")
            with TabPane("Wire", id="wire"):
                yield WireView(id="wire-view")
        yield Footer()

    def on_mount(self) -> None:
        log = self.event_log
        log.border_title = "Event log · replay (read-only)"
        log.border_subtitle = "←→ step · space play · +/- speed · p packets"
        for start in range(0, len(self.events), VIEW_COALESCE_AT):  # never coalesced
            log.add_events(self.events[start:start + VIEW_COALESCE_AT])
        if self.recording.truncated:
            self.notify(self.recording.truncated, title="Replay", severity="warning",
                        timeout=15, markup=False)
        self.show()
        if self._play_at_start:
            self.action_play()
        self.stop_if_signalled()

    def close_lab(self, reason: str) -> None:
        """Nothing to close: a replay makes no socket."""

    @property
    def event_log(self) -> EventLog:
        return self.query_one("#log", EventLog)

    @property
    def playing(self) -> bool:
        return self._timer is not None

    # -- moving ------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        self.pause()
        self.go(self.position + delta)

    def action_go(self, index: int) -> None:
        self.pause()
        self.go(index % len(self.events))

    def go(self, index: int) -> None:
        """Stand at event ``index`` (clamped): the log's cursor, both sides and the wire."""
        self.position = max(0, min(len(self.events) - 1, index))
        self.show()

    def show(self) -> None:
        upto = self.position + 1
        if upto < self._applied:  # back in time: fold again from the start
            self._view, self._applied = ViewState(), 0
        self._view.apply(self.events[self._applied:upto])
        self._applied = upto
        for side in (SERVER, CLIENT):
            self.query_one(f"#replay-{side}", ReplaySide).show(self._view)
        wire = self.query_one(WireView)
        wire.diagram = WireDiagram(chosen=wire.diagram.chosen)
        wire.diagram.add(self.events[:upto])
        wire.on_resize()  # redraw the diagram as it stood at this event
        self.place_cursor()
        self._show_status()

    def place_cursor(self) -> None:
        """The log's cursor on the main row of the current event (or the nearest
        row before it, when its row is hidden: packet rows with ``p`` off)."""
        log = self.event_log
        found = None
        for index, row in enumerate(log.buffer.rows):
            if row.kind != MAIN:
                continue
            if self._index[id(row.event)] > self.position:
                break
            found = index
        if found is None:
            log.cursor = None
            log.refresh()
        else:
            log.move_cursor(found)

    def _show_status(self) -> None:
        event = self.events[self.position]
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"event {self.position + 1} of {len(self.events)}", "bold")
        text.append(f"  #{event.seq} +{event.t:.3f}s  ")
        text.append(f"playing at {self.speed:g}×" if self.playing
                    else f"paused · speed {self.speed:g}×", "italic")
        if self.recording.truncated:
            text.append("  · the file's last line was cut short", "dim")
        self.query_one("#replay-status", Static).update(text)

    # -- playing -------------------------------------------------------------------

    def action_play(self) -> None:
        """Play from the start (or from where it was paused); pause if playing."""
        if self.playing:
            self.pause()
            self._show_status()
            return
        if self.position >= len(self.events) - 1:
            self.go(0)
        self._schedule()
        self._show_status()

    def pause(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def delay(self, index: int) -> float:
        """Seconds shown on event ``index`` before the next one, at this speed."""
        gap = self.events[index + 1].t - self.events[index].t
        return min(max(gap, STEP), LONGEST) / self.speed

    def _schedule(self) -> None:
        if self.position >= len(self.events) - 1:
            self._timer = None
            self._show_status()
            return
        self._timer = self.set_timer(self.delay(self.position), self._next)

    def _next(self) -> None:
        self.go(self.position + 1)
        self._schedule()

    def action_speed(self, step: int) -> None:
        faster = [s for s in SPEEDS if s > self.speed]
        slower = [s for s in SPEEDS if s < self.speed]
        if step > 0 and faster:
            self.speed = faster[0]
        elif step < 0 and slower:
            self.speed = slower[-1]
        self._show_status()

    # -- views -------------------------------------------------------------------

    def action_toggle_packets(self) -> None:
        shown = self.event_log.toggle_packets()
        self.place_cursor()
        self.notify("Packet rows shown under the calls" if shown else "Packet rows hidden",
                    markup=False)

    def action_toggle_projector(self) -> None:
        self.projector.toggle()

    async def action_quit(self) -> None:
        self.pause()
        self.exit(0)


def run_replay(recording: Recording, speed: float = 1.0, play: bool = False) -> int:
    """Open the replay; returns the exit status."""
    install_textual_fixes()
    return run_guarded(ReplayApp(recording, speed=speed, play=play))
