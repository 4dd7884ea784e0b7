"""Running a learner's program with its socket calls in the lab's log.

`ProgramRun` starts the program as a child process, traced in-process when
it is a Python program (tracer.py, over two inherited pipes) and by strace
otherwise (strace.py), and feeds its calls to `ProgramCalls`.  Its stdout
and stderr are events too (op "output", the text escaped like any payload),
and so is its end (op "exit", the status).  A program still running at the
time limit is stopped; what it was doing then (its calls still waiting, its
sockets' states) is kept in `Outcome.hung`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..events import CLIENT, bytes_repr, escape_bytes
from .calls import ProgramCalls
from .states import ProgramStates

if TYPE_CHECKING:
    from ..engine import Lab

TRACER = Path(__file__).with_name("tracer.py")
#: Output kept per stream (the log shows every line; this is for the checker).
OUTPUT_CAP = 1 << 20
#: A line of output longer than this is shown in pieces.
LINE_CAP = 4096
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?$")
#: How long a line of output waits at most for the reports written before it.
CATCH_UP = 2.0


class Reports:
    """The tracer's report pipe, read by one thread.  A line of the program's
    output is emitted only once every report written before it was handled, so
    the call that produced the line (a recv whose bytes it prints) comes first
    in the log: the tracer writes a call's end before the program goes on."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()  # reading, closing, and the output's snapshot
        self._handled = threading.Condition()
        self._read_bytes = 0
        self._handled_bytes = 0
        self.closed = False

    def read(self) -> bytes:
        with self._lock:
            chunk = os.read(self.fd, 65536)
            self._read_bytes += len(chunk)
        return chunk

    def handled(self, pending: int) -> None:
        """Every byte read is handled but the last ``pending`` (a line not yet whole)."""
        with self._handled:
            self._handled_bytes = self._read_bytes - pending
            self._handled.notify_all()

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self.fd)
        with self._handled:
            self._handled.notify_all()

    def catch_up(self, timeout: float = CATCH_UP) -> None:
        """Wait (at most ``timeout``) until the reports in the pipe now are handled."""
        with self._lock:
            if self.closed:
                return
            try:
                unread = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD,
                                                        b"\0\0\0\0"))[0]
            except OSError:
                return
            target = self._read_bytes + unread
        with self._handled:
            self._handled.wait_for(lambda: self._handled_bytes >= target or self.closed,
                                   timeout)


class ProgramError(Exception):
    """The program cannot be run as asked (one line says why)."""


@dataclass
class Command:
    """What runs: the argv, the program's name in the log, and how it is traced."""

    argv: list[str]
    name: str
    python: bool


def command_for(argv: list[str]) -> Command:
    """``python3 x.py …``, ``x.py …``, ``python3 -m pkg …``: traced in-process;
    anything else through strace."""
    if not argv:
        raise ProgramError("no program given: socklab run -- COMMAND [ARGS...]")
    first = os.path.basename(argv[0])
    if _PYTHON.match(first):
        options, rest = [], argv[1:]
        while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c", "-"):
            options.append(rest.pop(0))
        if rest and rest[0] == "-m" and len(rest) > 1:
            return Command([argv[0], *options, str(TRACER), *rest], rest[1], True)
        if rest and not rest[0].startswith("-"):
            _exists(rest[0])
            return Command([argv[0], *options, str(TRACER), *rest],
                           os.path.basename(rest[0]), True)
    elif first.endswith(".py"):
        _exists(argv[0])
        return Command([sys.executable, str(TRACER), *argv], first, True)
    if shutil.which(argv[0]) is None:
        raise ProgramError(f"{argv[0]}: command not found")
    return Command(argv, first, False)


def _exists(path: str) -> None:
    if not os.path.isfile(path):
        raise ProgramError(f"{path}: no such file")


def strace_missing() -> str | None:
    """Why strace cannot be used here, and how to get it (None: it can)."""
    if shutil.which("strace") is None:
        return ("strace is not installed: it traces programs that are not Python "
                "(install it: sudo apt-get install strace)")
    return None


@dataclass
class Outcome:
    """How the program ended."""

    status: int | None = None
    timed_out: bool = False
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    #: At the time limit: its calls still waiting (op, side, conn) and its states.
    hung: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    hung_states: dict = field(default_factory=dict)


class ProgramRun:
    """One run of a learner's program, its calls on the lab's bus."""

    def __init__(self, lab: Lab, argv: list[str], side: str | None = None,
                 stdin: bytes | None = None, cwd: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        """``stdin``: bytes the program reads (then end of file); None: socklab's own.
        ``env``: more environment variables for the program."""
        self._env = env or {}
        self.lab = lab
        self.command = command_for(argv)
        self.states = ProgramStates(lab)
        self.calls = ProgramCalls(lab, self.command.name, side, self.states)
        self.outcome = Outcome()
        self._stdin = stdin
        self._cwd = cwd
        self._threads: list[threading.Thread] = []
        self.proc: subprocess.Popen | None = None
        self._lines_done = threading.Event()
        #: The tracer's reports (a Python program): output lines wait for them.
        self._reports: Reports | None = None
        #: The lab stopped it (`stop`): a pane went back to the lab, the lab closed.
        self.stopped = False

    # -- starting ----------------------------------------------------------------

    def start(self) -> ProgramRun:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self._env)
        if self.command.python:
            self._start_python(env)
        else:
            self._start_strace(env)
        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            self._spawn(lambda n=name, s=stream: self._output(n, s), f"output-{name}")
        if self.proc.stdin is not None:
            self._spawn(self._feed, "stdin")
        return self

    def _popen(self, argv: list[str], env: dict, pass_fds: tuple = ()) -> subprocess.Popen:
        try:
            return subprocess.Popen(
                argv, stdin=subprocess.PIPE if self._stdin is not None else None,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, pass_fds=pass_fds,
                cwd=self._cwd, start_new_session=True)
        except OSError as exc:
            raise ProgramError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None

    def _start_python(self, env: dict) -> None:
        reports, report_w = os.pipe()
        ack_r, acks = os.pipe()
        env["SOCKLAB_TRACE_FDS"] = f"{report_w},{ack_r}"
        try:
            self.proc = self._popen(self.command.argv, env, (report_w, ack_r))
        except ProgramError:
            os.close(reports)  # nothing will read them: no descriptor is left open
            os.close(acks)
            raise
        finally:
            os.close(report_w)
            os.close(ack_r)
        self._reports = Reports(reports)
        self._spawn(lambda: self._read_reports(self._reports, acks), "reports")

    def _start_strace(self, env: dict) -> None:
        from .strace import StraceReader, strace_argv
        missing = strace_missing()
        if missing:
            raise ProgramError(missing)
        lines, lines_w = os.pipe()
        argv = strace_argv(self.command.argv, lines_w)
        try:
            self.proc = self._popen(argv, env, (lines_w,))
        except ProgramError:
            os.close(lines)
            raise
        finally:
            os.close(lines_w)
        reader = StraceReader(self.calls)
        self._spawn(lambda: self._read_strace(lines, reader), "strace")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=f"socklab-program-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- reading ---------------------------------------------------------------

    def _read_reports(self, reports: Reports, acks: int) -> None:
        """The tracer's lines, in order; each acknowledged once the lab has it."""
        main_pid = self.proc.pid if self.proc else 0
        buffer = b""
        poller = select.poll()
        poller.register(reports.fd, select.POLLIN | select.POLLHUP)
        try:
            while True:
                due = self.calls.tick()
                ready = poller.poll(250 if due is None else max(1, int(due * 1000) + 1))
                if not ready:
                    continue
                chunk = reports.read()
                if not chunk:
                    break
                buffer += chunk
                *whole, buffer = buffer.split(b"\n")
                for line in whole:
                    message = _message(line)
                    if message is None:
                        continue
                    self.calls.handle(message)
                    if message.get("ack") and message.get("pid") == main_pid:
                        _ack(acks)
                reports.handled(len(buffer))
        finally:
            self.calls.finish()
            reports.close()
            os.close(acks)
            self._lines_done.set()

    def _read_strace(self, lines: int, reader) -> None:
        try:
            with os.fdopen(lines, "rb") as stream:
                for line in stream:
                    reader.line(line.decode("utf-8", "replace"))
        finally:
            self.calls.finish()
            self._lines_done.set()

    def _output(self, name: str, stream) -> None:
        kept = self.outcome.stdout if name == "stdout" else self.outcome.stderr
        for line in iter(lambda: stream.readline(LINE_CAP), b""):
            if len(kept) < OUTPUT_CAP:
                kept.extend(line[:OUTPUT_CAP - len(kept)])
            text = line.rstrip(b"\n")
            if self._reports is not None:
                self._reports.catch_up()  # the call that printed it first
            self.lab.bus.emit(side=self.calls.side or CLIENT, conn=None, op="output",
                              args=(name,), data=escape_bytes(text, cap=LINE_CAP),
                              bytes_repr=bytes_repr(text, cap=LINE_CAP), nbytes=len(line),
                              by="program", program=self.command.name)
        stream.close()

    def _feed(self) -> None:
        try:
            self.proc.stdin.write(self._stdin or b"")
            self.proc.stdin.close()
        except OSError:
            pass

    # -- ending ------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Outcome:
        """Until the program ends (or ``timeout``: then it is stopped, and what it
        was doing is kept); its last events are all on the bus when this returns."""
        assert self.proc is not None
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.outcome.timed_out = True
            self._note_hang()
            status = self.stop()
        self.read_out()
        self.states.stop()
        self.outcome.status = status
        self._emit_exit(status)
        return self.outcome

    def read_out(self, within: float = 5.0) -> None:
        """Once the program has ended: its output and its tracer's lines read to
        their end (each reader is bounded), so what it printed is all in the outcome."""
        self._lines_done.wait(within)
        for thread in self._threads:
            thread.join(within)

    def _note_hang(self) -> None:
        with self.lab.bus.lock:
            self.outcome.hung = [(p.start.get("op", "?"), p.sock.side if p.sock else None,
                                  p.sock.conn if p.sock else None)
                                 for p in self.calls.pending()]
        self.outcome.hung_states = self.states.states()

    def stop(self) -> int | None:
        """SIGTERM to the program's process group, then SIGKILL; its status."""
        if self.proc is None:
            return None
        self.stopped = True
        for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll()

    def _emit_exit(self, status: int | None) -> None:
        lesson = None
        if self.outcome.timed_out:
            lesson = "the program was still running at the time limit: socklab stopped it"
        elif self.stopped and status is not None and status < 0:
            lesson = (f"socklab stopped the program (signal {-status}): the kernel closed "
                      "its sockets as it ended")
        elif status is not None and status < 0:
            lesson = f"the program was ended by signal {-status}"
        self.lab.bus.emit(side=self.calls.side or CLIENT, conn=None, op="exit", args=(),
                          result=status,
                          lesson=lesson, by="program", program=self.command.name)


def _message(line: bytes) -> dict | None:
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def _ack(fd: int) -> None:
    try:
        os.write(fd, b"k")
    except OSError:
        pass  # the program is gone


def run_program(lab: Lab, argv: list[str], side: str | None = None,
                timeout: float | None = None) -> tuple[ProgramRun, Outcome]:
    """Run ``argv`` to its end (or ``timeout``) with its calls in ``lab``'s log."""
    started = time.monotonic()
    run = ProgramRun(lab, argv, side).start()
    left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
    return run, run.wait(left)


@contextmanager
def running_program(lab: Lab, path: str) -> Iterator[ProgramRun]:
    """`lab_program` for the length of a block (the lab's screen), then stopped."""
    program = lab_program(lab, path)
    try:
        yield program
    finally:
        program.stop()


def lab_program(lab: Lab, path: str, *args: str) -> ProgramRun:
    """``socklab --server-program FILE``: the learner's server running beside the
    lab's panes, its calls (server side) and output in the lab's log; its stdin
    is empty (the terminal is the lab's).  The caller stops it."""
    return ProgramRun(lab, [sys.executable, path, *args], side="server", stdin=b"").start()


def pane_argv(program: str, args: str = "") -> list[str]:
    """A lab pane's "Program" fields as a command: ``program`` is a file (a path
    with spaces stays whole) or a command line (``python3 -m http.server``,
    ``nc -l 1024``); ``args`` are split as a shell would.  A Python file without
    ``.py`` that is not executable runs with this Python.  ProgramError (one
    line) for an empty field or a quote left open."""
    path = program.strip()
    try:
        head = [path] if path and os.path.exists(path) else shlex.split(path)
        argv = [*head, *shlex.split(args)]
    except ValueError as exc:  # No closing quotation, ...
        raise ProgramError(f"cannot read the command: {str(exc).lower()}") from None
    if not argv:
        raise ProgramError("choose a program: a Python file (server.py) or a command "
                           "(nc -l 1024)")
    first = argv[0]
    if os.path.isdir(first):
        raise ProgramError(f"{first}: a folder, not a program")
    if os.path.isfile(first) and not first.endswith(".py") and not os.access(first, os.X_OK):
        argv = [sys.executable, *argv]
    return argv


def pane_program(lab: Lab, argv: list[str], side: str) -> ProgramRun:
    """A lab pane switched to "Program": the learner's program as that pane's
    side, started; its stdin is empty (the terminal is the lab's).  The caller
    stops it (`ProgramRun.stop`) and reaps it (`ProgramRun.wait`)."""
    return ProgramRun(lab, argv, side=side, stdin=b"").start()
