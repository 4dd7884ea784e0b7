"""Lessons as a learner does them alone (issue 22): by hand from the step text, one
step ahead, with a wrong value typed, Next and Back by their keys, at 80×24 and
120×36, predicting before the key call.

By hand: the test reads each step's text for the buttons it names, types the
values the step sets into the fields, answers the step's question with a key,
presses the named buttons (``Button.press``: what a click or Enter does) and
waits for the step to be met.  Next is pressed only on a step already done, to
go on: it never does a step's work here (the test checks that no call follows it).
"""

from __future__ import annotations

import asyncio

import pytest
from helpers import IPV6_MISSING
from hosts_helpers import UNAVAILABLE
from pilot import until
from textual.widgets import Select, TabbedContent

from socklab.events import PREDICT, WAIT
from socklab.guided import Action, Step, all_lessons, parse_lesson
from socklab.ui.app import SocklabApp
from socklab.ui.lesson_panel import LessonPanel

NAMES = [lesson.name for lesson in all_lessons()]
SIZES = [(80, 24), (120, 36)]
#: The words a step's text uses for a button (the label a learner sees).
LABELS = {"run": "Run", "connect-n": "connect ×N", "run-n": "Run"}
DGRAM = {"send": "sendto()", "recv": "recvfrom()"}


#: The issue's lessons: each asks a prediction before its key call.
PREDICTING = {"welcome", "echo", "udp", "ipv6", "ports", "inuse", "refused", "backlog",
              "privileged", "boundaries", "close", "http", "regex", "two-hosts"}


def _two_hosts(name: str) -> bool:
    lesson = next(lesson for lesson in all_lessons() if lesson.name == name)
    return any(action.call == "two-hosts" for step in lesson.steps for action in step.actions)


def _skip(name: str) -> None:
    if name == "ipv6" and IPV6_MISSING is not None:
        pytest.skip(f"the ipv6 lesson needs an IPv6 loopback: {IPV6_MISSING}")
    if _two_hosts(name) and UNAVAILABLE is not None:
        pytest.skip(f"the {name} lesson needs two network namespaces: {UNAVAILABLE}")


def _named(step: Step, action: Action, dgram: bool) -> bool:
    """The step's text names the button (``**socket()**``, ``**Run**``, ``**F7**``)."""
    if action.side == "lab":  # a key, or a Cable bar preset by its name
        word = {"reset": "Reset", "two-hosts": "F7"}.get(action.call)
        return (word or action.call.removeprefix("cable-")).lower() in step.text.lower()
    label = LABELS.get(action.call) or (DGRAM.get(action.call) if dgram else None) \
        or f"{action.call}()"
    return label in step.text


def _count_presses(panel: LessonPanel) -> list[Action]:
    """Every button the lesson panel presses from now on (a learner's own presses,
    made through the same controls by this test, are counted too)."""
    presses: list[Action] = []
    press = panel.controls.press

    def counted(side: str, call: str, target: str | None = None) -> None:
        presses.append(Action(side, call, target))
        press(side, call, target)

    panel.controls.press = counted  # type: ignore[method-assign]
    return presses


def _visible(app: SocklabApp, selector: str) -> bool:
    """The widget is drawn whole on the screen (not scrolled away, not cut)."""
    widget = app.query_one(selector)
    shown = app.screen._compositor.visible_widgets.get(widget)
    if shown is None:
        return False
    region, clip = shown
    return clip.contains_region(region)


def _text(app: SocklabApp, selector: str) -> str:
    return str(app.query_one(selector).render())


async def _fits(app: SocklabApp, pilot) -> None:
    """The step's instruction, its check lines and Back / Next are in view; no host
    or port field is cut (``127.0.0.1`` never reads as ``12``)."""
    panel = app.lesson_panel
    await pilot.pause()
    panel.scroll_home(animate=False)
    await pilot.pause()
    for part in ("#lesson-step", "#lesson-text", "#lesson-expect", "#lesson-next",
                 "#lesson-back"):
        if app.query_one(part).display:
            assert _visible(app, part), f"{part} is out of view at {app.size}"
    if app.query_one("#tabs", TabbedContent).active != "lab":
        return  # the step shows another tab: the panes are not on screen
    for pane in (app.server_pane, app.client_pane):
        for name in ("host", "port"):
            field = pane.input(name)
            assert field.content_region.width >= len(field.value), \
                f"{pane.SIDE} {name} {field.value!r} cut to {field.content_region.width}"
        for name in ("family", "type"):  # AF_INET6 never reads as AF_INET
            select = pane.query_one(f"#{pane.wid(name)}", Select)
            value = panel.controls.value(pane.SIDE, name)
            width = select.query_one("#label").content_region.width
            assert width >= len(value), f"{pane.SIDE} {name} {value!r} cut to {width}"
    for button in app.query(".calls > Button"):
        if button.display and button.region.width:
            assert button.region.width >= len(str(button.label)), \
                f"{button.id} cut: {button.label} in {button.region.width}"


async def _press(app: SocklabApp, panel: LessonPanel, action: Action) -> None:
    """A learner's press of the button the step names (and its wait to see it)."""
    if action.side == "lab":  # Ctrl+R, F7, a Cable bar preset: what they run, awaited
        await panel.controls.act(action.call)
        return
    seen = panel._per_side[action.side]
    panel.controls.press(action.side, action.call, action.target)
    await until(lambda: panel._per_side[action.side] > seen, f"{action}")


async def _answer(pilot, panel: LessonPanel) -> None:
    """The step's question, answered with key 1 (a guess: the event says if it held)."""
    run = panel.run
    if run.asking:
        await pilot.press("1")
        await until(lambda: run.index in run.answers, "the answer")


async def _by_hand(pilot, name: str) -> None:
    app = pilot.app
    panel = app.lesson_panel
    await until(lambda: panel.run is not None and panel.run.lesson.name == name,
                "the lesson opening")
    run = panel.run
    presses = _count_presses(panel)
    while True:
        step = run.step
        await _fits(app, pilot)
        await _answer(pilot, panel)
        for setting in step.settings:  # typed, as the step says (it filled them too)
            value = run.fill(setting)
            if setting.side != "regex":
                assert panel.controls.value(setting.side, setting.name) == value
            panel.controls.fill(setting.side, setting.name, value)
        await asyncio.sleep(0.02)  # the fields' own messages (a family's host)
        dgram = not app.client_pane.stream
        for action in step.actions:
            assert _named(step, action, dgram), f"{name}: {step.title!r} names no {action}"
            await _press(app, panel, action)
        for _ in range(8 if step.repeat else 0):
            if run.done:
                break
            await _press(app, panel, step.repeat)
        await until(lambda: run.done, f"{name}: step {step.title!r}")
        assert panel.stuck is None and run.wrong is None
        if step.question is not None:
            await until(lambda: run.index in run.observed, "the event the question is about")
        if run.complete:
            break
        pressed = len(presses)
        await pilot.press("f10")  # Next on a done step: only goes on
        await until(lambda s=step: run.step is not s, "Next")
        assert len(presses) == pressed, f"Next pressed {presses[pressed:]} on a done step"
    await pilot.pause()
    assert "Lesson complete" in _text(app, "#lesson-status")
    assert run.done_steps == set(range(len(run.lesson.steps)))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x36"])
@pytest.mark.parametrize("name", NAMES)
async def test_every_lesson_by_hand(name: str, size: tuple[int, int]) -> None:
    _skip(name)
    app = SocklabApp()
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does: two-hosts mode's switch
    app.lessons.to_open = name
    async with app.run_test(size=size) as pilot:
        await _by_hand(pilot, name)
        run = app.lesson_panel.run
        asked = [i for i, step in enumerate(run.lesson.steps) if step.question]
        assert asked or name not in PREDICTING, f"{name} asks no prediction"
        await until(lambda: sum(e.op == PREDICT for e in run.history) == 2 * len(asked),
                    "the predictions in the log")
        predictions = [e for e in run.history if e.op == PREDICT]
        assert [e.phase for e in predictions] == [WAIT, "done"] * len(asked)
        assert all("held" in e.result for e in predictions[1::2])
        if name == "http":
            http = app.http_view.received.response()
            assert http.status_line == "HTTP/1.0 200 OK" and b"But soft" in http.body


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
        presses = _count_presses(panel)
        await _press(app, panel, Action("server", "recv", "newest"))  # step 4, ahead
        await pilot.press("f10")
        await until(lambda: run.step.title == "One recv", "Next")
        assert run.done, "the recv done ahead is counted as the step opens"
        await pilot.press("f10")
        await until(lambda: run.step.title == "A small recv", "Next")
        assert presses == [Action("server", "recv", "newest")]
        await pilot.press("f10")  # this step by Next: one send, one recv(4)
        await until(lambda: run.complete or panel.stuck, "the last step")
        assert run.complete and panel.stuck is None
        assert presses[1:] == [Action("client", "send"), Action("server", "recv", "newest")]
        recvs = [e for e in run.history if e.side == "server" and e.op == "recv"]
        assert [e.args for e in recvs if e.phase != WAIT] == [(1024,), (4,)]


async def _next_until(pilot, panel: LessonPanel, title: str) -> None:
    """Next (F10) until the step titled ``title`` is done: each step done by Next."""
    run = panel.run
    while True:
        if not run.done:
            await pilot.press("f10")
            await until(lambda: run.done or panel.stuck, f"Next doing {run.step.title!r}")
            assert panel.stuck is None, panel.stuck
        if run.step.title == title:
            return
        index = run.index
        await pilot.press("f10")
        await until(lambda i=index: run.index > i, "Next going on")


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
            await _press(app, panel, Action("server", call))
        await until(lambda: run.difference is not None, "the difference")
        await pilot.pause()
        wrong = _text(app, "#lesson-wrong")
        assert "listen(5): the backlog is 5; this step needs 2" in wrong
        assert not run.done
        presses = _count_presses(panel)
        await pilot.press("f10")
        await until(lambda: panel.stuck is not None, "Next giving up")
        assert presses == [], "Next repeated a call the step already saw"
        await pilot.pause()
        assert "cannot be done from here" in _text(app, "#lesson-wrong")
        assert app.query_one("#lesson-restart").display
        assert "complete" not in _text(app, "#lesson-status").lower()
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
        await _press(app, panel, Action("client", "send"))
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
        await pilot.pause()
        await pilot.pause()
        footer = "".join(str(k.render()) for k in app.screen.query("FooterKey"))
        assert "Next" in footer and "Back" in footer
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

