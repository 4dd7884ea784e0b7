"""The event type and its JSON form: the log's contract (SPEC §3)."""

from __future__ import annotations

import dataclasses
import json
import threading
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socklab.events import (
    CLIENT,
    DATA_CAP,
    DONE,
    SERVER,
    WAIT,
    Event,
    EventBus,
    escape_bytes,
)
from socklab.logformat import format_line, hex_dump

SPEC_KEYS = {
    "seq", "t", "side", "conn", "op", "phase", "args", "ok", "result", "error",
    "lesson", "nbytes", "data",
}


def _event(**fields: object) -> Event:
    base: dict[str, object] = {"seq": 1, "t": 0.5, "side": SERVER, "conn": None, "op": "bind"}
    base.update(fields)
    return Event(**base)  # type: ignore[arg-type]


def _is_safe(text: str) -> bool:
    """No character a terminal could act on: controls, format chars, separators."""
    return all(
        unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
        for ch in text
    )


# -- the event ----------------------------------------------------------------------


def test_event_is_frozen() -> None:
    event = _event()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.ok = False  # type: ignore[misc]


def test_json_has_every_spec_key_with_the_right_types() -> None:
    event = _event(
        conn=3, op="recv", args=(1024,), result=5, nbytes=5, data="hello", phase=DONE,
    )
    obj = json.loads(event.to_json())
    assert SPEC_KEYS <= obj.keys()
    assert isinstance(obj["seq"], int) and obj["seq"] == 1
    assert isinstance(obj["t"], float)
    assert obj["side"] in (SERVER, CLIENT)
    assert obj["conn"] == 3
    assert obj["op"] == "recv"
    assert obj["phase"] in (WAIT, DONE)
    assert obj["args"] == [1024]
    assert obj["ok"] is True
    assert obj["result"] == 5
    assert obj["error"] is None and obj["lesson"] is None
    assert obj["nbytes"] == 5 and obj["data"] == "hello"


def test_json_of_a_failure_and_of_an_address() -> None:
    failed = _event(op="bind", args=(("127.0.0.1", 80),), ok=False, error="EACCES",
                    errno=13, lesson="ports below 1024 are privileged")
    obj = json.loads(failed.to_json())
    assert obj["ok"] is False and obj["error"] == "EACCES" and obj["errno"] == 13
    assert obj["lesson"] and obj["result"] is None
    assert obj["args"] == [["127.0.0.1", 80]]  # the address tuple is a JSON list
    assert obj["conn"] is None and obj["nbytes"] is None and obj["data"] is None
    bound = json.loads(_event(result=("127.0.0.1", 43210)).to_json())
    assert bound["result"] == ["127.0.0.1", 43210]


def test_json_line_is_one_seven_bit_line_whatever_the_payload() -> None:
    event = _event(op="recv", data=escape_bytes("café\n\x1b[31m\u202e".encode()), nbytes=13)
    line = event.to_json()
    assert "\n" not in line and line.isascii()
    assert json.loads(line)["data"] == "café\\n\\x1b[31m\\u202e"


def test_raw_bytes_are_not_in_json_nor_compared() -> None:
    a = _event(raw=b"abc")
    b = _event(raw=b"xyz")
    assert a == b
    assert "raw" not in a.to_dict()


def test_format_line_shows_seq_side_call_and_result() -> None:
    line = format_line(_event(seq=7, t=0.25, conn=1, op="accept", result=("127.0.0.1", 5000)))
    assert line.startswith("#7")
    assert "server[1]" in line and "accept()" in line and "('127.0.0.1', 5000)" in line
    waiting = format_line(_event(op="accept", phase=WAIT))
    assert "waiting" in waiting
    failed = format_line(_event(ok=False, error="EADDRINUSE", errno=98, lesson="taken"))
    assert "EADDRINUSE (98)" in failed and "taken" in failed


def test_hex_dump_has_offsets_hex_and_dots() -> None:
    lines = hex_dump(b"GET /\r\n" + bytes(range(16)))
    assert lines[0].startswith("00000000  47 45 54 20 2f 0d 0a")
    assert lines[0].endswith("GET /..".ljust(16, "."))
    assert lines[1].startswith("00000010")


# -- escaping untrusted payloads --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"\x1b[2J", "\\x1b[2J"),                 # ESC: no terminal escape gets through
        (b"\x9b31m", "\\x9b31m"),                 # C1 CSI as a raw (invalid UTF-8) byte
        ("\x9b31m".encode(), "\\x9b31m"),         # C1 CSI as UTF-8 (c2 9b)
        ("abc\u202edef".encode(), "abc\\u202edef"),  # RIGHT-TO-LEFT OVERRIDE
        (b"a\\b", "a\\\\b"),                      # backslash doubled: escapes are unambiguous
        (b"GET / HTTP/1.0\r\n\t", "GET / HTTP/1.0\\r\\n\\t"),
        (b"\x00\x7f", "\\x00\\x7f"),
        ("café ünïcødé 日本 🎉".encode(), "café ünïcødé 日本 🎉"),  # printable unicode kept
        ("\u2028".encode(), "\\u2028"),           # line separator
        (b"\xff\xfe", "\\xff\\xfe"),              # undecodable bytes
        (b"", ""),
    ],
)
def test_escape_bytes(raw: bytes, shown: str) -> None:
    assert escape_bytes(raw) == shown


def test_escape_bytes_caps_and_says_how_much_is_left() -> None:
    data = b"x" * (DATA_CAP + 100)
    text = escape_bytes(data)
    assert text == "x" * DATA_CAP + "… +100 bytes"
    assert escape_bytes(b"abcdef", cap=4) == "abcd… +2 bytes"
    assert escape_bytes(b"abcd", cap=4) == "abcd"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_escape_bytes_never_lets_a_control_character_through(data: bytes) -> None:
    text = escape_bytes(data)
    assert _is_safe(text), ascii(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_escape_bytes_of_any_text_is_safe(text: str) -> None:
    shown = escape_bytes(text.encode("utf-8", "surrogatepass"), cap=10_000)
    assert _is_safe(shown), ascii(shown)
    if text.isprintable() and "\\" not in text:
        assert shown == text  # nothing to escape: shown as it is


# -- the bus: one global order ----------------------------------------------------------


def test_bus_numbers_events_from_one_and_times_them_from_start() -> None:
    ticks = iter([100.0, 100.5, 101.25])
    bus = EventBus(clock=lambda: next(ticks))
    first = bus.emit(side=SERVER, conn=None, op="socket")
    second = bus.emit(side=CLIENT, conn=1, op="socket")
    assert (first.seq, first.t) == (1, 0.5)
    assert (second.seq, second.t) == (2, 1.25)


def test_bus_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    got: list[Event] = []
    unsubscribe = bus.subscribe(got.append)
    bus.emit(side=SERVER, conn=None, op="socket")
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.emit(side=SERVER, conn=None, op="bind")
    assert [e.op for e in got] == ["socket"]


def test_bus_seq_is_strictly_increasing_across_threads() -> None:
    bus = EventBus()
    delivered: list[int] = []
    bus.subscribe(lambda e: delivered.append(e.seq))
    threads_n, per_thread = 8, 500
    start = threading.Barrier(threads_n)
    returned: list[list[int]] = [[] for _ in range(threads_n)]

    def emit_many(index: int) -> None:
        start.wait(timeout=30)
        for _ in range(per_thread):
            returned[index].append(bus.emit(side=CLIENT, conn=index, op="send").seq)

    threads = [threading.Thread(target=emit_many, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    total = threads_n * per_thread
    # Sinks see one order, with no gaps and no repeats ...
    assert delivered == list(range(1, total + 1))
    # ... and each thread's own events are numbered in the order it made them.
    for seqs in returned:
        assert seqs == sorted(seqs) and len(seqs) == per_thread
    assert sorted(s for seqs in returned for s in seqs) == delivered


def test_new_call_ids_are_unique() -> None:
    bus = EventBus()
    ids = {bus.new_call() for _ in range(100)}
    assert len(ids) == 100 and 0 not in ids
