"""The event: one real socket call, as the log shows it.

This module is the log's contract (SPEC §3).  It imports nothing from textual or
rich: the engine, the headless commands and the tests all share it.

Payload bytes come from the network and are untrusted.  They only ever reach an
event as *escaped text*: ``data`` is the bytes decoded as UTF-8 with every
character that is not plainly printable (and every byte that is not UTF-8)
shown as a visible ``\\xNN`` / ``\\uNNNN`` escape (`escape_bytes`), and
``bytes_repr`` is Python's own ``repr(bytes)`` (pure ASCII).  Nothing a peer
sends can act as a terminal escape sequence, and both are capped.
"""

from __future__ import annotations

import enum
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class State(enum.StrEnum):
    """Where a socket is, as the lab shows it (compares equal to the text): the
    engine's endpoints and the view model's sockets say it with these words."""

    NEW = "new"
    OPEN = "open"
    CONNECTED = "connected"
    PEER_CLOSED = "peer closed"
    CLOSED = "closed"


SERVER = "server"
CLIENT = "client"
WAIT = "wait"
DONE = "done"
#: A learner's answer to a lesson's question: phase "wait" when answered, "done"
#: once the event it is about came.  args [question, answer]; result {"question",
#: "answer", and when done "actual" (what the event showed) and "held" (bool)}.
PREDICT = "predict"

#: Ops that are not a call a program made but what the lab observed, in the same
#: order (SPEC §3): the kernel's view (``state``, and ``tcp_info``: TCP_INFO's rtt,
#: cwnd, segments sent again and unacked on a two-hosts cable with conditions), the
#: wire (``packet``, ``segments``), a demo's ``case``, and ``cable``: a change of the
#: two-hosts cable's conditions (or, with ``counts``, what it did to the packets).
OBSERVATIONS = frozenset({"state", "tcp_info", "packet", "segments", "case", "cable"})

#: Payload text shown per event; the true byte count is always in ``nbytes``.
DATA_CAP = 512
#: Payload bytes an event keeps for the detail and hex views (not in JSON):
#: enough for every recv the lab's own buttons and modes make (1024 or 4096).
RAW_CAP = 4096

#: Unicode categories shown as escapes: controls, format characters (bidi
#: overrides such as U+202E live here), line/paragraph separators, surrogates,
#: private use and unassigned code points.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_SIMPLE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# ASCII is by far the common case: a table makes it one lookup per character.
_ASCII = [
    _SIMPLE_ESCAPES.get(chr(i), chr(i)) if 0x20 <= i < 0x7F or chr(i) in _SIMPLE_ESCAPES
    else f"\\x{i:02x}"
    for i in range(128)
]


#: What `escape_text` looks at: all but printable ASCII (the backslash included).
_NOT_PLAIN = re.compile(r"[^\x20-\x7e]")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 128:
        return _ASCII[code]
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
        return f"\\x{code:02x}" if code <= 0xFF else (
            f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
        )
    return ch


def escape_bytes(data: bytes, cap: int = DATA_CAP) -> str:
    """Bytes from the network as safe, visible text.

    Valid UTF-8 letters stay readable (``café``), everything else is escaped:
    ESC becomes ``\\x1b``, the C1 control CSI becomes ``\\x9b`` whether it came
    as a raw byte or as UTF-8, U+202E becomes ``\\u202e``, a backslash becomes
    ``\\\\``.  At most ``cap`` bytes are shown; the rest is summarised as
    ``… +N bytes``.
    """
    shown = data[:cap]
    text = shown.decode("utf-8", "surrogateescape")
    if text.isascii() and text.isprintable() and "\\" not in text:
        out = text
    else:
        out = "".join(map(_escape_char, text))
    if len(data) > cap:
        out += f"… +{len(data) - cap} bytes"
    return out


def escape_text(text: str, keep: str = "") -> str:
    """Text read from a file (a replay, a lesson) made as safe as `escape_bytes`
    makes network bytes: the same escapes for every character a terminal would
    act on (ESC, C1 controls, bidi overrides, lone surrogates).  Backslashes
    stay as they are (a replay's text was escaped once already when it was
    logged: ``\\x1b`` stays four characters, never ESC), and so do the
    characters in ``keep`` (a lesson's line ends).  Not capped: the file's own
    limits apply."""
    if text.isascii() and text.isprintable():
        return text
    return _NOT_PLAIN.sub(lambda found: found[0] if found[0] in keep
                          else _escape_char(found[0]), text)


def bytes_repr(data: bytes, cap: int = DATA_CAP) -> str:
    """The payload exactly as Python's ``repr(bytes)`` writes it: ``b'h\\xc3\\xa9llo'``.

    This is what ``print(data)`` shows a learner, so the lecture's point (bytes
    are not text until decoded) stays visible.  It is pure ASCII, every control
    byte escaped, so it is safe on any terminal.  At most ``cap`` bytes are
    shown; the rest is summarised as ``… +N bytes``, as `escape_bytes` does.
    """
    out = repr(bytes(data[:cap]))
    if len(data) > cap:
        out += f"… +{len(data) - cap} bytes"
    return out


@dataclass(frozen=True, slots=True)
class Event:
    """One socket call (or one phase of it).

    A call that blocks produces two events with the same ``call`` id: ``phase``
    "wait" when it starts waiting, then "done" when it returns or fails.  A
    flood of the same call on one connection is coalesced into one event whose
    ``count`` says how many calls it stands for and ``nbytes`` their total.
    """

    seq: int
    t: float
    side: str
    conn: int | None
    op: str
    phase: str = DONE
    args: tuple = ()
    ok: bool = True
    result: Any = None
    error: str | None = None
    lesson: str | None = None
    nbytes: int | None = None
    data: str | None = None
    count: int = 1
    errno: int | None = None
    call: int = 0
    #: Who made the call when it was not the learner: "lab" for the lab's own closes,
    #: "program" for a call of a learner's program run by socklab (socklab.program).
    by: str | None = None
    #: Two-hosts mode: the host the call was made on ("A", "B"); None: this machine.
    host: str | None = None
    #: The payload as Python's repr(bytes) writes it (capped; see `bytes_repr`).
    #: ``data`` keeps its meaning: the bytes decoded as UTF-8, errors escaped.
    bytes_repr: str | None = None
    #: accept(): the lab's number of the client at the other end (client[n]),
    #: when the connection came from one of the lab's own clients.
    peer_conn: int | None = None
    #: by "program": the program's name (``myclient.py``, ``nc``).
    program: str | None = None
    #: The first bytes of the payload (capped), for the hex view; not in JSON.
    raw: bytes | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "t": round(self.t, 6),
            "side": self.side,
            "conn": self.conn,
            "op": self.op,
            "phase": self.phase,
            "args": list(self.args),
            "ok": self.ok,
            "result": self.result,
            "error": self.error,
            "errno": self.errno,
            "lesson": self.lesson,
            "nbytes": self.nbytes,
            "data": self.data,
            "count": self.count,
            "by": self.by,
            "host": self.host,
            "bytes_repr": self.bytes_repr,
            "peer_conn": self.peer_conn,
            "program": self.program,
        }

    def to_json(self) -> str:
        # ensure_ascii keeps the line 7-bit clean: nothing in a JSON line can be
        # a raw control character, whatever the payload was.
        return json.dumps(self.to_dict(), ensure_ascii=True, default=_json_default)

    @property
    def waiting(self) -> bool:
        return self.phase == WAIT


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return str(value)


Sink = Callable[[Event], None]


class EventBus:
    """Gives every event its place in one global order and hands it to sinks.

    ``lock`` is held while an event is numbered and delivered, and the engine
    also holds it across calls whose effect another thread can observe (send,
    close): so the log can never show a recv before the send whose bytes it
    returns.  Sinks run under the lock: they must be quick and never block
    (the TUI's sink only appends to a queue).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.lock = threading.RLock()
        #: Notified when a wait that a close ended has reported its end (see
        #: `Endpoint.close`): the closer waits on it, the lock released meanwhile.
        self.changed = threading.Condition(self.lock)
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._seq = 0
        self._call = 0
        #: The time of the last event numbered with the lab's own clock.
        self._last_t = 0.0
        self._sinks: list[Sink] = []
        #: Two-hosts mode: the host of each side, stamped on its events as ``host``.
        self.hosts: dict[str, str] | None = None
        #: Run after every sink saw an event (still under the lock, same thread):
        #: what they emit comes after that event for every sink.
        self._after: list[Sink] = []
        #: The hooks added with ``present`` (they stay ahead of every other).
        self._present: set[Sink] = set()
        #: Run before each event is numbered (under the lock): what it emits comes
        #: first (the engine's floods say a send whose bytes are out: `Floods.settle`).
        self.before: Callable[[], None] | None = None

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        return self._join(self._sinks, sink)

    def after_emit(self, hook: Sink, first: bool = False,
                   present: bool = False) -> Callable[[], None]:
        """Have ``hook`` see each event once every sink has (the kernel view's moments).

        ``first``: before the hooks already there (packet capture: the segments a
        call sent come right after it, before the states they changed).
        ``present``: before those too, whenever added (the kernel view: it reads
        the states, then has the capture report each segment with the state it
        caused right after it)."""
        remove = self._join(self._after, hook)
        if first or present:
            with self.lock:
                self._after.remove(hook)
                at = 0 if present else sum(1 for h in self._after if h in self._present)
                self._after.insert(at, hook)
                if present:
                    self._present.add(hook)
        return remove

    def _join(self, hooks: list[Sink], hook: Sink) -> Callable[[], None]:
        """Add ``hook`` to ``hooks``; returns what removes it."""
        with self.lock:
            hooks.append(hook)

        def unsubscribe() -> None:
            with self.lock:
                if hook in hooks:
                    hooks.remove(hook)

        return unsubscribe

    def new_call(self) -> int:
        with self.lock:
            self._call += 1
            return self._call

    def now(self) -> float:
        return self._clock() - self._start

    def emit(self, t: float | None = None, since: float | None = None,
             **fields: Any) -> Event:
        """Number an event and hand it to every sink; ``t`` defaults to now
        (a captured packet brings the kernel's own time, on this clock).

        ``since``: the time a call began, given to its first event (never
        earlier than an event already numbered without a time of its own)."""
        with self.lock:
            if self.before is not None:
                self.before()
            self._seq += 1
            if self.hosts is not None and "host" not in fields:
                fields["host"] = self.hosts.get(fields.get("side", ""))
            if t is None:
                t = self._clock() - self._start
                if since is not None:
                    t = max(since, self._last_t)
                self._last_t = t
            event = Event(seq=self._seq, t=t, **fields)
            for sink in self._sinks:
                sink(event)
            for hook in self._after:
                hook(event)
            return event
