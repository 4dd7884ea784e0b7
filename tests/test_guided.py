"""Guided lessons: the files, the command, the expectations, the HTTP split and the
regex box.  Every lesson is played in the real lab by hand (buttons pressed, a
wrong call first where learners make one), then by ``--auto``, under the oracle:
tests/test_lesson_oracle.py.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from socklab.cli.main import main
from socklab.guided import (
    LessonFormatError,
    LessonRun,
    all_lessons,
    load_lesson,
    parse_lesson,
)
from socklab.guided.expect import parse_expectation
from socklab.guided.http import HttpReceived, find_all, split_response, text_of
from socklab.modes import ROMEO, http_response

NAMES = [lesson.name for lesson in all_lessons()]
ISSUE_NAMES = {"welcome", "echo", "udp", "ipv6", "ports", "inuse", "refused", "backlog",
               "privileged", "boundaries", "close", "http", "regex"}


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
