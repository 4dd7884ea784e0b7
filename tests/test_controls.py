"""LabControls: the one way a part acts on the lab; the tables from a press to its call."""

from __future__ import annotations

from pilot import SIZE, is_, settle, watch
from textual.app import App, ComposeResult

from socklab.events import CLIENT, SERVER
from socklab.guided import load_lesson
from socklab.labcalls import CLIENT_CALLS, CLIENT_KEY_CALLS, SERVER_CALLS
from socklab.session import CALLS
from socklab.ui.app import SocklabApp
from socklab.ui.client_pane import ClientPane
from socklab.ui.controls import SETTLE_GUARD
from socklab.ui.lesson_panel import BASELINE, LessonPanel
from socklab.ui.server_pane import ServerPane
from socklab.viewstate import LISTENER, ViewState


def test_every_button_has_its_call_and_every_call_its_button() -> None:
    assert [call for call, _label in ServerPane.CALLS] == list(SERVER_CALLS)
    assert [call for call, _label in ClientPane.CALLS] == list(CLIENT_CALLS)
    assert [call for call, _label, _key in ClientPane.KEY_CALLS] == list(CLIENT_KEY_CALLS)
    assert list(CALLS) == [(SERVER, call) for call in SERVER_CALLS] + [
        (CLIENT, call) for call in CLIENT_CALLS + CLIENT_KEY_CALLS]


async def test_fill_press_settle_reset_through_the_controls() -> None:
    """A part's whole use of the lab: a family's host follows at once, a press has
    reported once settled, the view model names the pairs, a quiet reset empties it."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        lab = app.controls
        lab.fill(SERVER, "family", "AF_INET6")
        assert app.server_pane.input("host").value == "::1"
        lab.fill(SERVER, "family", "AF_INET")
        lab.fill(SERVER, "port", "0")
        lab.fill(SERVER, "mode", "manual")
        assert lab.press(SERVER, "run")
        assert await lab.reported(SETTLE_GUARD)  # reported: its socket() is in the log
        assert LISTENER in lab.view.sides[SERVER].sockets
        await watch(app).until(is_(SERVER, "accept", phase="wait"))  # Run goes on by itself
        assert await lab.reported(SETTLE_GUARD)
        server = lab.view.sides[SERVER].sockets[LISTENER]
        assert server.local is not None and lab.view.bound is not None
        assert app.client_pane.input("port").value == str(server.local[1])  # followed
        assert lab.press(CLIENT, "socket") and await lab.reported(SETTLE_GUARD)
        assert lab.press(CLIENT, "connect", target="newest")
        assert await lab.reported(SETTLE_GUARD)
        await watch(app).until(is_(SERVER, "accept"))  # manual mode's own accept
        await settle(app, pilot)
        assert lab.view.sides[SERVER].pairs == {"1": 1}
        assert lab.view.sides[CLIENT].pairs == {"1": 1}
        assert "⇄ server[1]" in app.client_pane.rows()[0].label
        lab.fill(CLIENT, "port", "not a port")
        assert not lab.press(CLIENT, "send")  # told why, nothing asked
        assert await lab.reported(SETTLE_GUARD)
        assert await lab.reset(quiet=True) == 3
        assert lab.view.sides[SERVER].pairs == {} and lab.view.sides[CLIENT].pairs == {}
        assert not lab.two_hosts


class FakeLab:
    """A LabControls that only notes what it is asked (a test's fake)."""

    def __init__(self) -> None:
        self.view = ViewState()
        self.two_hosts = True
        self.done: list[tuple] = []

    def fill(self, side: str, field: str, value: str) -> bool:
        self.done.append(("fill", side, field, value))
        return True

    def value(self, side: str, field: str) -> str:
        return ""

    def mark(self, side: str, field: str, on: bool) -> None:
        self.done.append(("mark", side, field, on))

    def unmark_all(self) -> None:
        pass

    async def act(self, call: str) -> None:
        self.done.append(("act", call))

    def settle(self) -> None:
        pass

    def press(self, side: str, call: str, target: str | None = None) -> bool:
        self.done.append(("press", side, call, target))
        return True

    async def reset(self, quiet: bool = False) -> int:
        self.done.append(("reset",))
        return 0

    async def set_two_hosts(self, on: bool) -> bool:
        self.done.append(("two-hosts", on))
        self.two_hosts = on
        return True

    async def reported(self, timeout: float = SETTLE_GUARD) -> bool:
        return True

    def show_tab(self, tab: str) -> None:
        self.done.append(("tab", tab))


class PanelOnly(App[None]):
    def __init__(self, lab: FakeLab) -> None:
        super().__init__()
        self.lab = lab

    def compose(self) -> ComposeResult:
        yield LessonPanel(self.lab)


async def test_the_lessons_panel_acts_only_through_its_controls() -> None:
    """Opening a lesson: one machine, the lab reset, the baseline filled — all asked of
    the controls (here a fake: no pane, no socket)."""
    lab = FakeLab()
    app = PanelOnly(lab)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(LessonPanel)
        await panel.start(load_lesson("welcome"))
        await pilot.pause()
        assert lab.done[:2] == [("two-hosts", False), ("reset",)]
        fills = [step[1:] for step in lab.done if step[0] == "fill"]
        assert fills[:len(BASELINE[SERVER])] == [
            (SERVER, name, value) for name, value in BASELINE[SERVER].items()]
        assert panel.run is not None and panel.run.lesson.name == "welcome"
