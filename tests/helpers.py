"""Shared test helpers: recording events, socket descriptors, running the CLI.

Everything here stays on loopback and bounds every wait in time, so a broken
engine makes a test fail (or skip with a reason), never hang.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socklab.engine import Endpoint, Lab, Server
from socklab.events import DONE, WAIT, Event

REPO = Path(__file__).resolve().parent.parent
#: Generous upper bound for anything that should happen "at once" on loopback.
#: It is a limit that turns a hang into a failure, never a speed assertion.
LIMIT = 15.0


# -- IPv6 ------------------------------------------------------------------------


def _probe_ipv6() -> str | None:
    """None if this machine can bind ``("::1", 0)``, else why not (trio's tutil)."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"cannot bind ('::1', 0): {exc}"
    return None


#: Why IPv6 tests are skipped here, or None when ::1 works.  Probed once.
IPV6_MISSING = _probe_ipv6()
HAS_IPV6 = IPV6_MISSING is None


# -- recording events ------------------------------------------------------------

#: Events that are the kernel's view of the calls, not calls (issue 10).
VIEW_OPS = frozenset({"state", "packet", "segments"})


class Recorder:
    """An event sink that keeps every event and lets a test wait for one.

    The engine calls sinks under its bus lock, from any thread; this one only
    appends and notifies, so it never blocks the engine.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = LIMIT,
                 what: str = "an event") -> Event:
        """The first event matching ``predicate``, waiting up to ``timeout``."""
        found: list[Event] = []

        def ready() -> bool:
            found[:] = [e for e in self.events if predicate(e)][:1]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise AssertionError(f"timed out waiting for {what}; saw:\n{self.dump()}")
        return found[0]

    def count(self, predicate: Callable[[Event], bool]) -> int:
        return sum(1 for e in self.snapshot() if predicate(e))

    def done(self) -> list[Event]:
        """The calls that ended (not the kernel's view of them: see `views`)."""
        return [e for e in self.snapshot() if e.phase == DONE and e.op not in VIEW_OPS]

    def views(self, op: str = "state") -> list[Event]:
        """The events that report what the kernel saw, not a call: "state"."""
        return [e for e in self.snapshot() if e.op == op]

    def ops(self, phase: str | None = DONE) -> list[tuple[str, int | None, str]]:
        """``(side, conn, op)`` for each call event of ``phase`` (None: all)."""
        return [(e.side, e.conn, e.op) for e in self.snapshot()
                if (phase is None or e.phase == phase) and e.op not in VIEW_OPS]

    def dump(self) -> str:
        from socklab.logformat import format_line

        return "\n".join(format_line(e) for e in self.events)


def where(**fields: Any) -> Callable[[Event], bool]:
    """A predicate: every named field of the event equals the given value."""
    return lambda e: all(getattr(e, k) == v for k, v in fields.items())


def assert_seq_increasing(events: Sequence[Event] | Sequence[dict[str, Any]]) -> None:
    seqs = [e["seq"] if isinstance(e, dict) else e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


def assert_waits_precede_dones(events: Iterable[Event]) -> None:
    """Every "wait" has exactly one later "done" with the same call id."""
    events = list(events)
    for wait in (e for e in events if e.phase == WAIT):
        assert wait.call > 0, wait
        dones = [e for e in events if e.phase == DONE and e.call == wait.call]
        assert len(dones) == 1, (wait, dones)
        assert dones[0].seq > wait.seq
        assert (dones[0].side, dones[0].op) == (wait.side, wait.op)


def assert_causal(events: Iterable[Event], sender: tuple[str, int | None],
                  receiver: tuple[str, int | None]) -> None:
    """At every recv, no more bytes have been received than sent by the sends
    begun before it.

    A send has begun once it is done, or once it is shown waiting: a send that
    finds the buffer full midway waits with some of its bytes out, and those may
    be received before it ends.  It counts from its wait, with the bytes its end
    reports (by its call id).  ``sender`` and ``receiver`` are ``(side, conn)``.
    Coalesced events count with their total ``nbytes``.
    """
    ordered = sorted(events, key=lambda e: e.seq)
    sends = ("send", "sendto")
    ended = {e.call: e.nbytes or 0 for e in ordered
             if (e.side, e.conn) == sender and e.op in sends and e.phase == DONE and e.ok
             and e.call}
    waited: set[int] = set()
    sent = received = 0
    for event in ordered:
        who = (event.side, event.conn)
        if who == sender and event.op in sends and event.phase == WAIT:
            waited.add(event.call)
            sent += ended.get(event.call, 0)
        if event.phase != DONE or not event.ok:
            continue
        if who == sender and event.op in sends and event.call not in waited:
            sent += event.nbytes or 0
        elif who == receiver and event.op in ("recv", "recvfrom"):
            received += event.nbytes or 0
            assert received <= sent, (
                f"#{event.seq} {event.op} brings the total received to {received} bytes, "
                f"but only {sent} had been reported sent before it"
            )


# -- descriptors ------------------------------------------------------------------


def socket_fds() -> set[int]:
    """This process's descriptors that are sockets (per /proc/self/fd)."""
    found = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                found.add(int(name))
        except OSError:
            continue  # the fd listing itself, or one closed meanwhile
    return found


def closed_port(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on (the kernel's pick, released at once)."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


# -- running the command -----------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for ``python -m socklab``: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("PYTHONDEVMODE", None)
    env.update(extra)
    return env


def cli_command(*args: str, dev: bool = False) -> list[str]:
    flags = ["-X", "dev", "-W", "error"] if dev else []
    return [sys.executable, *flags, "-m", "socklab", *args]


def run_cli(*args: str, timeout: float = 60.0, dev: bool = False,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``socklab ARGS`` to completion and capture its output as text."""
    return subprocess.run(
        cli_command(*args, dev=dev), capture_output=True, text=True, timeout=timeout,
        env=cli_env(), cwd=REPO, input=None if input is None else input.decode(),
        check=False,
    )


def json_events(stdout: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output; every non-empty line must be one JSON object."""
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert all(isinstance(e, dict) for e in events)
    return events


@dataclass
class Live:
    """A running ``socklab`` process whose output is read as it comes."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    seen: list[str]
    errors: list[str]
    readers: list[threading.Thread]

    def next_line(self, timeout: float = LIMIT) -> str | None:
        """The next stdout line, or None at end of output."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no output from socklab within {timeout}s; so far:\n" + "".join(self.seen)
            ) from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float = LIMIT) -> dict[str, Any]:
        """Read JSON lines until one matches ``predicate``."""
        for _ in range(10_000):
            line = self.next_line(timeout)
            if line is None:
                raise AssertionError("socklab ended before the expected event:\n"
                                     + "".join(self.seen) + "".join(self.errors))
            event = json.loads(line)
            if predicate(event):
                return event
        raise AssertionError("too many lines without the expected event")

    def finish(self, timeout: float = LIMIT) -> tuple[int, str, str]:
        """Wait for the exit; return (status, all stdout, all stderr)."""
        status = self.proc.wait(timeout=timeout)
        for _ in range(1_000_000):
            if self.next_line(timeout) is None:
                break
        for reader in self.readers:
            reader.join(timeout)
        return status, "".join(self.seen), "".join(self.errors)

    def stop(self) -> None:
        """Make sure the process is gone and its pipes are closed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=LIMIT)
        for reader in self.readers:
            reader.join(LIMIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _pump(stream: Any, put: Callable[[str | None], None]) -> None:
    try:
        for line in stream:
            put(line)
    finally:
        put(None)


def start_cli(*args: str, dev: bool = False, prefix: Sequence[str] = ()) -> Live:
    """Start ``socklab ARGS`` in the background, reading its output live
    (``prefix``: the command it runs under, such as ``unshare --net``)."""
    proc = subprocess.Popen(
        [*prefix, *cli_command(*args, dev=dev)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, env=cli_env(), cwd=REPO,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, lines.put), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, lambda s: s and errors.append(s)),
                         daemon=True),
    ]
    for reader in readers:
        reader.start()
    return Live(proc, lines, [], errors, readers)


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "ResourceWarning" not in stderr, stderr


# -- engine set-ups -------------------------------------------------------------------

#: The lecture's welcome exchange, as ``(side, conn, op)`` of its "done" events.
WELCOME_DONE = [
    ("server", None, "socket"),
    ("server", None, "bind"),
    ("server", None, "listen"),
    ("client", 1, "socket"),
    ("client", 1, "connect"),
    ("server", 1, "accept"),
    ("server", 1, "send"),
    ("client", 1, "recv"),
    ("server", 1, "close"),
    ("client", 1, "close"),
    ("server", None, "close"),
]


def loopback_host(family: int) -> str:
    return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def listening(lab: Lab, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM,
              backlog: int = 5) -> Server:
    """A server bound to loopback port 0 (and listening, for stream)."""
    server = lab.server(family, kind)
    assert server.socket().ok
    assert server.bind(loopback_host(family), 0).ok
    if kind == socket.SOCK_STREAM:
        assert server.listen(backlog).ok
    return server


def stream_pair(lab: Lab, family: int = socket.AF_INET) -> tuple[Server, Endpoint, Endpoint]:
    """``(server, accepted connection, client)``, connected over loopback TCP."""
    server = listening(lab, family)
    client = lab.client(family)
    assert client.socket().ok
    assert client.connect(loopback_host(family), server.local[1]).ok
    conn, event = server.accept(timeout=LIMIT)
    assert conn is not None, event
    return server, conn, client
