"""The regex box cannot hang anything, and signals always win (issue 23, item 2).

In a real terminal (tmux, as tests/test_terminal.py drives it):

- the catastrophic pattern ``(\\w+\\s?)*:`` typed into the regex box over
  romeo.txt: the box says the pattern took too long, the lab answers a key
  while it runs, and SIGTERM ends the lab with the terminal given back;
- a lab whose UI thread is really stuck (the same pattern run on it, as the
  box used to): SIGTERM, SIGINT and SIGHUP each end it by the signal watchdog
  (its own words on the screen, not faulthandler's later backstop), the
  terminal restored, the sockets closed, exit 128 + the signal.

These tests check what happens, not how fast: a machine loaded by other work
can take longer than the issue's figures and still be right.  The issue's
"done when" figures (a key answered within 1 s, a stop within 2 s) are
figure 12 of the benchmark (tests/benchmarks/signals.py), which runs the same
steps (`answer_while_backtracking`, `stop_a_stuck_lab`) and times them.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from helpers import LIMIT
from test_terminal import gone, lab_shown, make_a_socket, terminal  # noqa: F401

CATASTROPHIC = r"(\w+\s?)*:"

#: Serves romeo.txt and fetches it, then stays on the HTTP tab (--auto plays it).
FETCH_ROMEO = """# Fetch romeo.txt

## An HTTP server
set: server.mode=http
do: server run
expect: server accept waits

## Fetch romeo.txt
set: client.message=GET /romeo.txt HTTP/1.0\\r\\n\\r\\n
do: client run
expect: client recv ok nbytes=0

## The box
show: http
expect: regex ~ never-there
"""


def _seconds_until(term, shown, limit: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``shown(screen)`` (polled every 50 ms), or ``limit`` + 1 if never."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if shown(term.screen()):
            return time.monotonic() - start
        time.sleep(0.05)
    return limit + 1


def _answer_time(term, key: str, shown: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from typing ``key`` into the box to the box showing ``shown``."""
    term.tmux("send-keys", "-t", "lab", "-l", key)
    return _seconds_until(term, lambda s: shown in s, LIMIT)


def _empty_the_box(term) -> None:  # type: ignore[no-untyped-def]
    term.tmux("send-keys", "-t", "lab", "End", "C-u")  # Input: delete all left of the cursor
    term.wait_for(lambda s: "a pattern, e.g." in s, "the box emptied")


def _ended_within(pid: int, limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit + 5:
        if not os.path.exists(f"/proc/{pid}"):
            return time.monotonic() - start
        time.sleep(0.02)
    return limit + 5


def answer_while_backtracking(term) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Fetch romeo.txt, put a pattern in the regex box, then the catastrophic one:
    seconds to answer a key typed while it backtracks (the box shows it), and to
    answer one idle before it (this machine's own pace)."""
    term.wait_for(lambda s: "But soft what light" in s, "romeo.txt in the HTTP tab")
    term.resize(140, 60)  # the whole HTTP tab, the box and its matches in sight
    term.tmux("send-keys", "-t", "lab", "C-p")
    term.wait_for(lambda s: "🔎" in s, "the command palette")
    term.tmux("send-keys", "-t", "lab", "-l", "HTTP view")
    term.wait_for(lambda s: "regex box" in s, "the palette's match")
    term.tmux("send-keys", "-t", "lab", "Enter")
    term.wait_for(lambda s: "🔎" not in s, "the palette closed")
    term.tmux("send-keys", "-t", "lab", "-l", "[a-z]")
    term.wait_for(lambda s: "match(es) in the body" in s, "the box's first matches")
    idle = _answer_time(term, "+", "[a-z]+")
    _empty_the_box(term)
    term.tmux("send-keys", "-t", "lab", "-l", CATASTROPHIC)
    term.wait_for(lambda s: CATASTROPHIC in s, "the pattern in the box")
    return idle, _answer_time(term, "Z", CATASTROPHIC + "Z")  # while the worker backtracks


def stop_while_backtracking(term) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """The catastrophic pattern in the box again, then SIGTERM: the lab's pid and
    the seconds until it was gone (`LIMIT` + 5 if never)."""
    _empty_the_box(term)
    term.tmux("send-keys", "-t", "lab", "-l", CATASTROPHIC)
    term.wait_for(lambda s: CATASTROPHIC in s, "the pattern in the box")
    time.sleep(0.2)  # the worker is backtracking now
    pid = term.socklab_pid()
    os.kill(pid, signal.SIGTERM)
    return pid, _ended_within(pid, LIMIT)


def test_a_catastrophic_pattern_in_the_regex_box_leaves_the_lab_answering(
        terminal, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    lesson = tmp_path / "romeo.md"
    lesson.write_text(FETCH_ROMEO)
    term = terminal("-m", "socklab", "lesson", str(lesson), "--auto", "--pause", "0.1")
    idle, answered = answer_while_backtracking(term)
    # Answered at all: a UI thread running the pattern itself would answer no key
    # until the backtracking ended, ages from now (figure 12 times the answer).
    assert answered <= LIMIT, (f"the lab took {answered:.2f} s to answer a key (idle: "
                               f"{idle:.2f} s):\n{term.screen()}")
    screen = term.wait_for(lambda s: "pattern took too long" in s, "the time limit's message")
    assert "Traceback" not in screen
    _empty_the_box(term)
    term.tmux("send-keys", "-t", "lab", "-l", "[A-Z]\\w+")
    term.wait_for(lambda s: "match(es) in the body" in s and "'But'" in s,
                  "the box working again")
    pid, took = stop_while_backtracking(term)
    assert took <= LIMIT and gone(pid), f"SIGTERM did not end the lab within {LIMIT} s"
    assert term.exit_status() == 128 + signal.SIGTERM
    term.assert_sane()


#: The lab with its UI thread stuck for good in a regular expression (as the box
#: used to be): ``x`` runs the catastrophic pattern on the UI thread.
STUCK = ("import os, re, sys; from socklab.ui.app import SocklabApp; "
         "SocklabApp.action_hex = lambda self: (open(os.environ['TMPDIR'] + '/frozen', 'w'), "
         "re.findall(r'(\\w+\\s?)*:', 'word ' * 60)); "
         "sys.argv = ['socklab']; from socklab.cli import entry; entry()")


def stop_a_stuck_lab(term, folder, signum: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Make a socket, get the UI thread stuck (``x``), send ``signum``: the lab's
    pid and the seconds until it was gone (`LIMIT` + 5 if never)."""
    term.wait_for(lab_shown, "the lab")
    make_a_socket(term)
    term.tmux("send-keys", "-t", "lab", "Escape", "l", "x")  # the log focused, then x
    for _ in range(int(LIMIT / 0.05)):
        if (folder / "frozen").exists():
            break
        time.sleep(0.05)
    assert (folder / "frozen").exists(), term.screen()
    time.sleep(0.2)  # the UI thread is in the pattern now
    pid = term.socklab_pid()
    os.kill(pid, signum)
    return pid, _ended_within(pid, LIMIT)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_signal_wins_over_a_stuck_ui_thread(terminal, tmp_path, signum) -> None:  # noqa: F811
    term = terminal("-c", STUCK)
    pid, took = stop_a_stuck_lab(term, tmp_path, signum)
    name = signal.Signals(signum).name
    assert took <= LIMIT, f"{name} did not end the lab within {LIMIT} s"
    assert gone(pid)
    assert term.exit_status() == 128 + signum
    screen = term.assert_sane()
    assert "the screen was not answering" in screen, screen
    assert not list(tmp_path.glob("socklab-crash-*")), "a crash report was written"


# -- hostile key sequences (issue 23, item 4) ------------------------------------------------

#: Key sequences no keyboard sends: code points past U+10FFFF, numbers past a C int.
HOSTILE_KEYS = ["\x1b[1114112u", "\x1b[99999999999~", "\x1b[99999999999u",
                "\x1b[1114112;5u", "\x1b[1;2:1114112u", "\x1b[97;1;99999999999u",
                "\x1b[4294967296;4294967296u"]


@pytest.mark.parametrize("sequence", HOSTILE_KEYS)
def test_the_key_parser_drops_a_sequence_no_keyboard_sends(sequence: str) -> None:
    from socklab.ui.textual_fixes import KeyParser

    parser = KeyParser()
    keys = [event.key for part in ("a", sequence, "\x1b[5~") for event in parser.feed(part)
            if hasattr(event, "key")]
    # The keys around it still come; the sequence is no key (or, where Textual gives
    # up on a sequence too long to be one, its characters typed as text).
    assert keys[0] == "a" and keys[-1] == "pageup", keys
    assert all(len(key) > 1 or key.isprintable() for key in keys), keys


def test_hostile_key_sequences_typed_into_the_lab_are_dropped(terminal, tmp_path) -> None:  # noqa: F811
    term = terminal("-m", "socklab")
    term.wait_for(lab_shown, "the lab")
    pid = term.socklab_pid()
    for sequence in HOSTILE_KEYS:
        term.tmux("send-keys", "-t", "lab", "-l", sequence)
    make_a_socket(term)  # the lab still answers keys
    assert os.path.exists(f"/proc/{pid}")
    term.tmux("send-keys", "-t", "lab", "C-q")
    assert term.exit_status() == 0, term.screen()
    term.assert_sane()
    assert not list(tmp_path.glob("socklab-crash-*")), "a crash report was written"
