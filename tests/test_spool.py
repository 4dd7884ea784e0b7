"""The session's spool: every event kept on disk, read back in order.

Real events from a real Lab go in (through the bus, as the screen's bridge
hands them over), and what comes back out must write exactly the same saved
log, text and JSON Lines, as the events themselves.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace

from helpers import Recorder, stream_pair

from socklab.engine import GREETING, Lab
from socklab.logformat import write_events
from socklab.spool import Spool


def saved(events: list, json_lines: bool) -> str:
    out = io.StringIO()
    write_events(events, out, json_lines)
    return out.getvalue()


def test_events_come_back_as_they_went_in(lab: Lab, rec: Recorder) -> None:
    _server, conn, client = stream_pair(lab)
    conn.send(GREETING)
    client.recv(1024)
    conn.close()
    client.recv(1024)
    client.close()
    events = rec.snapshot()
    spool = Spool()
    try:
        for event in events:  # one batch per event, as small ticks would hand them
            spool.add([event])
        count, size = spool.written(10)
        assert count == len(events) == spool.added
        back = list(spool.events(size))
        assert [e.seq for e in back] == [e.seq for e in events]
        assert back == events  # every field the log shows (raw bytes are not kept)
        assert all(e.raw is None for e in back)
        for json_lines in (False, True):
            assert saved(back, json_lines) == saved(events, json_lines)
    finally:
        spool.close()


def test_only_what_was_written_before_the_mark_is_read(lab: Lab, rec: Recorder) -> None:
    stream_pair(lab)
    first = rec.snapshot()
    spool = Spool()
    try:
        spool.add(first)
        _count, size = spool.written(10)
        spool.add([replace(first[0], seq=first[-1].seq + 1)])
        spool.written(10)
        assert [e.seq for e in spool.events(size)] == [e.seq for e in first]
        assert len(list(spool.events())) == len(first) + 1
    finally:
        spool.close()


def test_a_value_that_cannot_be_pickled_is_kept_as_text(lab: Lab, rec: Recorder) -> None:
    stream_pair(lab)
    odd = replace(rec.snapshot()[0], result=lambda: None)  # nothing the engine makes
    spool = Spool()
    try:
        spool.add([odd])
        _count, size = spool.written(10)
        (back,) = spool.events(size)
        assert isinstance(back.result, str) and "lambda" in back.result
        assert back.seq == odd.seq
    finally:
        spool.close()


def test_closing_removes_the_file() -> None:
    spool = Spool()
    fd = spool._fd
    assert os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)")  # it never had a name
    spool.close()
    spool.close()
    assert spool.closed
