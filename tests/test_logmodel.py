"""The log's model (socklab.logmodel) and the one line formatter it draws from.

UI-free: the rows the lab screen shows are built here from `line_parts`, the
same parts the commands print, so what is tested here is what both show.
"""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from socklab.events import CLIENT, DONE, SERVER, WAIT, Event
from socklab.logformat import LESSON_INDENT, format_line, line_parts
from socklab.logmodel import (
    HEX,
    HEX_HINT,
    LESSON,
    MAIN,
    MORE,
    VIEW_COALESCE_AT,
    LogBuffer,
    coalesce,
    fold_parts,
    main_parts,
    narrow_parts,
)


def _event(**fields: object) -> Event:
    base: dict[str, object] = {"seq": 1, "t": 0.5, "side": SERVER, "conn": None, "op": "bind"}
    base.update(fields)
    return Event(**base)  # type: ignore[arg-type]


def _text(parts: object) -> str:
    return "".join(text for text, _ in parts)  # type: ignore[attr-defined]


def _buffer(**fields: object) -> LogBuffer:
    return LogBuffer(cell_len, **fields)  # type: ignore[arg-type]


EXAMPLES = [
    _event(seq=7, t=0.25, conn=1, op="accept", result=("127.0.0.1", 5000)),
    _event(op="accept", phase=WAIT, call=3),
    _event(op="bind", args=(("127.0.0.1", 80),), ok=False, error="EACCES", errno=13,
           lesson="ports below 1024 need privileges"),
    _event(side=CLIENT, conn=2, op="recv", args=(1024,), result=5, nbytes=5, data="hello",
           raw=b"hello"),
    _event(side=CLIENT, op="send", args=(), result=5, nbytes=5, data="hello", raw=b"hello"),
    _event(op="recv", args=(1024,), result=75 << 20, nbytes=75 << 20, count=1200),
    _event(seq=123_456, t=12_345.5, op="close"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.op}-{e.phase}")
def test_the_printed_line_is_the_screen_line(event: Event) -> None:
    """One formatter: the command's line is the text of the parts the log draws."""
    printed = format_line(event).split("\n")
    assert printed[0] == _text(line_parts(event))
    shown = _text(main_parts(event))
    assert shown == printed[0] + (HEX_HINT[0] if event.raw else "")
    if event.lesson:
        assert printed[1] == f"{LESSON_INDENT}{event.error}: {event.lesson}"
    else:
        assert len(printed) == 1


def test_parts_carry_the_side_and_result_styles() -> None:
    failed = line_parts(EXAMPLES[2])
    assert ("EACCES (13)", "error") in failed
    assert (f"{'server':<10} ", "server") in failed
    received = line_parts(EXAMPLES[3])
    assert ("  b'hello'", "data") in received and (f"{'client[2]':<10} ", "client") in received
    assert line_parts(EXAMPLES[1])[-1] == ("waiting…", "wait")
    assert line_parts(EXAMPLES[1], resolved=True)[-1] == ("waited", "dim")


def test_a_repeated_call_is_formatted_once() -> None:
    """A flood repeats the same call with new numbers: its parts are reused."""
    a = line_parts(_event(seq=10, t=1.0, op="send", args=(), result=3, data="abc"))
    b = line_parts(_event(seq=11, t=1.5, op="send", args=(), result=3, data="abc"))
    assert a[:3] != b[:3] and a[3] is b[3]
    # True == 1 as a key, but they print differently
    assert _text(line_parts(_event(result=True))) != _text(line_parts(_event(result=1)))


def test_widths_are_terminal_cells_of_the_drawn_text() -> None:
    buffer = _buffer()
    wide = [_event(seq=1, side=CLIENT, op="recv", args=(64,), result=9, nbytes=9,
                   data="日本語", raw="日本語".encode()),
            _event(seq=2, side=CLIENT, op="recv", args=(64,), result=9, nbytes=9,
                   data="e\u0301te\u0301", raw="e\u0301te\u0301".encode()),
            *EXAMPLES]
    buffer.add_events(wide)
    for row in buffer.rows:
        assert row.width == cell_len(_text(row.parts)), row
    assert buffer.width == max(row.width for row in buffer.rows)


def test_a_wait_row_stays_and_says_waited_once_its_call_returns() -> None:
    buffer = _buffer()
    buffer.add_events([_event(seq=1, op="accept", phase=WAIT, call=9)])
    waiting = buffer.rows[0]
    _trimmed, changed = buffer.add_events(
        [_event(seq=2, op="accept", phase=DONE, call=9, result=("127.0.0.1", 4000))])
    assert changed == {waiting.serial}
    assert _text(waiting.parts).endswith("→ waited")
    assert [r.event.seq for r in buffer.rows] == [1, 2]


def test_the_buffer_is_bounded_and_counts_what_it_dropped() -> None:
    buffer = _buffer(max_rows=100)
    for start in range(0, 3_000, 100):
        buffer.add_events([_event(seq=n + 1, op="close") for n in range(start, start + 100)])
    assert len(buffer.rows) <= 100 + 1_000
    assert buffer.received == 3_000
    assert buffer.dropped + len(buffer.rows) == 3_000
    assert buffer.rows[-1].event.seq == 3_000


def test_a_huge_batch_is_coalesced_with_every_byte_counted() -> None:
    n = VIEW_COALESCE_AT + 1
    batch = [_event(seq=i + 1, side=CLIENT, conn=1, op="recv", args=(10,), result=10,
                    nbytes=10, data="0123456789") for i in range(n)]
    buffer = _buffer()
    buffer.add_events(batch)
    (row,) = buffer.rows
    assert row.event.count == n and row.event.nbytes == 10 * n
    assert row.event.seq == n and "in all" in _text(row.parts)
    assert buffer.received == n


def test_coalesce_keeps_failures_lessons_and_other_sockets_apart() -> None:
    sends = [_event(seq=i, op="send", conn=1, result=1, nbytes=1) for i in (1, 2)]
    other = _event(seq=3, op="send", conn=2, result=1, nbytes=1)
    failed = _event(seq=4, op="send", conn=2, ok=False, error="EPIPE", lesson="gone")
    merged = coalesce([*sends, other, failed])
    assert [(e.seq, e.count) for e in merged] == [(2, 2), (3, 1), (4, 1)]


def test_lessons_wrap_to_the_width_and_rewrap_when_it_changes() -> None:
    lesson = "another socket already owns this port; pick another or wait " * 3
    event = _event(ok=False, error="EADDRINUSE", errno=98, lesson=lesson.strip())
    buffer = _buffer(wrap=40)
    buffer.add_events([event])
    narrow = [r for r in buffer.rows if r.kind == LESSON]
    assert len(narrow) > 3 and all(r.width <= 40 for r in narrow)
    assert _text(narrow[0].parts).startswith(f"{LESSON_INDENT}EADDRINUSE: another")
    assert buffer.rewrap(200) and not buffer.rewrap(200)
    assert len([r for r in buffer.rows if r.kind == LESSON]) == 1
    words = " ".join(_text(r.parts).replace("↳", "") for r in narrow).split()
    assert words == f"EADDRINUSE: {lesson}".split()


def test_a_narrow_log_folds_a_wide_call_at_its_arrow_and_unfolds_when_wide() -> None:
    connect = _event(seq=7, side=CLIENT, conn=1, op="connect", args=(("127.0.0.1", 44327),),
                     result=("127.0.0.1", 37466))
    waiting = _event(seq=8, side=CLIENT, conn=2, op="connect", phase=WAIT, call=3,
                     args=(("127.0.0.1", 44327),))
    short = _event(seq=9, side=CLIENT, conn=1, op="close")
    buffer = _buffer()
    buffer.add_events([connect])
    assert buffer.rewrap(60, fold=True)
    buffer.add_events([waiting, short])
    kinds = [(row.event.seq, row.kind) for row in buffer.rows]
    assert kinds == [(7, MAIN), (7, MORE), (8, MAIN), (9, MAIN)]
    call, rest = fold_parts(narrow_parts(buffer.rows[0].parts))
    assert buffer.rows[0].folded and rest is not None
    assert _text(call) == "#7     client[1]  connect(('127.0.0.1', 44327))"
    assert _text(buffer.rows[1].parts) == " " * 18 + "→ " + _text(
        line_parts(connect)).split(" → ", 1)[1]
    assert buffer.event_index(1) == 0 and buffer.events() == [connect, waiting, short]
    assert buffer.rewrap(200) and [row.kind for row in buffer.rows] == [MAIN] * 3
    assert not buffer.rows[0].folded


def test_hex_opens_under_its_event_and_closes_again() -> None:
    payload = bytes(range(40))
    event = _event(seq=1, side=CLIENT, op="recv", args=(64,), result=40, nbytes=100,
                   data="x", raw=payload)
    buffer = _buffer()
    buffer.add_events([event, _event(seq=2, op="close")])
    assert buffer.last_with_payload() == 0
    assert buffer.toggle_hex(0)
    kinds = [r.kind for r in buffer.rows]
    assert kinds == [MAIN, HEX, HEX, HEX, HEX, MAIN]
    assert _text(buffer.rows[1].parts).strip().startswith("00000000  00 01 02")
    assert _text(buffer.rows[4].parts).strip() == "… 60 more bytes"
    assert buffer.toggle_hex(2)  # from a hex row: the same event's dump closes
    assert [r.kind for r in buffer.rows] == [MAIN, MAIN]
    assert not buffer.toggle_hex(1)  # close() carries no bytes


# -- the widget over the model (Pilot) ----------------------------------------------------


async def test_the_log_cursor_moves_by_row_page_and_end() -> None:
    """↑ with no selection picks the newest row; PgUp moves a screen; Home, End,
    Escape; the selected row stays on screen."""
    from textual.app import App, ComposeResult

    from socklab.ui.event_log import EventLog

    class LogApp(App[None]):
        def compose(self) -> ComposeResult:
            yield EventLog()

    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        log.add_events([_event(seq=n, op="close") for n in range(1, 101)])
        log.focus()
        await pilot.pause()
        assert log.cursor is None
        await pilot.press("up")
        assert log.cursor == 99
        await pilot.press("pageup")
        assert log.cursor == 99 - log.page and log.page == log.scrollable_content_region.height
        assert log.scroll_y <= log.cursor < log.scroll_y + log.page
        await pilot.press("home")
        assert log.cursor == 0 and log.scroll_y == 0
        await pilot.press("end", "down")
        assert log.cursor == 99 and log.scroll_y == log.max_scroll_y
        await pilot.press("escape")
        assert log.cursor is None
