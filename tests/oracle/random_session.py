"""Random sessions: the lab's calls pressed in random order with random settings.

A Hypothesis `RuleBasedStateMachine` makes the requests the panes make
(`socklab.labcalls.Request` through `LabSession.request`), with random family,
type, port 0 for the server, backlog 0–8, SO_REUSEADDR, timeouts, recv sizes,
"connect ×N", targets and Reset.  Each example is one session: at its end the
session is closed and its log judged by the oracle against the capture and ss
samples of that stretch.  "No socket left after Reset" is checked at every
Reset (the lab's count, and ss: no socket of this process left but TIME_WAIT).

Runs only inside a namespace of its own with a `Recorder` (see `main`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from socklab.capture import watch_packets
from socklab.labcalls import CLIENT_CALLS, MODES, SERVER_CALLS, Request, Settings
from socklab.session import LabSession

from .checks import Violation
from .evidence import Evidence, Sample, parse_ss, segments_of
from .judgement import judge
from .recorder import Recorder

#: Every call a pane offers is pressed by one rule or another.
assert set(SERVER_CALLS) == {"run", "socket", "bind", "listen", "accept", "send", "recv",
                             "close"}
assert set(CLIENT_CALLS) == {"run", "socket", "connect", "connect-n", "send", "recv",
                             "shutdown", "close"}

#: How long a step waits for its calls (a call that waits longer goes on waiting).
STEP_WAIT = 0.05
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}
FAMILIES = [socket.AF_INET, socket.AF_INET6]
MESSAGES = [b"hello", b"GET / HTTP/1.0\r\n\r\n", b"x" * 3000, b""]
KINDS = st.sampled_from([socket.SOCK_STREAM, socket.SOCK_STREAM, socket.SOCK_DGRAM])
#: A pane's other fields: backlog 0-8, options, recv size, x N, which connection.
KNOBS = st.fixed_dictionaries({
    "backlog": st.integers(0, 8), "reuse": st.booleans(), "mode": st.sampled_from(MODES),
    "timeout": st.sampled_from([None, None, 0.0, 0.5]), "size": st.sampled_from([1, 16, 1024]),
    "message": st.sampled_from(MESSAGES), "count": st.integers(1, 4),
    "pick": st.integers(0, 3)})


@dataclass
class Tally:
    """What the random sessions did and found."""

    examples: int = 0
    steps: int = 0
    resets: int = 0
    violations: list[tuple[int, Violation]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    #: Called after each session (the tally written as it grows).
    after_each: Callable[[], None] = lambda: None


TALLY = Tally()
RECORDER: Recorder | None = None


def _own_sockets() -> list[str]:
    """ss lines of sockets this process still owns (TIME_WAIT has no owner)."""
    out = subprocess.run(["ss", "-tuanpH"], capture_output=True, text=True, timeout=5).stdout
    return [line for line in out.splitlines() if f"pid={os.getpid()}," in line]


class LabSessions(RuleBasedStateMachine):
    """One random session of the lab per example."""

    def __init__(self) -> None:
        super().__init__()
        assert RECORDER is not None
        self.events: list[dict] = []
        #: Invariants broken in this session (told with the oracle's violations).
        self.broken: list[Violation] = []
        self.start_bytes = RECORDER.mark()
        self.first_sample = RECORDER.sample_count
        self.session = LabSession()
        self.offset = self.session.lab.bus.now() - time.time()
        self.session.subscribe(lambda event: self.events.append(event.to_dict()))
        self.capture = watch_packets(self.session.lab)
        TALLY.examples += 1

    # -- what the panes know, from events only ------------------------------------------

    def _bound_port(self) -> int:
        for e in reversed(self.events):
            if e["side"] == "server" and e["op"] in ("bind", "listen") and e["ok"] \
                    and isinstance(e.get("result"), list):
                return e["result"][1]
        return 1  # nothing bound: a closed port (refused)

    def _conns(self, side: str) -> list[int]:
        return sorted({e["conn"] for e in self.events
                       if e["side"] == side and e["conn"] is not None})

    def _reply_to(self) -> tuple[str, int] | None:
        for e in reversed(self.events):
            peer = e.get("result")
            if e["side"] == "server" and e["op"] == "recvfrom" and e["ok"] \
                    and isinstance(peer, list) and len(peer) >= 2:
                return peer[0], peer[1]
        return None

    def _press(self, side: str, call: str, s: Settings, target: int | None) -> None:
        TALLY.steps += 1
        request = Request(side, call, s, target=target,
                          reply_to=self._reply_to() if side == "server" else None)
        self.session.request(request).wait(STEP_WAIT)

    # -- the rules --------------------------------------------------------------------

    @initialize(family=st.sampled_from(FAMILIES), serve=st.booleans(), kind=KINDS,
                knobs=KNOBS)
    def start(self, family: int, serve: bool, kind: int, knobs: dict) -> None:
        """The family for the session; half the sessions begin with Run server, so
        the calls that follow meet a listener more often than by chance."""
        self.family = family
        if serve:
            self._server("run", kind, knobs)

    def _server(self, call: str, kind: int, knobs: dict) -> None:
        s = Settings(self.family, kind, LOOPBACK[self.family], 0, knobs["message"],
                     backlog=knobs["backlog"], mode=knobs["mode"], recv_size=knobs["size"],
                     reuseaddr=knobs["reuse"], timeout=knobs["timeout"])
        conns = self._conns("server")
        pick = knobs["pick"]
        self._press("server", call, s, conns[pick % len(conns)] if conns and pick else None)

    def _client(self, call: str, kind: int, knobs: dict) -> None:
        s = Settings(self.family, kind, LOOPBACK[self.family], self._bound_port(),
                     knobs["message"], count=knobs["count"], recv_size=knobs["size"],
                     timeout=knobs["timeout"])
        conns = self._conns("client")
        pick = knobs["pick"]
        self._press("client", call, s, conns[pick % len(conns)] if conns and pick else None)

    # Four rules for the panes' calls and one for Reset, so Reset is one press in five.
    @rule(call=st.sampled_from(["run", "socket", "bind", "listen", "accept"]), kind=KINDS,
          knobs=KNOBS)
    def server_opens(self, call: str, kind: int, knobs: dict) -> None:
        self._server(call, kind, knobs)

    @rule(call=st.sampled_from(["send", "recv", "close", "run"]), kind=KINDS, knobs=KNOBS)
    def server_talks(self, call: str, kind: int, knobs: dict) -> None:
        self._server(call, kind, knobs)

    @rule(call=st.sampled_from(["run", "socket", "connect", "connect-n"]), kind=KINDS,
          knobs=KNOBS)
    def client_opens(self, call: str, kind: int, knobs: dict) -> None:
        self._client(call, kind, knobs)

    @rule(call=st.sampled_from(["send", "recv", "shutdown", "close", "run"]), kind=KINDS,
          knobs=KNOBS)
    def client_talks(self, call: str, kind: int, knobs: dict) -> None:
        self._client(call, kind, knobs)

    @rule(now=st.integers(0, 2))
    def reset(self, now: int) -> None:
        """Reset, one time in three (the others press nothing and are not counted):
        no socket may be left.  (Not a precondition on the lab's state: Hypothesis
        wants the same draws from the same choices.)"""
        if now:
            return
        TALLY.steps += 1
        TALLY.resets += 1
        self.session.reset()
        self._no_socket_left("Reset")

    def _no_socket_left(self, after: str) -> None:
        """The invariant, told as a violation (an exception would have Hypothesis replay
        a session whose threads never run the same way twice)."""
        left = self.session.open_sockets
        owned = _own_sockets()
        if left or owned:
            self.broken.append(Violation("invariant", None, f"after {after}: {left} lab "
                                         f"socket(s) open; owned by this process: {owned}"))

    def teardown(self) -> None:
        try:
            self._judge()
        except Exception as exc:  # the oracle's own failure is a finding too
            self.broken.append(Violation("invariant", None, "the session could not be "
                                         f"judged: {type(exc).__name__}: {exc}"))
        TALLY.violations.extend((TALLY.examples, v) for v in self.broken)
        if self.broken:
            self._keep()
        TALLY.after_each()

    def _judge(self) -> None:
        self.session.close()
        self.capture.stop()
        self._no_socket_left("quit")
        time.sleep(0.05)
        assert RECORDER is not None
        end = RECORDER.mark()
        pcap = RECORDER.read(self.start_bytes, end)
        samples = [Sample(x["t0"], x["t1"], x["ns"], parse_ss(x["text"]))
                   for x in RECORDER.samples_since(self.first_sample)]
        RECORDER.forget()
        evidence = Evidence(segments_of(pcap), samples, offset=self.offset)
        captured = getattr(self.capture, "captured", False)
        verdict = judge(list(self.events), evidence, packets_claimed=captured)
        for name, count in verdict.checked.items():
            TALLY.checked[name] = TALLY.checked.get(name, 0) + count
        self.broken += verdict.violations

    def _keep(self) -> None:
        """The log of a session with violations, kept to read (one JSON object a line)."""
        assert RECORDER is not None
        with (RECORDER.folder / f"example-{TALLY.examples}.jsonl").open("w") as out:
            out.writelines(json.dumps(e) + "\n" for e in list(self.events))


def run(examples: int, steps: int, derandomize: bool) -> Tally:
    """Run the machine (inside a namespace of one's own, with RECORDER started)."""
    chosen = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                      database=None, derandomize=derandomize,
                      suppress_health_check=list(HealthCheck))
    run_state_machine_as_test(LabSessions, settings=chosen)
    return TALLY


def _write(folder: Path, error: str | None) -> None:
    (folder / "tally.json").write_text(json.dumps({
        "examples": TALLY.examples, "steps": TALLY.steps, "resets": TALLY.resets,
        "checked": TALLY.checked, "error": error,
        "violations": [{"example": n, "check": v.check, "seq": v.seq, "message": v.message}
                       for n, v in TALLY.violations]}))


def main(argv: list[str]) -> int:
    """``python -m tests.oracle.random_session FOLDER EXAMPLES STEPS [--random]``, as
    root inside ``unshare -n``: writes FOLDER/tally.json (after every session too, so
    a long run stopped early still tells what it ran and found)."""
    global RECORDER
    folder, examples, steps = Path(argv[0]), int(argv[1]), int(argv[2])
    # In the lab's own process: listed less often, not to crowd its threads.
    RECORDER = Recorder(folder, every=0.02).start()
    TALLY.after_each = lambda: _write(folder, None)
    error = None
    try:
        for _attempt in range(5):  # after Hypothesis gave up, on with the rest
            left = examples - TALLY.examples
            if left <= 0:
                break
            try:
                run(left, steps, derandomize="--random" not in argv)
            except Exception as exc:  # told in the tally
                error = "".join(traceback.format_exception(exc))[-4000:]
    finally:
        RECORDER.stop()
    _write(folder, error)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
