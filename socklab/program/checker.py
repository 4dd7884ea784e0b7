"""Checking a learner's program against real lab peers: the session and its results.

A `Session` is one lab, its kernel view, and the learner's program run under
the tracer (socklab.program.runner); every event of both is recorded, so a
failed test can say what went wrong in plain words and show the log lines
that prove it.  Everything is bounded in time: a program that hangs is
stopped at the limit, and the calls it was still waiting in and its sockets'
states are said.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..engine import Endpoint, Lab
from ..events import DONE, WAIT, Event, escape_bytes
from ..kernel.poller import KernelView
from ..logformat import format_line
from .runner import Outcome, ProgramRun

#: How long the program has to start listening.
LISTEN_LIMIT = 10.0
#: Log lines shown under a failure at most.
SHOWN_LINES = 8


#: Payload characters a line under a failure shows.
SHOWN_PAYLOAD = 48


def _short(event: Event) -> Event:
    """The event with its payload cut short (a line under a failure stays one line)."""
    shown = event.bytes_repr
    if shown is None or len(shown) <= SHOWN_PAYLOAD:
        return event
    more = f"… {event.nbytes} bytes" if event.nbytes is not None else "…"
    return replace(event, bytes_repr=shown[:SHOWN_PAYLOAD] + more, data=None)


@dataclass
class TestResult:
    """One test of an exercise, as an autograder reads it."""

    name: str
    passed: bool
    output: str
    max_score: float = 1.0

    def gradescope(self) -> dict[str, Any]:
        """Gradescope's results.json shape for one test."""
        return {"name": self.name, "score": self.max_score if self.passed else 0.0,
                "max_score": self.max_score, "output": self.output}


#: Sessions not finished yet (`finish_all` ends them whatever happened).
_RUNNING: list[Session] = []


def finish_all() -> None:
    """Stop every program a check started and close its lab (on any way out)."""
    for session in list(_RUNNING):
        session.finish(grace=0.0)


@dataclass
class Read:
    """What a lab client read: the bytes, whether the peer closed, the failure."""

    data: bytes = b""
    eof: bool = False
    error: Event | None = None
    timed_out: bool = False


@dataclass
class Session:
    """The lab, the learner's program, and every event of both."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    limit: float = 30.0

    def __post_init__(self) -> None:
        self.lab = Lab(connect_timeout=5.0)
        self.events: list[Event] = []
        self._news = threading.Condition()
        self.lab.subscribe(self._record)
        self.kernel = KernelView(self.lab).start()
        self.program = ProgramRun(self.lab, self.argv, stdin=b"", env=self.env)
        self.started = time.monotonic()
        self.outcome: Outcome | None = None
        self._poker: threading.Thread | None = None
        _RUNNING.append(self)

    # -- the events ----------------------------------------------------------------

    def _record(self, event: Event) -> None:
        with self._news:
            self.events.append(event)
            self._news.notify_all()

    def wait_for(self, found: Callable[[Event], bool], timeout: float) -> Event | None:
        """The first event ``found`` accepts, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._news:
            while True:
                for event in self.events[seen:]:
                    if found(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._news.wait(min(left, 0.1))

    def of_program(self, op: str | None = None, **fields: Any) -> list[Event]:
        """The program's events (one op), matching ``fields``."""
        with self._news:
            events = list(self.events)
        return [e for e in events if e.by == "program" and (op is None or e.op == op)
                and all(getattr(e, k) == v for k, v in fields.items())]

    def exited(self) -> Event | None:
        found = self.of_program("exit")
        return found[0] if found else None

    @staticmethod
    def lines(events: list[Event]) -> str:
        """Log lines as the commands print them (the last `SHOWN_LINES`)."""
        shown = events[-SHOWN_LINES:]
        return "\n".join(format_line(_short(e)) for e in shown)

    # -- the program ---------------------------------------------------------------

    def start(self) -> Session:
        self.program.start()
        return self

    def listening(self) -> Event | None:
        """The program's successful listen(), or None (it failed, ended, or hung)."""
        return self.wait_for(lambda e: e.by == "program" and (
            (e.op == "listen" and e.phase == DONE and e.ok) or e.op == "exit"
            or (e.op == "accept" and not e.ok)), min(LISTEN_LIMIT, self.left()))

    def bound(self, op: str = "bind") -> Event | None:
        """The program's successful bind() (a datagram server's start)."""
        return self.wait_for(lambda e: e.by == "program" and (
            (e.op == op and e.phase == DONE and e.ok) or e.op == "exit"),
            min(LISTEN_LIMIT, self.left()))

    def ended(self, within: float) -> bool:
        """Has the program ended (waiting ``within`` seconds at most)?  Once it has,
        what it printed is all read (the checks read its output next)."""
        proc = self.program.proc
        if proc is None:
            return True
        try:
            proc.wait(min(within, self.left()))
        except subprocess.TimeoutExpired:
            return False
        self.program.read_out()
        return True

    def left(self) -> float:
        return max(0.0, self.limit - (time.monotonic() - self.started))

    def finish(self, grace: float = 2.0) -> Outcome:
        """Let the program end by itself (``grace`` s at most), else stop it;
        then close the lab.  What it hung in is in the outcome."""
        if self.outcome is None:
            try:
                if self.program.proc is None:  # never started (it could not run)
                    self.outcome = Outcome()
                else:
                    self.outcome = self.program.wait(min(grace, self.left()))
            finally:
                self.lab.close_all()
                self.kernel.stop()
                if self in _RUNNING:
                    _RUNNING.remove(self)
        return self.outcome

    def interrupt_sends(self) -> None:
        """While the program's send blocks, send it SIGUSR2 (which the tracer has it
        ignore): a blocked send() then returns what it sent so far."""
        def poke() -> None:
            proc = self.program.proc
            while proc is not None and proc.poll() is None and self.left() > 0:
                if any(p.start.get("op") in ("send", "sendall") and p.call
                       for p in self.program.calls.pending()):
                    try:
                        os.kill(proc.pid, signal.SIGUSR2)
                    except ProcessLookupError:
                        return
                time.sleep(0.01)
        self._poker = threading.Thread(target=poke, name="socklab-check-signals", daemon=True)
        self._poker.start()

    # -- the lab's peers -------------------------------------------------------------

    def client(self, where: Any, rcvbuf: int | None = None) -> tuple[Endpoint, Event]:
        """A lab client connected to the program's address (a wildcard: loopback)."""
        host, port = where[0], where[1]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if host in ("", "0.0.0.0", "::"):
            host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        client = self.lab.client(family)
        client.socket()
        if rcvbuf is not None and client.sock is not None:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        return client, client.connect(host, port, timeout=min(5.0, self.left()))

    def read(self, client: Endpoint, want: int | None = None, timeout: float = 3.0,
             pause: float = 0.0, size: int = 65536) -> Read:
        """Read until the peer closes (b''), ``want`` bytes came (if given), a
        failure, or ``timeout`` seconds without the end.  ``pause``: seconds
        to wait after each ``size`` bytes read (a client that reads slowly)."""
        got = Read()
        chunks: list[bytes] = []
        unpaused = 0
        deadline = time.monotonic() + min(timeout, self.left())
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                got.timed_out = True
                break
            if pause and unpaused >= size:  # at most ``size`` bytes per ``pause``
                time.sleep(pause)
                unpaused = 0
            received = client.recv(size, timeout=left)
            if received.event is not None and not received.event.ok:
                if received.event.error == "TimeoutError":
                    got.timed_out = True
                else:
                    got.error = received.event
                break
            if received.eof:
                got.eof = True
                break
            chunks.append(received.data)
            unpaused += len(received.data)
            if want is not None and sum(map(len, chunks)) >= want:
                break
        got.data = b"".join(chunks)
        return got

    # -- saying what happened ---------------------------------------------------------

    def hung(self) -> str:
        """Where the program waited when it was stopped: its calls still waiting and
        its sockets' states (empty when it did not hang)."""
        outcome = self.outcome
        if outcome is None or not outcome.timed_out:
            return ""
        waits = [e for e in self.of_program(phase=WAIT)
                 if not any(d.call == e.call and d.phase == DONE
                            for d in self.of_program(e.op))]
        states = ", ".join(f"{side}[{conn}] {state}" if conn else f"{side} {state}"
                           for (side, conn), state in outcome.hung_states.items() if state)
        words = "the program was still running at the time limit and was stopped"
        if outcome.hung:
            calls = ", ".join(f"{op}()" for op, _side, _conn in outcome.hung)
            words += f"; it was waiting in {calls}"
        if states:
            words += f"; its sockets were: {states}"
        return words + ("\n" + self.lines(waits) if waits else "")

    def failures(self, op: str | None = None) -> list[Event]:
        """The program's failed calls."""
        return [e for e in self.of_program(op) if e.phase == DONE and not e.ok
                and e.op not in ("exit", "output")]

    def crashed(self) -> str:
        """The last lines of the program's stderr (a traceback), if it wrote any."""
        outcome = self.outcome
        if outcome is None or not outcome.stderr:
            return ""
        tail = [escape_bytes(line) for line in bytes(outcome.stderr).strip().splitlines()[-3:]]
        return "its stderr ended with:\n  " + "\n  ".join(tail)
