"""Guided lessons: the files, the expectations, the HTTP split and regex box,
and every lesson completed in the real lab — once pressed as a learner presses
(fields, buttons, Next), once played by ``--auto``.

The Pilot tests share one parametrized test over the lesson names; ``--auto``
plays every lesson in one app (a pause of 0: the steps still wait for the real
events), which keeps the suite's time down.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from helpers import IPV6_MISSING
from hosts_helpers import UNAVAILABLE
from lesson_learner import KEYS, LOOK, key, look
from pilot import HANG_GUARD, until
from textual.widgets import Button

from socklab.cli.main import main
from socklab.guided import (
    Action,
    LessonFormatError,
    LessonRun,
    all_lessons,
    load_lesson,
    parse_lesson,
)
from socklab.guided.expect import parse_expectation
from socklab.guided.http import HttpReceived, find_all, split_response, text_of
from socklab.modes import ROMEO, http_response
from socklab.ui.app import SocklabApp
from socklab.ui.cable_bar import apply_preset

NAMES = [lesson.name for lesson in all_lessons()]
#: Lessons that turn two-hosts mode on (root): ``do: lab two-hosts`` in a step.
HOSTS_LESSONS = {lesson.name for lesson in all_lessons()
                 if any(action.side == "lab" and action.call == "two-hosts"
                        for step in lesson.steps for action in step.actions)}
ISSUE_NAMES = {"welcome", "echo", "udp", "ipv6", "ports", "inuse", "refused", "backlog",
               "privileged", "boundaries", "close", "http", "regex"}
SIZE = (130, 40)


def _skip_without_ipv6(name: str) -> None:
    if name == "ipv6" and IPV6_MISSING is not None:
        pytest.skip(f"the ipv6 lesson needs an IPv6 loopback: {IPV6_MISSING}")


# -- the files and the command ------------------------------------------------------------

def test_every_lesson_of_the_issue_ships_and_parses() -> None:
    assert ISSUE_NAMES <= set(NAMES)
    for lesson in all_lessons():
        assert lesson.title and lesson.steps
        assert all(step.text or step.show for step in lesson.steps), lesson.name


def test_lesson_list_prints_name_then_title_a_line_each() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["lesson", "--list"]) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert lines[0].split(None, 1)[1] == load_lesson("welcome").title


def test_an_unknown_lesson_is_one_line_and_status_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["lesson", "no-such-lesson"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_wrong_file_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(LessonFormatError, match="mine.md line 4"):
        parse_lesson("mine", "# Mine\n\n## A step\ndo: server fly\n")
    own = tmp_path / "mine.md"
    own.write_text("# Mine\n\n## Bind\ndo: server socket\nexpect: server socket ok\n")
    assert load_lesson(str(own)).steps[0].expectations[0].op == "socket"


def test_expectations_read_real_events(lab) -> None:
    server = lab.server()
    bound = server.socket(), server.bind("127.0.0.1", 0)
    failed = server.accept()[1]
    assert parse_expectation("server bind ok port>0").matches(bound[1])
    assert not parse_expectation("server bind fails").matches(bound[1])
    assert parse_expectation("server accept fails EINVAL").matches(failed)
    assert not parse_expectation("client accept fails").matches(failed)
    run = LessonRun(parse_lesson("t", "# T\n\n## L\nexpect: server listen ok\nhint: listen!\n"))
    run.feed([bound[0], bound[1], failed])
    assert run.wrong is failed and not run.done  # a failed call the step did not expect
    run.feed([server.listen(5)])
    assert run.done and run.wrong is None and run.complete
    assert run.facts["server.port"] == str(bound[1].result[1])


def test_the_http_split_and_the_regex_box() -> None:
    answer = http_response(b"GET http://127.0.0.1:80/romeo.txt HTTP/1.0\r\n\r\n")
    response = split_response(answer, complete=True)
    assert response.status_line == "HTTP/1.0 200 OK" and response.blank_line == b"\r\n\r\n"
    assert ("Content-Length", str(len(ROMEO))) in response.headers
    assert response.body.decode() == ROMEO
    assert find_all(r"[A-Za-z]+", text_of(response, "body"))[:4] == ["But", "soft", "what",
                                                                       "light"]
    assert "Content-Type" in find_all(r"^([\w-]+):", text_of(response, "headers"))
    assert split_response(b"HTTP/1.0 200 OK\nA: b\n\nbody").blank_line == b"\n\n"
    assert HttpReceived().response() is None


# -- in the lab -------------------------------------------------------------------------

async def _press(pilot, selector: str) -> None:
    """A learner's press of a button (Button.press: what a click or Enter does;
    ``pilot.click`` costs seconds a click on a shared machine)."""
    pilot.app.query_one(selector, Button).press()
    await pilot.pause()  # its message handled: the pane has asked for the call


#: A wrong call a learner makes first, on the step with this title: its error.
WRONG_FIRST = {("welcome", "Listen"): ("server", "accept", "EINVAL")}


async def _do(pilot, action: Action) -> None:
    """One press of the step's: a button, a key, the Cable bar, the lab's keys."""
    app = pilot.app
    if action.side == "lab" and action.call.startswith("cable-"):  # the Cable bar
        assert await apply_preset(app, action.call.removeprefix("cable-"))
        return
    if action.side == "lab" and action.call == "cable":  # its Apply, on the typed words
        await _press(pilot, "#cable-apply")
        return
    if action.side == "lab":  # the lab's keys: Ctrl+R, F7 (what they run, awaited)
        await app.run_action("reset" if action.call == "reset" else "toggle_two_hosts")
        return
    app.controls.choose(action.side, action.target)  # a click on the socket's row
    name = KEYS.get((action.side, action.call))
    if name is not None:  # a call with a key, not a button (b: the bulk send)
        await key(pilot, name)
    else:
        await _press(pilot, f"#{action.side}-{action.call}")
    # as a learner waits to see it happen
    assert await app.controls.reported(HANG_GUARD), f"{action}"


async def _again(pilot, run: LessonRun, again: Action | None) -> None:
    """``repeat:``, pressed until the step is done: never while its call still waits,
    and after a look at what the last press did (at most 8 presses)."""
    for _ in range(8 if again is not None else 0):
        await until(lambda: run.done or not run.is_waiting(again.side, again.call),
                    f"{again} waiting")
        if run.done:
            return
        await _do(pilot, again)
        await look(lambda: run.done, LOOK)


async def _press_through(pilot, name: str) -> None:
    """The lesson done as a learner does it: fields filled, rows chosen, buttons
    pressed (Button.press: the request a click or Enter makes), Next to go on."""
    app = pilot.app
    panel = app.lesson_panel
    await until(lambda: panel.run is not None and panel.run.lesson.name == name,
                 "the lesson opening")
    run = panel.run
    while True:
        step = run.step
        wrong = WRONG_FIRST.get((name, step.title))
        if wrong is not None:
            side, call, error = wrong
            await _press(pilot, f"#{side}-{call}")
            await until(lambda: run.wrong is not None, "the wrong call")
            assert run.wrong.error == error and not run.done
            shown = str(panel.query_one("#lesson-wrong").render())
            assert error in shown and step.hint[:20] in shown
        for setting in step.settings:  # typed, or chosen (the regex box's too)
            app.controls.fill(setting.side, setting.name, run.fill(setting))
        for action in step.actions:
            await _do(pilot, action)
        await _again(pilot, run, step.repeat)
        await until(lambda: run.done, f"{name}: step {step.title!r}")
        if run.complete:
            break
        await _press(pilot, "#lesson-next")
        await until(lambda s=step: run.step is not s, "Next")
    await pilot.pause()
    assert "Lesson complete" in str(panel.query_one("#lesson-status").render())


def _check_http(app: SocklabApp) -> None:
    """The HTTP view: status line, headers and body of romeo.txt."""
    http = app.http_view
    response = http.received.response()
    assert response.status_line == "HTTP/1.0 200 OK" and response.complete
    assert str(http.query_one("#http-status").render()).startswith("HTTP/1.0 200 OK")
    assert "Content-Type" in str(http.query_one("#http-headers").render())
    assert "But soft what light" in str(http.query_one("#http-body").render())


@pytest.mark.parametrize("name", NAMES)
async def test_a_lesson_completes_by_pressing_then_by_auto(name: str) -> None:
    """Every lesson, start to finish: pressed as a learner presses (a wrong call on the
    way where WRONG_FIRST says), then played by --auto (a pause of 0: each step
    still waits for its real events) in the same lab."""
    _skip_without_ipv6(name)
    if name in HOSTS_LESSONS and UNAVAILABLE is not None:
        pytest.skip(f"the {name} lesson needs two network namespaces: {UNAVAILABLE}")
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does: two-hosts mode's switch
    app.lessons.to_open = name
    async with app.run_test(size=SIZE) as pilot:
        await _press_through(pilot, name)
        panel = app.lesson_panel
        await app.lessons.start(name, auto_pause=0.0)
        await until(lambda: panel.run.complete or panel.stalled, f"{name} --auto")
        last = "; ".join(f"{e.side}[{e.conn}] {e.op} {e.phase} {e.error} {e.result}"
                         for e in panel._events[-12:])
        assert panel.run.complete, f"{name}: stalled at {panel.run.step.title!r}: {last}"
        if name == "http":
            _check_http(app)
        if name == "regex":  # the words of romeo.txt were extracted on the way
            words = next(i for i, step in enumerate(panel.run.lesson.steps)
                         if "words" in step.title)
            assert panel.run.lesson.steps[words].expectations[0].text == "regex ~ soft"
            assert words in panel.run.done_steps
        await pilot.pause()
