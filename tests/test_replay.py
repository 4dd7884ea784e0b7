"""socklab replay: saved logs read back exactly, bad files named by line, the
replay screen stepping back and forward over the shipped sessions and a log the
real lab saved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pilot import is_, settle, watch

from socklab.demos import run_demo
from socklab.logmodel import MAIN
from socklab.replay import NotALog, load, parse_lines, recording_names, recording_path
from socklab.ui.app import SocklabApp
from socklab.ui.replay import ReplayApp
from socklab.ui.replay_sides import side_text
from socklab.ui.wire_view import WireView


def _demo_log(tmp_path: Path, name: str) -> Path:
    lines: list[str] = []
    run_demo(name, lambda event: lines.append(event.to_json()))
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_a_saved_log_reads_back_as_the_events_that_were_logged(tmp_path):
    path = _demo_log(tmp_path, "echo")
    recording = load(path)
    lines = path.read_text().splitlines()
    assert [event.to_json() for event in recording.events] == lines
    assert recording.truncated is None


def test_the_shipped_sessions_have_packets_and_the_queue():
    assert {"welcome", "backlog"} <= set(recording_names())
    welcome = load(recording_path("welcome")).events
    assert any(e.op == "packet" and e.result["flags"] == ["SYN"] for e in welcome)
    assert [e.op for e in welcome if e.side == "server" and e.op in ("socket", "bind",
            "listen", "accept")] == ["socket", "bind", "listen", "accept"]
    backlog = load(recording_path("backlog")).events
    queues = [e.result["queue"] for e in backlog if e.op == "state" and "queue" in e.result]
    limit = next(e.result["backlog"] for e in backlog if e.op == "state" and "queue" in e.result)
    assert max(queues) == limit + 1  # Linux admits backlog + 1 before it stops answering


@pytest.mark.parametrize(("text", "said"), [
    ('{"seq": 1, "t": 0, "side": "server", "op": "socket"}\nnot json\n{"seq": 2}\n',
     "line 2: not JSON"),
    ('{"seq": 1, "t": 0, "side": "server", "op": "socket"}\n{"seq": 2, "t": 1}\n',
     "line 2: not a socklab event (no 'side', 'op')"),
    ('[1, 2]\n', "line 1: not a socklab event (a JSON list"),
    ('{"seq": "x", "t": 0, "side": "s", "op": "o"}\n', "line 1: not a socklab event"),
    ('\n\n', "no events in it"),
])
def test_a_file_that_is_not_a_log_is_named_by_its_line(text, said):
    with pytest.raises(NotALog) as caught:
        parse_lines(text.splitlines(keepends=True), "x.jsonl")
    assert said in str(caught.value)


def test_a_cut_short_last_line_plays_what_is_there(tmp_path):
    path = _demo_log(tmp_path, "welcome")
    data = path.read_text()
    path.write_text(data[:-40], encoding="utf-8")  # stopped mid-line
    recording = load(path)
    assert len(recording.events) == len(data.splitlines()) - 1
    assert f"line {len(data.splitlines())} is cut short" in (recording.truncated or "")


def test_replay_of_a_bad_file_is_one_line_and_status_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seq": 1, "t": 0, "side": "server", "op": "socket"}\n{oops\n{}\n')
    done = subprocess.run([sys.executable, "-m", "socklab", "replay", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"socklab: {bad}: line 2: not JSON (Expecting property name enclosed in double "
        "quotes, column 2)"]
    assert done.stdout == ""


def _cursor_seq(app: ReplayApp) -> int | None:
    log = app.event_log
    return None if log.cursor is None else log.buffer.rows[log.cursor].event.seq


async def test_replay_steps_back_and_forward_and_the_views_follow():
    recording = load(recording_path("backlog"))
    events = recording.events
    app = ReplayApp(recording)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        # The whole session is in the log, the cursor on the last event.
        assert sum(row.kind == MAIN for row in app.event_log.buffer.rows) == len(events)
        assert app.position == len(events) - 1 and _cursor_seq(app) == events[-1].seq
        full = next(i for i, e in enumerate(events) if e.op == "state"
                    and e.result.get("queue", 0) > e.result.get("backlog", 99))
        await pilot.press("home")
        assert _cursor_seq(app) == events[0].seq
        assert "not bound" in side_text(app._view, "server").plain  # socket() only
        assert "no socket yet" in side_text(app._view, "client").plain
        for _ in range(full):
            await pilot.press("right")
        assert app.position == full and _cursor_seq(app) == events[full].seq
        assert "FULL" in side_text(app._view, "server").plain
        await pilot.press("left")  # one back: the queue is not full yet
        assert app.position == full - 1
        assert "FULL" not in side_text(app._view, "server").plain
        await pilot.press("right")
        assert "FULL" in side_text(app._view, "server").plain


async def test_the_wire_tab_follows_the_replay():
    recording = load(recording_path("welcome"))
    events = recording.events
    app = ReplayApp(recording)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        wire = app.query_one(WireView)
        assert wire.diagram.connections  # the whole session: its connection is drawn
        first_packet = next(i for i, e in enumerate(events) if e.op == "packet")
        app.go(first_packet - 1)
        assert not wire.diagram.connections  # before the SYN, the wire was quiet
        await pilot.press("right")
        assert wire.diagram.connections


class _Recorded(ReplayApp):
    """The replay, noting every event it stood at."""

    shown: list[int]

    def show(self) -> None:
        self.__dict__.setdefault("shown", []).append(self.position)
        super().show()


async def test_play_goes_from_the_start_to_the_end_at_the_chosen_speed():
    recording = load(recording_path("welcome"))
    last = len(recording.events) - 1
    app = _Recorded(recording, speed=16.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.shown[-1] == last and not app.playing
        app.shown.clear()
        await pilot.press("space")
        for _ in range(400):  # bounded: 28 events at 16x take about a second
            if not app.playing:
                break
            await pilot.pause(0.02)
        assert not app.playing
        assert app.shown == list(range(0, last + 1))  # from the start, each event in order
        await pilot.press("minus")
        assert app.speed == 8.0
        assert app.delay(0) == 0.5 / 8.0  # a loopback gap is shown for STEP at least


async def test_a_log_the_real_lab_saved_replays(tmp_path):
    lab = SocklabApp(save_dir=tmp_path)
    async with lab.run_test(size=(120, 36)) as pilot:
        lab.server_pane.input("port").value = "0"
        await settle(lab, pilot)
        lab.server_pane.press("run")
        await watch(lab).until(is_("server", "accept", "wait"))
        lab.client_pane.press("run")
        await watch(lab).until(is_("client", "close"))
        await settle(lab, pilot)
        await pilot.press("j")
        await lab.workers.wait_for_complete()
    saved = next(tmp_path.glob("socklab-log-*.jsonl"))
    recording = load(saved)
    assert json.loads(saved.read_text().splitlines()[-1])["seq"] == recording.events[-1].seq
    app = ReplayApp(recording)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("left", "left")
        assert app.position == len(recording.events) - 3
        await pilot.press("end")
        assert _cursor_seq(app) == recording.events[-1].seq
