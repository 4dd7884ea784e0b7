"""A pane's connection list under a storm: redrawn in place, no layout of the screen.

Each layout of the lab's screen arranges and repaints every widget; under a
flood the panes are redrawn about once a second, and a list that kept its size
must not pay for one (figure 4 of the benchmarks).
"""

from __future__ import annotations

from textual import messages
from textual.app import App, ComposeResult
from textual.message import Message

from socklab.ui.connection_list import ConnectionList, ConnectionRow


def rows(*numbers: int) -> list[ConnectionRow]:
    return [ConnectionRow(f"k{n}", f"client[{n}]", f"127.0.0.1:{40000 + n}", "connected")
            for n in numbers]


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ConnectionList(id="list")


def shown(widget: ConnectionList) -> list[str]:
    return [str(widget.get_option_at_index(i).prompt).split()[0]
            for i in range(widget.option_count)]


async def test_a_full_list_of_other_sockets_is_redrawn_in_place_without_a_layout() -> None:
    layouts: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, messages.Layout):
            layouts.append(message)

    app = ListApp()
    async with app.run_test(size=(80, 12), message_hook=hook) as pilot:
        widget = app.query_one(ConnectionList)
        widget.show(rows(1, 2, 3, 4, 5, 6, 7))  # more than its 5 lines: a scrollbar
        await pilot.pause()
        layouts.clear()
        # A storm's newest sockets: as many rows, other keys.
        widget.show(rows(3, 4, 5, 6, 7, 8, 9))
        await pilot.pause()
        assert shown(widget) == [f"client[{n}]" for n in (3, 4, 5, 6, 7, 8, 9)]
        assert layouts == []
        # The chosen socket is kept where it is still shown, else the newest.
        assert widget.selected_key == "k7"  # the newest when first shown
        widget.show(rows(4, 5, 6, 7, 8, 9, 10))
        await pilot.pause()
        assert widget.selected_key == "k7"
        widget.show(rows(11, 12, 13, 14, 15, 16, 17))
        await pilot.pause()
        assert widget.selected_key == "k17"
        assert layouts == []
        # A list that grows changes its size: that is a layout, as it must be.
        widget.show(rows(11, 12))
        await pilot.pause()
        assert shown(widget) == ["client[11]", "client[12]"]
        assert widget.selected_key == "k12"
        assert layouts
