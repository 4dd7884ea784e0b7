"""Replay files and lesson files are untrusted: a bad one is exit 2 naming its line,
a hostile one is shown inert (issue 23, item 1).

Replays are made to be shared (a teacher opens a student's file), lessons too.
Each field of an event line gets terminal escapes (a window title, the
clipboard through OSC 52, C1 CSI, a bidi override, BEL): the file is either
refused with its line number or replayed with every one of them shown as a
visible escape.  Every number form a JSON reader accepts that no event holds
(1e999, -1e999, NaN, a 5,000-digit integer, a negative seq), nesting 100,000
deep and a file over the size limit are each one line and exit 2, never a
traceback.  The terminal test reads the bytes the replay and the lesson wrote
to a real terminal (tmux ``pipe-pane``): none of the file's sequences is there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import LIMIT, cli_command, cli_env, no_traceback, run_cli
from test_terminal import TMUX, Terminal, gone
from test_untrusted import assert_safe_text

from socklab.guided import LessonFormatError, load_lesson
from socklab.replay import MAX_BYTES, NotALog, load
from socklab.ui.replay import ReplayApp

#: The issue's payload: the window's title and the clipboard (OSC 52), then C1
#: CSI (as UTF-8), a bidi override, BEL and a Rich markup action.
HOSTILE = ("\x1b]0;PWNED\x1b\\\x1b]52;c;UFdORUQ=\x1b\\\x07\u009b31m\u202eevil"
           "[@click=app.quit]q[/]")
#: What a terminal must never receive from the file.
RAW = [b"\x1b]0;PWNED", b"\x1b]52;", b"\xc2\x9b", b"\x9b31m", b"\xe2\x80\xae", b"\x07\xc2\x9b"]
#: (A lone BEL is no evidence: Textual ends its own OSC 22, the pointer shape, with one.)

GOOD = [
    {"seq": 1, "t": 0.0, "side": "server", "conn": None, "op": "socket",
     "args": ["AF_INET", "SOCK_STREAM"], "ok": True, "result": 3},
    {"seq": 2, "t": 0.1, "side": "server", "conn": None, "op": "bind",
     "args": [["127.0.0.1", 0]], "ok": True, "result": ["127.0.0.1", 5000]},
    {"seq": 3, "t": 0.2, "side": "server", "conn": None, "op": "state", "args": [],
     "ok": True, "result": {"state": "LISTEN", "queue": 0, "backlog": 5}},
    {"seq": 4, "t": 0.3, "side": "client", "conn": 1, "op": "recv", "args": [1024],
     "ok": True, "result": 5, "nbytes": 5, "data": "hello", "bytes_repr": "b'hello'"},
    {"seq": 5, "t": 0.4, "side": "client", "conn": 1, "op": "packet", "args": [], "ok": True,
     "result": {"flags": ["SYN"], "seq": 0, "ack": 0, "len": 0, "src": ["127.0.0.1", 40000],
                "dst": ["127.0.0.1", 5000]}},
    {"seq": 6, "t": 0.5, "side": "server", "conn": 1, "op": "accept", "args": [], "ok": False,
     "error": "EINVAL", "errno": 22, "lesson": "a lesson", "host": "A", "by": "program",
     "peer_conn": 1, "result": ["127.0.0.1", 40000]},
]

#: (line index, field, where the payload goes) for every string a line can carry.
FIELDS = [
    (0, "side", None), (0, "op", None), (0, "conn", None), (0, "phase", None),
    (0, "args", 0), (3, "data", None), (3, "bytes_repr", None), (5, "lesson", None),
    (5, "error", None), (5, "host", None), (5, "by", None), (5, "result", 0),
    (5, "peer_conn", None), (2, "result", "state"), (4, "result", "flags"),
    (4, "result", "src"), (1, "result", 0), (0, "result", None),
]

#: Fields no view shows (a failed accept's address, a packet's source, who made the
#: call) or shows only in a fixed set of words (a phase, a state, a flag).
UNSHOWN = {(5, "by", None), (5, "result", 0), (4, "result", "src"), (0, "phase", None),
           (2, "result", "state"), (4, "result", "flags")}


def _write(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def _with(index: int, field: str, where: object, value: object) -> list[dict]:
    events = json.loads(json.dumps(GOOD))
    if where is None:
        events[index][field] = value
    elif isinstance(where, int):
        events[index][field][where] = value
    else:
        events[index][field][where] = [value] if where == "flags" else value
    return events


def _screen(app: ReplayApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


@pytest.mark.parametrize(("index", "field", "where"), FIELDS,
                         ids=[f"{f}-{w}" for _i, f, w in FIELDS])
async def test_every_field_is_refused_with_its_line_or_shown_inert(tmp_path, index, field,
                                                                   where):
    path = _write(tmp_path / "hostile.jsonl", _with(index, field, where, HOSTILE))
    try:
        recording = load(path)
    except NotALog as exc:
        assert f"line {index + 1}:" in str(exc), exc
        assert_safe_text(str(exc))
        return
    for event in recording.events:
        assert_safe_text(json.dumps(event.to_dict(), ensure_ascii=False))
    app = ReplayApp(recording)
    async with app.run_test(size=(200, 40)) as pilot:
        shown = []
        for key in ("home", *["right"] * len(GOOD)):
            await pilot.press(key)
            shown.append(_screen(app))
        app.query_one("#tabs").active = "wire"  # type: ignore[attr-defined]
        await pilot.pause()
        shown.append(_screen(app))
    screens = "\n".join(shown)
    assert_safe_text(screens, allow_newlines=True)
    if (index, field, where) not in UNSHOWN:
        assert "\\x1b]0;PWNED" in screens, "the field's text is not on any screen"


NUMBERS = {
    "seq 1e999": ('"seq": 1', '"seq": 1e999'),
    "seq -1": ('"seq": 1', '"seq": -1'),
    "seq NaN": ('"seq": 1', '"seq": NaN'),
    "seq 5000 digits": ('"seq": 1', '"seq": ' + "9" * 5000),
    "seq 30 digits": ('"seq": 1', '"seq": ' + "9" * 30),
    "seq 1.5": ('"seq": 1', '"seq": 1.5'),
    "seq text": ('"seq": 1', '"seq": "1"'),
    "t Infinity": ('"t": 0.0', '"t": Infinity'),
    "t -1e999": ('"t": 0.0', '"t": -1e999'),
    "t 1e300": ('"t": 0.0', '"t": 1e300'),
    "count -1e999": ('"seq": 1', '"seq": 1, "count": -1e999'),
    "count -1": ('"seq": 1', '"seq": 1, "count": -1'),
    "count text": ('"seq": 1', '"seq": 1, "count": "x"'),
    "conn 1e999": ('"conn": null', '"conn": 1e999'),
    "nbytes 5000 digits": ('"seq": 1', '"seq": 1, "nbytes": ' + "1" * 5000),
    "result 1e999": ('"result": 3', '"result": 1e999'),
    "result -Infinity": ('"result": 3', '"result": -Infinity'),
    "args 99 digits": ('"SOCK_STREAM"', '"SOCK_STREAM", ' + "7" * 99),
    "nested 100000": ('"result": 3', '"result": ' + "[" * 100_000),
    "nested closed": ('"result": 3', '"result": ' + "[" * 100_000 + "]" * 100_000),
    "nested objects": ('"result": 3', '"result": ' + '{"a": ' * 50 + "1" + "}" * 50),
    "nested 20": ('"result": 3', '"result": ' + "[" * 20 + "]" * 20),
    "ok text": ('"ok": true', '"ok": "yes"'),
    "side other": ('"side": "server"', '"side": "kernel"'),
    "op number": ('"op": "socket"', '"op": 5'),
}


@pytest.mark.parametrize("case", list(NUMBERS))
def test_every_bad_number_and_deep_nesting_is_exit_2_with_the_line(tmp_path, case):
    old, new = NUMBERS[case]
    lines = [json.dumps(event) for event in GOOD]
    assert old in lines[0], old
    lines[0] = lines[0].replace(old, new, 1)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([json.dumps(GOOD[1]), *lines]) + "\n")
    done = run_cli("replay", str(path), timeout=LIMIT * 4)
    no_traceback(done.stderr)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    said = done.stderr.strip()
    assert said.count("\n") == 0 and "line 2:" in said, said
    assert len(said) < 400, said


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    """A sparse file of 256 MiB + 1: refused at once, and no read asks for its bytes."""
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as huge:
        huge.truncate(MAX_BYTES + 1)
    with pytest.raises(NotALog, match="over 256 MiB"):
        load(path)
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: the refusal was checked, not the reads")
    trace = tmp_path / "trace"
    done = subprocess.run([strace, "-f", "-e", "trace=read", "-o", str(trace),
                           *cli_command("replay", str(path))], capture_output=True, text=True,
                          timeout=LIMIT * 4, env=cli_env(), check=False)
    assert done.returncode == 2 and "over 256 MiB" in done.stderr, done.stderr
    big_reads = [line for line in trace.read_text().splitlines()
                 if "read(" in line and _count(line) > 16 * 1024 * 1024]
    assert not big_reads, big_reads[:3]


def _count(line: str) -> int:
    """The byte count asked for in an strace ``read(fd, "...", COUNT) = N`` line."""
    try:
        return int(line.rsplit(")", 1)[0].rsplit(",", 1)[1])
    except (IndexError, ValueError):
        return 0


def test_a_fifo_or_a_folder_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(NotALog, match="not a regular file"):
        load(fifo)
    with pytest.raises(NotALog, match="Is a directory|not a regular file"):
        load(tmp_path)


# -- lesson files ----------------------------------------------------------------------


LESSON = "# Title{0}\n\nThe intro{0}\n\n## A step{0}\nThe text{0}\nexpect: server socket\n" \
         "hint: a hint{0}\n> after{0}\n"


def test_a_lesson_file_with_escapes_is_read_inert(tmp_path):
    path = tmp_path / "hostile.md"
    path.write_text(LESSON.format(HOSTILE))
    lesson = load_lesson(str(path))
    step = lesson.steps[0]
    for text in (lesson.title, lesson.intro, step.title, step.text, step.hint, step.after):
        assert_safe_text(text)
        assert "\\x1b]0;PWNED" in text, text


@pytest.mark.parametrize(("body", "said"), [
    ("expect: server bogus\n", "line 4: expect: 'server bogus': 'bogus' is no call"),
    ("set: regex=(\n", "line 4: set: regex=(: not a pattern"),
    ("set: regex.scope=nowhere\n", "line 4: set: regex.scope=nowhere: one of"),
])
def test_a_lesson_line_the_lab_cannot_follow_is_refused_with_its_number(tmp_path, body, said):
    path = tmp_path / "bad.md"
    path.write_text(f"# T\n\n## S\n{body}")
    with pytest.raises(LessonFormatError, match=None) as caught:
        load_lesson(str(path))
    assert said in str(caught.value), caught.value
    done = run_cli("lesson", str(path), timeout=LIMIT * 4)
    no_traceback(done.stderr)
    assert done.returncode == 2 and said in done.stderr, done.stderr


def test_a_lesson_file_that_is_not_utf8_is_exit_2_with_a_clear_message(tmp_path):
    path = tmp_path / "latin1.md"
    path.write_bytes("# Caf\xe9\n\n## S\nexpect: server socket\n".encode("latin-1"))
    done = run_cli("lesson", str(path), timeout=LIMIT * 4)
    no_traceback(done.stderr)
    assert done.returncode == 2, done.stderr
    assert "line 1: not UTF-8 text" in done.stderr and "save the lesson as UTF-8" in done.stderr


def test_the_shipped_lessons_still_read():
    from socklab.guided import all_lessons
    assert len(all_lessons()) >= 5
    with pytest.raises(LessonFormatError):
        from socklab.guided import parse_lesson
        parse_lesson("x", "# T\n\n## S\nexpect: client nonsense\n")


# -- in a real terminal ------------------------------------------------------------------

#: Waits for the test's go (a file), so tmux's pipe-pane records from the first byte.
WAIT_THEN_RUN = ("import os, sys, time\n"
                 "for _ in range(600):\n"
                 "    if os.path.exists(sys.argv[1]): break\n"
                 "    time.sleep(0.05)\n"
                 "os.execv(sys.executable, [sys.executable, '-m', 'socklab', *sys.argv[2:]])\n")


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Callable[..., tuple[Terminal, Path]]]:
    """``recorded(*socklab_args)``: socklab in tmux, every byte it writes kept in a file."""
    if TMUX is None:
        pytest.skip("tmux is not installed")
    made: list[Terminal] = []

    def start(*args: str) -> tuple[Terminal, Path]:
        go, out = tmp_path / "go", tmp_path / "terminal.out"
        made.append(Terminal(["-c", WAIT_THEN_RUN, str(go), *args], tmp_path))
        made[-1].tmux("pipe-pane", "-o", "-t", "lab", f"cat >> {out}")
        go.touch()
        return made[-1], out

    yield start
    for term in made:
        term.close()


def _assert_nothing_raw(term, out: Path) -> None:  # type: ignore[no-untyped-def]
    written = out.read_bytes()
    assert written, "nothing recorded"
    for raw in RAW:
        assert raw not in written, f"{raw!r} from the file reached the terminal"
    assert "PWNED" not in term.tmux("display", "-p", "-t", "lab", "#{pane_title}")


def test_a_hostile_replay_reaches_the_terminal_inert_and_ends_cleanly(recorded, tmp_path):
    """Every field's payload at once, replayed in tmux: shown as escapes, no raw byte
    written; then stopped (SIGSTOP), SIGTERM, SIGCONT: exit 143, no crash report."""
    events = json.loads(json.dumps(GOOD))
    for index, field, where in FIELDS:
        if field not in ("side", "conn", "peer_conn", "phase"):  # these must be refused
            events[index][field] = _with(index, field, where, HOSTILE)[index][field]
    replay = _write(tmp_path / "hostile.jsonl", events)
    load(replay)  # it reads (every field that is text stays text)
    term, out = recorded("replay", str(replay))
    screen = term.wait_for(lambda s: "\\x1b]0;PWNED" in s, "the payload, escaped")
    for key in ("Home", "Right", "Right", "Right", "Right", "Right", "Right"):
        term.tmux("send-keys", "-t", "lab", key)
    pid = term.socklab_pid()
    os.kill(pid, 19)  # SIGSTOP: then SIGTERM waits for SIGCONT
    os.kill(pid, 15)
    os.kill(pid, 18)
    assert gone(pid)
    assert term.exit_status() == 143, term.screen()
    term.assert_sane()
    _assert_nothing_raw(term, out)
    assert not list(tmp_path.glob("socklab-crash-*")), "a crash report was written"
    assert "Traceback" not in screen


def test_a_hostile_lesson_reaches_the_terminal_inert(recorded, tmp_path):
    lesson = tmp_path / "hostile.md"
    lesson.write_text(LESSON.format(HOSTILE))
    term, out = recorded("lesson", str(lesson))
    term.wait_for(lambda s: "\\x1b]0;PWNED" in s, "the lesson's title, escaped")
    term.tmux("send-keys", "-t", "lab", "C-q")
    assert term.exit_status() == 0, term.screen()
    _assert_nothing_raw(term, out)
