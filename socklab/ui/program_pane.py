"""A pane switched to "Program": the learner's own server or client in the lab.

Each pane (server, client) can run the learner's program instead of the lab's
calls (F3 the server pane, F4 the client pane, or the palette): a file (a
Python program, traced from inside) or any command (traced with strace) and
its arguments.  The pane then shows the program's output (each line escaped:
its bytes are untrusted), how it ended, and — in the pane's own socket list,
fed from the log like the lab's — its listener and connections with their
kernel states.  The other pane stays the lab's, so the lab's client talks to
the learner's server or the lab's server to the learner's client; the calls of
both are in the one log (``by: "program"``), the Wire tab and the kernel view.

`ProgramBox` is the widget inside a pane; `PanePrograms` is the app's part
(listed in socklab/ui/app.py) that starts and stops the programs, on threads,
never on the UI thread.  Switching the pane back to "Lab", quitting, or a
stop signal stops the program: its process group gets SIGTERM, then SIGKILL,
its process is reaped and its pipes closed (`socklab.program.runner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Log, Static

from ..events import CLIENT, SERVER

if TYPE_CHECKING:
    from ..program.runner import ProgramRun
    from .app import SocklabApp
    from .bridge import Batch
    from .endpoint_pane import EndpointPane

#: Output lines a pane keeps (the log keeps every one).
OUTPUT_LINES = 500
#: The pane's class while it runs the learner's program.
PROGRAM_CLASS = "-program"
#: The key that switches each pane, and the word for the pane in messages.
KEYS = {SERVER: "F3", CLIENT: "F4"}
#: Starts the learner's program (argv) as a side: the app's, as it reaches the lab.
Launch = Callable[[list[str], str], "ProgramRun"]
PLACEHOLDERS = {SERVER: "server.py, or a command: nc -l 1024",
                CLIENT: "client.py, or a command: nc 127.0.0.1 1024"}


class ProgramBox(Vertical):
    """Inside a pane in "Program" mode: the program's fields, Start / Stop / Lab,
    how it runs or ended, and its output."""

    class Asked(Message):
        """Start, Stop or Lab pressed (or Enter in a field): the app's part acts."""

        def __init__(self, side: str, what: str) -> None:
            super().__init__()
            self.side = side
            self.what = what

    def __init__(self, side: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="program-box")
        self.side = side

    def wid(self, name: str) -> str:
        return f"{self.side}-program-{name}"

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("program", classes="field-label")
            yield Input("", placeholder=PLACEHOLDERS[self.side], compact=True,
                        id=self.wid("path"), classes="field-program",
                        tooltip="a Python file (traced from inside) or any command "
                                "(traced with strace); Enter starts it")
        with Horizontal(classes="row"):
            yield Label("args", classes="field-label")
            yield Input("", placeholder="arguments, as in a shell: 1024 'two words'",
                        compact=True, id=self.wid("args"), classes="field-program",
                        tooltip="the program's arguments; Enter starts it")
        with Horizontal(classes="program-buttons"):
            yield Button("▶ Start", id=self.wid("start"), compact=True,
                         classes="program-button run")
            yield Button("■ Stop", id=self.wid("stop"), compact=True,
                         classes="program-button")
            yield Button("◀ Lab", id=self.wid("lab"), compact=True,
                         classes="program-button",
                         tooltip=f"back to the lab's calls ({KEYS[self.side]}): stops "
                                 "the program")
        yield Static(f"your program as the {self.side}: choose it and press Start",
                     id=self.wid("status"), classes="program-status", markup=False)
        yield Log(max_lines=OUTPUT_LINES, id=self.wid("output"), classes="program-output")

    # -- what the part shows ------------------------------------------------------

    @property
    def output(self) -> Log:
        return self.query_one(f"#{self.wid('output')}", Log)

    def input(self, name: str) -> Input:
        return self.query_one(f"#{self.wid(name)}", Input)

    def status(self, text: str, error: bool = False) -> None:
        status = self.query_one(f"#{self.wid('status')}", Static)
        status.update(Text(text))
        status.set_class(error, "-error")

    @property
    def status_text(self) -> str:
        return str(self.query_one(f"#{self.wid('status')}", Static).render())

    def add_output(self, stream: str, line: str) -> None:
        """One line of the program's output, already escaped (never markup)."""
        self.output.write_line(line if stream == "stdout" else f"[{stream}] {line}")

    # -- the learner's presses ----------------------------------------------------

    @on(Button.Pressed, ".program-button")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        what = (event.button.id or "").removeprefix(f"{self.side}-program-")
        self.post_message(ProgramBox.Asked(self.side, what))

    @on(Input.Submitted, ".field-program")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(ProgramBox.Asked(self.side, "start"))



def ended_text(name: str, status: int | None, stopped: bool) -> str:
    """How a program ended, in the pane's status line."""
    if status is None:
        return f"{name}: its end could not be read · Start runs it again"
    if status < 0:
        try:
            signame = signal.Signals(-status).name
        except ValueError:
            signame = f"signal {-status}"
        how = f"stopped by the lab ({signame})" if stopped else f"ended by {signame}"
        return f"{name} {how} · Start runs it again"
    return f"{name} exited with status {status} · Start runs it again"


class PanePrograms:
    """The app's part that runs the learner's programs in the panes (F3, F4, the
    palette, ``socklab --server-program`` / ``--client-program``)."""

    def __init__(self, app: SocklabApp, launch: Launch, close_side: Callable[[str], int]
                 ) -> None:
        """``launch``: start a program (argv) as a side; ``close_side``: close the lab's
        own sockets of a side (blocking).  The app hands both over (it reaches the lab)."""
        self._app = app
        self._launch = launch
        self._close_side = close_side
        #: The program each side runs now.
        self.runs: dict[str, ProgramRun] = {}
        #: The program each side started last (still readable once it ended).
        self.last_run: dict[str, ProgramRun] = {}
        #: Each running program's reaper (it emits the program's end, then says it).
        self._reapers: dict[str, asyncio.Task[None]] = {}
        #: ``socklab --server-program FILE``: side → the program field, started at mount.
        self.to_open: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- the screen's parts -----------------------------------------------------------

    def box(self, side: str) -> ProgramBox:
        return self._app.pane(side).query_one(ProgramBox)

    def is_program(self, side: str) -> bool:
        return self._app.pane(side).has_class(PROGRAM_CLASS)

    def mount(self) -> None:
        """``--server-program``: the server pane runs it at once, and the lab's client
        is ready to talk to it; ``--client-program``: the client pane holds it, to be
        started once the lab's server runs (F5, then Start)."""
        for side, program in self.to_open.items():
            self.box(side).input("path").value = program
            self._app.run_worker(self._open(side), group=f"program-{side}")

    async def _open(self, side: str) -> None:
        await self.switch(side, True, start=side == SERVER)
        other = self._app.pane(CLIENT if side == SERVER else SERVER)
        if side == SERVER:
            other.home().focus()
        else:
            self.box(side).query_one(f"#{self.box(side).wid('start')}").focus()
            self.box(side).status("start the lab's server first (F5), then Start")

    def on_batch(self, batch: Batch) -> None:
        """The programs' output lines, each in its pane (the log has them too)."""
        for event in batch.events:
            if event.op == "output" and event.by == "program" and event.side in KEYS:
                stream = str(event.args[0]) if event.args else "stdout"
                try:
                    self.box(event.side).add_output(stream, event.data or "")
                except Exception:
                    return  # the app is closing: its widgets are gone

    # -- switching --------------------------------------------------------------------

    def _one_at_a_time(self, side: str) -> asyncio.Lock:
        """A side's switch, start and stop run one at a time (a double press of Start
        never leaves a program that nothing stops)."""
        return self._locks.setdefault(side, asyncio.Lock())

    async def toggle(self, side: str) -> None:
        async with self._one_at_a_time(side):
            await self._switch(side, not self.is_program(side))

    async def switch(self, side: str, on: bool, start: bool = False) -> None:
        """The pane to "Program" (the lab's sockets of that side closed, each a logged
        close) or back to "Lab" (the program stopped first)."""
        async with self._one_at_a_time(side):
            await self._switch(side, on, start)

    async def start(self, side: str) -> bool:
        """Start the program in the pane's fields (one running is stopped first);
        a bad path or command is said in the pane, in one line."""
        async with self._one_at_a_time(side):
            return await self._start(side)

    async def stop(self, side: str) -> None:
        """Stop the side's program (SIGTERM, then SIGKILL) and wait until it is reaped."""
        async with self._one_at_a_time(side):
            await self._stop(side)

    async def _switch(self, side: str, on: bool, start: bool = False) -> None:
        app, pane = self._app, self._app.pane(side)
        if on and app.hosts.on:
            app.notify("Your program runs on this machine, not on the two hosts: turn "
                       "two hosts off first (F7)", severity="warning", markup=False)
            return
        if on != self.is_program(side):
            if on:
                await self._to_program(side, pane)
            else:
                await self._to_lab(side, pane)
        if on and start:
            await self._start(side)

    async def _to_program(self, side: str, pane: EndpointPane) -> None:
        pane.set_class(True, PROGRAM_CLASS)
        pane.border_title = f"{pane.TITLE} · your program ({KEYS[side]}: Lab)"
        self.box(side).input("path").focus()
        await asyncio.to_thread(self._close_side, side)
        self._forget_closed(side)

    async def _to_lab(self, side: str, pane: EndpointPane) -> None:
        await self._stop(side)
        pane.set_class(False, PROGRAM_CLASS)
        pane.border_title = pane.TITLE
        self._forget_closed()
        pane.query_one(f"#{pane.wid('run')}").focus()

    def _forget_closed(self, side: str | None = None) -> None:
        """The closed sockets leave the panes' lists (as after a Reset); ``side``:
        all of that side's, its listener too (the pane now shows the program's)."""
        app = self._app
        app.drain_now()
        app.view_state.forget_closed()
        if side is not None:
            app.view_state.forget_side(side)
        app.panes_feed.refresh_all()

    # -- running -------------------------------------------------------------------------

    async def _start(self, side: str) -> bool:
        from ..program.runner import ProgramError, command_for, pane_argv
        box = self.box(side)
        try:
            argv = pane_argv(box.input("path").value, box.input("args").value)
            command_for(argv)  # a missing file or command: said before anything runs
        except ProgramError as exc:
            box.status(str(exc), error=True)
            return False
        await self._stop(side)
        self._app.drain_now()  # the last run's output first, then the line for this one
        box.output.write_line(f"── {shlex.join(argv)} ──")
        try:
            run = await asyncio.to_thread(self._launch, argv, side)
        except ProgramError as exc:
            box.status(str(exc), error=True)
            return False
        except OSError as exc:
            box.status(f"cannot run {argv[0]}: {exc.strerror or exc}", error=True)
            return False
        self.runs[side] = self.last_run[side] = run
        pid = run.proc.pid if run.proc is not None else "?"
        box.status(f"running: {run.command.name} (pid {pid}) · Stop ends it")
        self._reapers[side] = asyncio.create_task(self._reap(side, run))
        return True

    async def _reap(self, side: str, run: ProgramRun) -> None:
        """Wait (on a thread) for the program to end: its end is on the bus, then said."""
        outcome = await asyncio.to_thread(run.wait)
        if self.runs.get(side) is run:
            del self.runs[side]
        with contextlib.suppress(Exception):  # the app may be closing
            self.box(side).status(ended_text(run.command.name, outcome.status, run.stopped))

    async def _stop(self, side: str) -> None:
        run = self.runs.get(side)
        reaper = self._reapers.pop(side, None)
        if run is not None:
            await asyncio.to_thread(run.stop)
        if reaper is not None:
            await reaper

    async def stop_all(self) -> None:
        for side in list(self.runs):
            await self.stop(side)

    def stop_now(self) -> None:
        """Stop every program at once, from any thread (quit, a stop signal): blocking."""
        for run in list(self.runs.values()):
            run.stop()

    # -- keys and the palette ---------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        for side in KEYS:
            title = side.capitalize()
            if self.is_program(side):
                yield SystemCommand(f"{title} pane: back to the lab ({KEYS[side]})",
                                    "stop your program; the pane makes the lab's calls again",
                                    lambda s=side: self._app.run_worker(self.toggle(s)))
                yield SystemCommand(f"{title} pane: start your program",
                                    "start (or start again) the program in the pane's fields",
                                    lambda s=side: self._app.run_worker(self.start(s)))
            else:
                yield SystemCommand(f"{title} pane: your program ({KEYS[side]})",
                                    f"run your own {side} in this pane, against the lab's "
                                    f"{'client' if side == SERVER else 'server'}",
                                    lambda s=side: self._app.run_worker(self.toggle(s)))

    async def asked(self, side: str, what: str) -> None:
        """Start, Stop or Lab pressed in a program box."""
        if what == "start":
            await self.start(side)
        elif what == "stop":
            await self.stop(side)
        elif what == "lab":
            await self.switch(side, False)
