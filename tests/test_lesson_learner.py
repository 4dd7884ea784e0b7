"""Lessons as a learner does them alone (issue 22): one step ahead, with a wrong
value typed, Next and Back by their keys, a close on the wrong row.

The learner's play by hand of every lesson (from the step text, predicting before
the key call, at 80×21) is `lesson_learner.by_hand`, judged by the oracle:
tests/test_lesson_oracle.py; here it is played once in the wide layout.
"""

from __future__ import annotations

import pytest
from lesson_learner import by_hand, count_presses, press, skip_unplayable, text
from pilot import until

from socklab.events import WAIT
from socklab.guided import Action, parse_lesson
from socklab.ui.app import SocklabApp
from socklab.ui.lesson_panel import LessonPanel


async def test_a_lesson_by_hand_in_the_wide_layout() -> None:
    """two-hosts by hand at 120×36 (the wide, tall layout, the lesson panel beside the
    panes, the hosts' panes): every step in view and done as its text says, and the
    learner's checks.  Every lesson is played by hand at 80×21 under the oracle."""
    skip_unplayable("two-hosts")
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does: two-hosts mode's switch
    app.lessons.to_open = "two-hosts"
    async with app.run_test(size=(120, 36)) as pilot:
        await by_hand(pilot, "two-hosts")


async def test_one_step_ahead_never_stalls_nor_blocks_twice() -> None:
    """boundaries: the server's recv pressed while "Three sends" shows, then Next:
    the recv step is done as it opens; Next goes on without a second recv."""
    app = SocklabApp()
    app.lessons.to_open = "boundaries"
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        run = panel.run
        await _next_until(pilot, panel, "Three sends")
        presses = count_presses(panel)
        await press(app, panel, Action("server", "recv", "newest"))  # step 4, ahead
        await pilot.press("f10")
        await until(lambda: run.step.title == "One recv", "Next")
        assert run.done, "the recv done ahead is counted as the step opens"
        await pilot.press("f10")
        await until(lambda: run.step.title == "A small recv", "Next")
        assert presses == [], "Next called again on a step done ahead"
        await pilot.press("f10")  # this step by Next: one send, one recv(4)
        await until(lambda: run.complete or panel.stuck, "the last step")
        assert run.complete and panel.stuck is None
        assert presses == [Action("client", "send"), Action("server", "recv", "newest")]
        recvs = [e for e in run.history if e.side == "server" and e.op == "recv"]
        assert [e.args for e in recvs if e.phase != WAIT] == [(1024,), (4,)]


async def _next_until(pilot, panel: LessonPanel, title: str) -> None:
    """Next (F10) until the step titled ``title`` is done: each step done by Next."""
    run = panel.run
    while True:
        if not run.done:
            await pilot.press("f10")
            await until(lambda: run.done or panel.stuck, f"Next doing {run.step.title!r}")
            assert panel.stuck is None, f"{run.step.title!r}: {panel.stuck}\n{_last(panel)}"
        if run.step.title == title:
            return
        index = run.index
        await pilot.press("f10")
        await until(lambda i=index: run.index > i, "Next going on")


def _last(panel: LessonPanel, count: int = 16) -> str:
    """The panel's last events, for a failure's message."""
    return "\n".join(f"{e.seq} {e.side}[{e.conn}] {e.op} {e.phase} {e.error} {e.result}"
                     for e in panel._events[-count:])


async def test_a_wrong_value_is_named_and_never_completes() -> None:
    """backlog: 5 typed over the step's 2: listen(5) is ✗ with what differs; Next
    does not call listen again; the step says it cannot be done from here."""
    app = SocklabApp()
    app.lessons.to_open = "backlog"
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        run = panel.run
        assert app.server_pane.input("backlog").value == "2"  # the step opened ready
        assert app.server_pane.input("backlog").has_class("-lesson-set")
        panel.controls.fill("server", "backlog", "5")
        for call in ("socket", "bind", "listen"):
            await press(app, panel, Action("server", call))
        await until(lambda: run.difference is not None, "the difference")
        await pilot.pause()
        wrong = text(app, "#lesson-wrong")
        assert "listen(5): the backlog is 5; this step needs 2" in wrong
        assert not run.done
        presses = count_presses(panel)
        await pilot.press("f10")
        await until(lambda: panel.stuck is not None, "Next giving up")
        assert presses == [], "Next repeated a call the step already saw"
        await pilot.pause()
        assert "cannot be done from here" in text(app, "#lesson-wrong")
        assert app.query_one("#lesson-restart").display
        assert "complete" not in text(app, "#lesson-status").lower()
        # Restart: the lesson from its first step, the backlog field back at 2.
        await pilot.click("#lesson-restart")
        await until(lambda: panel.run is not run and panel.run is not None, "Restart")
        await until(lambda: app.server_pane.input("backlog").value == "2", "the 2")


async def test_an_empty_request_is_not_http() -> None:
    """http: send(b'') is ✗ with the bytes named; the lesson does not go on."""
    app = SocklabApp()
    app.lessons.to_open = "http"
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        run = panel.run
        await _next_until(pilot, panel, "Connect")
        await pilot.press("f10")
        await until(lambda: run.step.title == "The request", "Next going on")
        panel.controls.fill("client", "message", "")
        await press(app, panel, Action("client", "send"))
        await until(lambda: run.difference is not None, "the difference")
        assert "the bytes were ''; this step needs them to contain 'romeo.txt'" \
            in run.difference
        assert not run.done and not run.complete


LESSON = """# Keys

## One
set: server.backlog=3
do: server socket
expect: server socket ok

## Two
set: server.backlog=7
do: server bind
expect: server bind ok
"""


async def test_next_and_back_by_their_keys_alone() -> None:
    """F10 does the step, F10 goes on (the new step's value filled and marked), F9
    goes back (the value the field had before)."""
    app = SocklabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.lessons.start(parse_lesson("keys", LESSON))
        panel = app.lesson_panel
        run = panel.run
        backlog = app.server_pane.input("backlog")
        assert backlog.value == "3"

        def footer() -> str:
            return "".join(str(k.render()) for k in app.screen.query("FooterKey"))

        await until(lambda: "Next" in footer() and "Back" in footer(),
                    "Next and Back in the footer")
        await pilot.press("f10")
        await until(lambda: run.done, "F10 doing step one")
        await pilot.press("f10")
        await until(lambda: run.index == 1, "F10 going on")
        assert backlog.value == "7" and backlog.has_class("-lesson-set")
        await pilot.press("f9")
        await until(lambda: run.index == 0, "F9 going back")
        assert backlog.value == "3"
        commands = [command.title for command in app.lessons.commands()]
        assert "Lesson: Next step (F10)" in commands and "Lesson: Back a step (F9)" in commands


async def test_a_lesson_starts_without_a_toast() -> None:
    app = SocklabApp()
    app.lessons.to_open = "welcome"
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        await pilot.pause()
        assert not app._notifications, [n.message for n in app._notifications]



@pytest.mark.parametrize("name, title", [("welcome", "Close the listening socket"),
                                         ("inuse", "Stop the server")])
async def test_close_on_the_closed_connection_still_chosen_says_what_to_choose(
        name: str, title: str) -> None:
    """The connection closed a step before keeps its row (TIME_WAIT) and stays chosen:
    close() on it is a real EBADF, and the lesson says to choose the listener's row
    (not the error's own "make a new one with socket()"); chosen, close() completes."""
    app = SocklabApp()
    app.lessons.to_open = name
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.lesson_panel
        await until(lambda: panel.run is not None, "the lesson opening")
        run = panel.run
        titles = [step.title for step in run.lesson.steps]
        await _next_until(pilot, panel, titles[titles.index(title) - 1])
        index = run.index
        await pilot.press("f10")
        await until(lambda: run.index > index and run.step.title == title, "Next going on")
        assert "EBADF" in run.step.text and "listener" in run.step.text
        await press(app, panel, Action("server", "close"))  # the row chosen as it is
        await until(lambda: run.wrong is not None, "the EBADF")
        assert run.wrong.error == "EBADF" and run.wrong.conn is not None
        await pilot.pause()
        wrong = text(app, "#lesson-wrong")
        assert f"close() went to connection [{run.wrong.conn}], closed already" in wrong
        assert "Choose the listener's row in that list" in wrong
        assert "make a new one with socket()" not in wrong
        panel.controls.choose("server", "listener")  # as a click on its row
        await press(app, panel, Action("server", "close"))
        await until(lambda: run.complete if run.last else run.done, "the listener closed")


async def test_a_server_run_is_seen_once_its_bind_came(lab) -> None:
    """A press waits for what the next press depends on: the server's Run for its
    bind, since the client's port field follows the port the bind got.  Seen after
    its socket() alone, a client Run pressed next read the previous server's port
    from its field (two-hosts' 'Bound to every address' after a Reset, under load:
    connect ECONNREFUSED to the old port).  A failure of another call (an accept a
    Reset ended) says nothing of the port; a failure before the bind ends the Run."""
    app = SocklabApp()
    async with app.run_test(size=(80, 24)):
        panel = app.lesson_panel
        run, socket_press = Action("server", "run"), Action("server", "socket")
        mark = panel.mark("server")
        server = lab.server()
        panel.feed([server.socket()])
        assert panel.shown(socket_press, mark)
        assert not panel.shown(run, mark)
        failed = server.recv(16, timeout=1.0).event  # not connected: ENOTCONN
        assert failed is not None and not failed.ok
        panel.feed([failed])
        assert not panel.shown(run, mark)
        bound = server.bind("127.0.0.1", 0)
        panel.feed([bound])
        assert panel.shown(run, mark)
        mark = panel.mark("server")
        again = lab.server()
        taken = again.bind("127.0.0.1", bound.result[1]) if again.socket().ok else None
        assert taken is not None and taken.error == "EADDRINUSE"
        panel.feed([taken])
        assert panel.shown(run, mark), "a bind that failed ends the Run too"
