"""A lesson's steps over real events, without the UI: a step counts what was done
ahead of it, compares the call's arguments and says what differs, and the
lesson is complete only when every step was met."""

from __future__ import annotations

from socklab.engine import Lab
from socklab.events import PREDICT, WAIT, Event
from socklab.guided import LessonRun, load_lesson, parse_lesson
from socklab.guided.expect import describe, parse_expectation
from socklab.logformat import format_line
from socklab.replay import parse_lines

THREE = """# T

## Socket
expect: server socket ok

## Bind
expect: server bind ok

## Listen with 2
set: server.backlog=2
expect: server listen ok backlog=2
"""


def _server(lab: Lab, backlog: int):
    server = lab.server()
    return [server.socket(), server.bind("127.0.0.1", 0), server.listen(backlog)]


def test_a_step_done_ahead_is_done_when_it_opens(lab: Lab) -> None:
    run = LessonRun(parse_lesson("t", THREE))
    run.feed(_server(lab, 2))  # all three calls while the first step shows
    assert run.done and 1 not in run.done_steps
    assert run.advance() and run.done  # bind: counted from after socket()
    assert run.advance() and run.done and run.complete


def test_other_arguments_say_what_differs_and_never_complete(lab: Lab) -> None:
    run = LessonRun(parse_lesson("t", THREE))
    run.feed(_server(lab, 5))
    assert run.advance() and run.advance()
    assert not run.done and not run.complete
    assert run.difference == "server: listen(5): the backlog is 5; this step needs 2"


def test_back_keeps_what_was_done_and_the_settings_follow_the_step(lab: Lab) -> None:
    run = LessonRun(parse_lesson("t", THREE))
    run.feed(_server(lab, 2))
    run.advance()
    run.advance()
    assert ("server", "backlog") in run.settings_at(2)
    assert ("server", "backlog") not in run.settings_at(1)
    assert run.back() and run.done and run.index == 1
    assert run.advance() and run.complete


def test_check_lines_are_plain_words() -> None:
    for lesson in (load_lesson(name) for name in ("welcome", "boundaries", "backlog")):
        for step in lesson.steps:
            for expectation in step.expectations:
                words = describe(expectation)
                assert "none" not in words and "nbytes" not in words and "~" not in words
    assert describe(parse_expectation("server listen ok backlog=2")) == \
        "server: listen(2) succeeds"
    assert describe(parse_expectation("server close ok conn!=none")).endswith(
        "on a connection, not the listener")
    # the cable is the lab's, not a call: no "either side: cable() succeeds"
    assert describe(parse_expectation("any cable ok")) == \
        "the cable between the hosts has its conditions"


def test_a_prediction_is_an_event_a_replay_shows() -> None:
    """op ``predict``: answered (wait), then with what the event showed (done); the
    JSON line reads back and the log line says whether it held."""
    answered = Event(seq=2, t=0.2, side="server", conn=None, op=PREDICT, phase=WAIT,
                     args=("Which errno?", "EADDRINUSE"), call=7,
                     result={"question": "Which errno?", "answer": "EADDRINUSE"})
    seen = Event(seq=4, t=0.4, side="server", conn=None, op=PREDICT, call=7,
                 args=("Which errno?", "EADDRINUSE"),
                 result={"question": "Which errno?", "answer": "EADDRINUSE",
                         "actual": "EACCES", "held": False})
    recording = parse_lines([answered.to_json(), seen.to_json()], "predictions")
    lines = [format_line(event) for event in recording.events]
    assert lines[0].endswith("predict('Which errno?') → answer EADDRINUSE: to be seen")
    assert lines[1].endswith("answer EADDRINUSE: did not hold ✗: it was EACCES")
    assert recording.events[1].result["held"] is False


def test_a_prediction_is_answered_then_seen(lab: Lab) -> None:
    lesson = parse_lesson("t", THREE.replace(
        "expect: server listen ok backlog=2\n",
        "expect: server listen ok backlog=2\npredict: Does listen(2) succeed? | yes=none | "
        "EINVAL | EOPNOTSUPP\nobserve: server listen error\n"))
    run = LessonRun(lesson)
    run.feed(_server(lab, 2)[:2])
    run.advance()
    run.advance()
    assert run.asking and run.answer(1) == "EINVAL" and not run.asking
    assert run.answer(0) is None  # one answer a step
    run.feed(_server(lab, 2)[2:])
    assert run.observed[2] == "none" and run.held() is False and run.complete
