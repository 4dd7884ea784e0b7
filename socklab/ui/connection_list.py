"""The sockets a pane has open: the listener and its connections, or the clients.

Selecting a row chooses which socket the pane's Send / Recv / Close act on.
Rows are rebuilt only when what they say changes, and the selection follows
the row's key (not its position), so a new connection never steals it unless
the pane asks (`select`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..events import State
from ..kernel.describe import queue_gauge
from ..logformat import format_bytes
from ..viewstate import SocketView
from .shown_numbers import RealNumbers

#: Rows shown at most (the newest); a flood of connections stays cheap.
MAX_SHOWN = 200


def _address(addr: object, numbers: RealNumbers) -> str:
    addr = numbers.address(addr)
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return "—"


@dataclass(frozen=True)
class ConnectionRow:
    """What one row says; rows compare equal when nothing visible changed."""

    key: str
    label: str
    detail: str
    state: str
    #: The kernel's name for the TCP state, when it has said it.
    kernel: str = ""
    #: TCP_INFO's numbers on a cable with conditions: ``rtt 41ms cwnd 10 …``.
    tcp: str = ""

    def prompt(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(self.label, "bold")
        if self.kernel:
            # The kernel's own name goes first: it is what the lesson is about.
            text.append(f"  {self.kernel}", "dim" if self.state == State.CLOSED else "bold")
            if self.tcp:
                text.append(f"  {self.tcp}", "italic")
            text.append(f"  {self.detail}")
            return text
        if self.tcp:
            text.append(f"  {self.tcp}", "italic")
        text.append(f"  {self.detail}  ")
        style = "dim" if self.state in (State.CLOSED, State.NEW) else "italic"
        text.append(self.state, style)
        return text


def socket_row(label: str, view: SocketView, *, listener: bool = False,
               numbers: RealNumbers | None = None) -> ConnectionRow:
    """Describe one socket as the log described it: addresses, bytes in and out, state."""
    numbers = numbers or RealNumbers()
    if listener:
        where = _address(view.local, numbers) if view.local else "not bound"
        state = "listening" if view.listening else view.state
        return ConnectionRow(view.key, label, where, state, _kernel(view))
    peer = _address(view.peer, numbers)
    detail = f"{_address(view.local, numbers)} ⇄ {peer}" if view.local else peer
    detail += f"  in {format_bytes(view.bytes_in)} out {format_bytes(view.bytes_out)}"
    return ConnectionRow(view.key, label, detail, view.state, _kernel(view),
                         tcp_numbers(view.tcp) if view.is_open else "")


def tcp_numbers(numbers: dict | None) -> str:
    """TCP_INFO's numbers as a row says them: ``rtt 41ms cwnd 10 resent 3 unacked 4``."""
    if not numbers:
        return ""
    return (f"rtt {numbers.get('rtt_ms', 0):g}ms cwnd {numbers.get('cwnd', 0)} "
            f"resent {numbers.get('retransmitted', 0)} unacked {numbers.get('unacked', 0)}")


def _kernel(view: SocketView) -> str:
    """The kernel's state as the row shows it (a listener's is the gauge's business)."""
    return "" if view.kernel in (None, "LISTEN") else str(view.kernel)


class ConnectionList(OptionList):
    """A short list of sockets; the highlighted one is what the buttons act on."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False, compact=True)
        self._rows: tuple[ConnectionRow, ...] = ()

    @property
    def selected_key(self) -> str | None:
        """The key of the highlighted row, if any."""
        index = self.highlighted
        if index is None or not 0 <= index < len(self._rows):
            return None
        return self._rows[index].key

    def choose(self, key: str) -> None:
        """Highlight the row of ``key`` (as a click on it), if it is shown."""
        keys = [row.key for row in self._rows]
        if key in keys:
            self.highlighted = keys.index(key)

    def show(self, rows: Sequence[ConnectionRow], select: str | None = None) -> None:
        """Show these rows, keeping the selection on the same key if it is there."""
        rows = tuple(rows[-MAX_SHOWN:])
        want = select or self.selected_key
        if rows and len(rows) == len(self._rows):
            # As many rows as shown (the same sockets with new figures, or a
            # storm's newest sockets in a full list): only the rows that changed
            # are drawn again, in place, with no new layout of the screen.
            same = [row.key for row in rows] == [row.key for row in self._rows]
            for index, (old, new) in enumerate(zip(self._rows, rows, strict=True)):
                if old != new:
                    self.replace_option_prompt_at_index(index, new.prompt())
            self._rows = rows
            if not same:
                self.highlighted = None  # other sockets: chosen below, as in a new list
        elif rows != self._rows:
            self._rows = rows
            # In one step: clear_options then add_options hides the scrollbar
            # and shows it again.
            self.set_options([Option(row.prompt(), id=row.key) for row in rows])
        keys = [row.key for row in rows]
        if want in keys:
            index = keys.index(want)
            if self.highlighted != index:
                self.highlighted = index
        elif rows and self.highlighted is None:
            self.highlighted = len(rows) - 1


def queue_text(queue: int, backlog: int) -> Text:
    """A listener's accept queue as a gauge a class can read from the back row
    (the server pane's and the replay's)."""
    filled, empty, full = queue_gauge(queue, backlog)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append("accept queue ", "bold")
    text.append(filled, "bold red" if full else "bold")
    text.append(empty, "dim")
    text.append(f" {queue}", "bold")
    text.append(f"  backlog {backlog}")
    if full:
        text.append("  FULL", "bold red")
    return text
