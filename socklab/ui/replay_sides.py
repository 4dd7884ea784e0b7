"""What each side had open at one moment of a replayed session: the kernel's view.

The lab's panes are made of fields and buttons that make real calls; a
recording makes none, so replay shows each side as the panes' socket lists
describe it (the same rows, from the same view-state model), with the
listener's accept queue gauge, all built from the events up to the replay's
cursor.  Text only, never markup: addresses came from a file.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..events import CLIENT, SERVER
from ..viewstate import LISTENER, ViewState
from .connection_list import queue_text, socket_row

TITLES = {SERVER: "Server", CLIENT: "Client"}


def side_text(view: ViewState, side: str) -> Text:
    """One side's sockets at this moment: the listener (and its queue) first."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    sockets = view.sides[side].sockets
    if not sockets:
        text.append("no socket yet", "dim")
        return text
    lines: list[Text] = []
    for key, socket in sorted(sockets.items(), key=lambda item: item[0] != LISTENER):
        listener = side == SERVER and key == LISTENER
        label = ("listener" if socket.stream else "socket") if listener else f"[{key}]"
        lines.append(socket_row(label, socket, listener=listener).prompt())
        if listener and socket.listening and socket.queue is not None:
            lines.append(queue_text(socket.queue, socket.backlog or 0))
    joined = Text("\n", end="").join(lines)
    joined.no_wrap, joined.overflow = True, "ellipsis"
    return joined


class ReplaySide(Static):
    """One side of a replayed session (read-only)."""

    def __init__(self, side: str) -> None:
        super().__init__("", id=f"replay-{side}", classes=f"replay-side {side}-pane",
                         markup=False)
        self.side = side
        self.border_title = TITLES[side]

    def show(self, view: ViewState) -> None:
        self.update(side_text(view, self.side))
