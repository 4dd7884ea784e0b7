"""A learner doing a lesson alone, by hand, from the step text (issue 22).

`by_hand` reads each step's text for the buttons it names, types the values
the step sets into the fields, answers the step's question with a key, presses
the named buttons (``Button.press``: what a click or Enter does) and waits for
the step to be met.  Next (F10) is pressed only on a step already done, to go
on: it never does a step's work here (the play checks that no call follows it).
At every step the instruction, its check lines and Back / Next are in view.

Where a learner often goes wrong first (`WRONG_FIRST`), the wrong call is made
before the right ones, and the lesson must name it and not go on.  At the end
the learner's checks (`learner_checks`): each prediction logged and judged, the
HTTP view's response, the regex box's words.

Run as a program, it plays one lesson so with packet capture on, then plays it
again by ``--auto`` in the same lab at 120×36 (the wide layout), and prints the
session as JSON Lines for the oracle to judge (`oracle.lesson_player.play`;
tests/test_lesson_oracle.py plays every lesson so)::

    python tests/lesson_learner.py NAME [COLSxROWS]
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from helpers import IPV6_MISSING
from hosts_helpers import UNAVAILABLE
from pilot import until
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Select, TabbedContent

from socklab.events import PREDICT, WAIT
from socklab.guided import Action, Step, all_lessons
from socklab.ui.app import SocklabApp
from socklab.ui.lesson_panel import LessonPanel

NAMES = [lesson.name for lesson in all_lessons()]
#: The words a step's text uses for a button (the label a learner sees).
LABELS = {"run": "Run", "connect-n": "connect ×N", "run-n": "Run", "send-bulk": "**b**"}
#: The calls a learner makes with a key, not a button: the key.
KEYS = {("client", "send-bulk"): "b"}
#: How long the learner looks before pressing a ``repeat:`` button again.
LOOK = 0.5
DGRAM = {"send": "sendto()", "recv": "recvfrom()"}
#: The parts of the lesson panel that must be on screen at every step.
PANEL_PARTS = ("#lesson-step", "#lesson-text", "#lesson-expect", "#lesson-next",
               "#lesson-back")
#: A wrong call a learner makes first, on the step with this title: its error.
WRONG_FIRST = {("welcome", "Listen"): ("server", "accept", "EINVAL")}
#: The issue's lessons: each asks a prediction before its key call.
PREDICTING = {"welcome", "echo", "udp", "ipv6", "ports", "inuse", "refused", "backlog",
              "privileged", "boundaries", "close", "http", "regex", "two-hosts", "flow-control"}


def _two_hosts(name: str) -> bool:
    lesson = next(lesson for lesson in all_lessons() if lesson.name == name)
    return any(action.call == "two-hosts" for step in lesson.steps for action in step.actions)


def skip_unplayable(name: str) -> None:
    """Skip, saying why, a lesson this machine cannot play (IPv6, two hosts)."""
    if name == "ipv6" and IPV6_MISSING is not None:
        pytest.skip(f"the ipv6 lesson needs an IPv6 loopback: {IPV6_MISSING}")
    if _two_hosts(name) and UNAVAILABLE is not None:
        pytest.skip(f"the {name} lesson needs two network namespaces: {UNAVAILABLE}")


def _named(step: Step, action: Action, dgram: bool) -> bool:
    """The step's text names the button (``**socket()**``, ``**Run**``, ``**F7**``)."""
    if action.side == "lab":  # a key, or a Cable bar preset by its name
        word = {"reset": "Reset", "two-hosts": "F7", "cable": "Apply"}.get(action.call)
        return (word or action.call.removeprefix("cable-")).lower() in step.text.lower()
    label = LABELS.get(action.call) or (DGRAM.get(action.call) if dgram else None) \
        or f"{action.call}()"
    return label in step.text


def count_presses(panel: LessonPanel) -> list[Action]:
    """Every button the lesson panel presses from now on (Next doing a step's work);
    a learner's own presses are the panes' buttons (`press`) and are not counted."""
    presses: list[Action] = []
    press = panel.controls.press

    def counted(side: str, call: str, target: str | None = None) -> None:
        presses.append(Action(side, call, target))
        press(side, call, target)

    panel.controls.press = counted  # type: ignore[method-assign]
    return presses


def visible(app: SocklabApp, selector: str) -> bool:
    """The widget is drawn whole on the screen (not scrolled away, not cut)."""
    widget = app.query_one(selector)
    shown = app.screen._compositor.visible_widgets.get(widget)
    if shown is None:
        return False
    region, clip = shown
    return clip.contains_region(region)


def text(app: SocklabApp, selector: str) -> str:
    return str(app.query_one(selector).render())


async def panel_in_view(app: SocklabApp, pilot) -> None:
    """The step's instruction, its check lines and Back / Next are in view."""
    panel = app.lesson_panel
    await pilot.pause()
    panel.scroll_home(animate=False)
    await pilot.pause()
    for part in PANEL_PARTS:
        if app.query_one(part).display:
            assert visible(app, part), f"{part} is out of view at {app.size}"


async def _fits(app: SocklabApp, pilot) -> None:
    """The lesson panel is in view; no host or port field is cut (``127.0.0.1``
    never reads as ``12``)."""
    panel = app.lesson_panel
    await panel_in_view(app, pilot)
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
    shown = app.screen._compositor.visible_widgets
    for note in app.query(".field-note"):  # "bytes per recv()" never reads "bytes per re"
        if note.display and note in shown:
            region, clip = shown[note]
            assert clip.contains_region(region), f"{note.id} cut: {note.render()!s}"


async def press(app: SocklabApp, panel: LessonPanel, action: Action, pilot=None) -> None:
    """A learner's press of the button the step names, or of its key (and its wait to
    see it)."""
    if action.side == "lab" and action.call.startswith("cable-"):  # a Cable bar preset
        assert await panel.controls.set_cable(action.call.removeprefix("cable-")), action
        return
    if action.side == "lab":  # Ctrl+R, F7, Apply: what they run, awaited
        await panel.controls.act(action.call)
        return
    mark = panel.mark(action.side)
    name = KEYS.get((action.side, action.call))
    if name is not None and pilot is not None:
        panel.controls.settle()
        panel.controls.choose(action.side, action.target)
        await key(pilot, name)
    else:
        _press_button(app, panel, action)
    await until(lambda: panel.shown(action, mark), f"{action}")


def _press_button(app: SocklabApp, panel: LessonPanel, action: Action) -> None:
    """The pane's own button pressed (``Button.press``: what a click or Enter does, so
    a disabled button does nothing), on the row the step chose; the controls' press
    for a call with no button of its own."""
    panel.controls.settle()  # the panes show every socket so far, as a learner sees them
    try:
        button = app.query_one(f"#{action.side}-{action.call}", Button)
    except NoMatches:
        panel.controls.press(action.side, action.call, action.target)
        return
    panel.controls.choose(action.side, action.target)
    assert button.display and not button.disabled, f"{button.id} cannot be pressed"
    button.press()


async def _press_again(app: SocklabApp, pilot, panel: LessonPanel, again: Action) -> None:
    """``repeat:``: pressed again until the step is done, as a learner does: after a
    look at what the last press did, never while its call still waits."""
    run = panel.run
    op = "recvfrom" if again.call == "recv" and not app.pane(again.side).stream \
        else again.call
    for _ in range(8):
        if run.done:
            return
        await until(lambda: run.done or not run.is_waiting(again.side, op), f"{again} waiting")
        if run.done:
            return
        await press(app, panel, again, pilot)
        await look(lambda: run.done, LOOK)


async def key(pilot, name: str) -> None:
    """A key pressed as a learner does: out of a field first (Esc), where it would be text."""
    if isinstance(pilot.app.focused, Input):
        await pilot.press("escape")
    await pilot.press(name)


async def look(condition, seconds: float) -> None:
    """Wait until ``condition`` holds, or ``seconds`` have passed."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


async def _answer(pilot, panel: LessonPanel) -> None:
    """The step's question, answered with key 1 (a guess: the event says if it held)."""
    run = panel.run
    if run.asking:
        await pilot.press("1")
        await until(lambda: run.index in run.answers, "the answer")


async def _wrong_first(pilot, name: str, step: Step) -> None:
    """The wrong call a learner makes first on this step (`WRONG_FIRST`): named with
    its error and the step's hint, and the step not done by it."""
    wrong = WRONG_FIRST.get((name, step.title))
    if wrong is None:
        return
    app = pilot.app
    panel = app.lesson_panel
    run = panel.run
    side, call, error = wrong
    _press_button(app, panel, Action(side, call))
    await until(lambda: run.wrong is not None, "the wrong call")
    assert run.wrong.error == error and not run.done
    await pilot.pause()
    shown = text(app, "#lesson-wrong")
    assert error in shown and step.hint[:20] in shown, shown


async def _do_step(pilot, name: str, step: Step) -> None:
    """The step as its text says: its values typed, its buttons pressed."""
    app = pilot.app
    panel = app.lesson_panel
    run = panel.run
    await _wrong_first(pilot, name, step)
    for setting in step.settings:  # typed, as the step says (it filled them too)
        value = run.fill(setting)
        if setting.side != "regex":
            assert panel.controls.value(setting.side, setting.name) == value
        panel.controls.fill(setting.side, setting.name, value)
    await asyncio.sleep(0.02)  # the fields' own messages (a family's host)
    dgram = not app.client_pane.stream
    for action in step.actions:
        assert _named(step, action, dgram), f"{name}: {step.title!r} names no {action}"
        await press(app, panel, action, pilot)
    if step.repeat is not None:
        await _press_again(app, pilot, panel, step.repeat)


async def by_hand(pilot, name: str) -> None:
    """Play the lesson ``name`` (open or opening in the app) by hand to its end."""
    app = pilot.app
    panel = app.lesson_panel
    await until(lambda: panel.run is not None and panel.run.lesson.name == name,
                "the lesson opening")
    run = panel.run
    presses = count_presses(panel)
    while True:
        step = run.step
        await _fits(app, pilot)
        await _answer(pilot, panel)
        await _do_step(pilot, name, step)
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
    assert "Lesson complete" in text(app, "#lesson-status")
    assert run.done_steps == set(range(len(run.lesson.steps)))
    await learner_checks(app, name)


async def learner_checks(app: SocklabApp, name: str) -> None:
    """What the learner saw at the end: each question asked, answered and judged in
    the log; the HTTP view's response of romeo.txt; the regex box's words."""
    run = app.lesson_panel.run
    asked = [i for i, step in enumerate(run.lesson.steps) if step.question]
    assert asked or name not in PREDICTING, f"{name} asks no prediction"
    await until(lambda: sum(e.op == PREDICT for e in run.history) == 2 * len(asked),
                "the predictions in the log")
    predictions = [e for e in run.history if e.op == PREDICT]
    assert [e.phase for e in predictions] == [WAIT, "done"] * len(asked)
    assert all("held" in e.result for e in predictions[1::2])
    if name == "http":
        http = app.http_view
        response = http.received.response()
        assert response.status_line == "HTTP/1.0 200 OK" and response.complete
        assert b"But soft" in response.body
        assert text(app, "#http-status").startswith("HTTP/1.0 200 OK")
        assert "Content-Type" in text(app, "#http-headers")
        assert "But soft what light" in text(app, "#http-body")
    if name == "regex":  # the words of romeo.txt were extracted on the way
        words = next(i for i, step in enumerate(run.lesson.steps) if "words" in step.title)
        assert run.lesson.steps[words].expectations[0].text == "regex ~ soft"
        assert words in run.done_steps


def main(argv: list[str]) -> int:
    """Play a lesson by hand with capture on, then by --auto at 120×36; the session on
    stdout (JSON Lines)."""
    from oracle import lesson_player
    cols, _, rows = (argv[1] if len(argv) > 1 else "80x24").partition("x")
    return lesson_player.main(argv[:1], by_hand=by_hand, size=(int(cols), int(rows)),
                              then_auto=AUTO_SIZE)


#: The --auto play after the play by hand: the wide, tall layout.
AUTO_SIZE = (120, 36)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
