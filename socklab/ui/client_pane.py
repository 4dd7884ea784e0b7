"""The client pane: one or more client sockets that connect, send and receive.

Every Run, and every extra client of "connect ×N", is a new client,
as each run of the lecture's ``sockets_client.py`` is a new socket; the list
shows them all and the selected one is what Send / Recv / Close act on.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from ..inputs import decode_escapes, parse_recv_size
from ..labcalls import BULK_BYTES
from ..viewstate import ViewState
from .connection_list import ConnectionRow, socket_row
from .endpoint_pane import DEFAULT_PORT, Ask, EndpointPane, ParseValidator, parse_count


class ClientPane(EndpointPane):
    """socket → connect → send → recv → close, once or N times at once."""

    SIDE = "client"
    TITLE = "Client"
    CALLS = (
        ("run", "▶ Run"),
        ("socket", "socket()"),
        ("connect", "connect()"),
        ("connect-n", "connect ×N"),
        ("send", "send()"),
        ("recv", "recv()"),
        ("shutdown", "shutdown()"),
        ("close", "close()"),
    )

    #: Calls with a key (and a palette command) but no button: the pane at 80x24 has
    #: no room for a ninth.  (suffix, label, key)
    KEY_CALLS = (("send-bulk", f"bulk send() {BULK_BYTES // (1024 * 1024)} MiB", "b"),)

    def __init__(self, ask: Ask, view: ViewState, *, id: str | None = None) -> None:
        super().__init__(ask, view, id=id)
        #: The port field's value as the lab last set it (it may follow the server).
        self.auto_port = str(DEFAULT_PORT)

    def compose_extra_fields(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("×N", classes="field-label")
            yield Input("3", compact=True, id=self.wid("count"), classes="field-count",
                        max_length=3, validators=[ParseValidator(parse_count)],
                        tooltip="connect ×N opens this many clients at once "
                                "(try more than the backlog)")
            yield Label("recv", classes="field-label")
            yield Input("1024", compact=True, id=self.wid("recv-size"), classes="field-recv",
                        max_length=7, validators=[ParseValidator(parse_recv_size)],
                        tooltip="recv(n) / recvfrom(n): up to n bytes of the stream, or one "
                                "datagram (a smaller buffer loses the rest)")
            yield Label("bytes per recv()", classes="field-note", id=self.wid("recv-note"))
        with Horizontal(classes="row"):
            yield Label("send", classes="field-label")
            yield Input("", placeholder=r"text to send, e.g. GET / HTTP/1.0\r\n\r\n",
                        compact=True, id=self.wid("message"), classes="field-message",
                        validators=[ParseValidator(decode_escapes)], valid_empty=True,
                        tooltip=r"what send() sends: \r \n \t \xNN escapes work")

    def fit_fields(self) -> None:
        """The recv field's note ("bytes per recv()") only where it fits whole: at 80
        columns it read "bytes per re"; the field's tooltip says it too."""
        note = self.query_one(f"#{self.wid('recv-note')}", Label)
        note.display = not (self.size.width and self.size.width < self.NARROW)

    def press(self, call: str) -> bool:
        """A button's call, or one of `KEY_CALLS` (its key, the palette, a lesson)."""
        if any(call == suffix for suffix, _label, _key in self.KEY_CALLS):
            return self.in_lab_mode() and self.ask_for(call)
        return super().press(call)

    def extra_settings(self) -> dict[str, Any]:
        return {"count": self.parse_field("count", parse_count),
                "recv_size": self.parse_field("recv-size", parse_recv_size)}

    # -- state ---------------------------------------------------------------------

    def next_steps(self) -> set[str]:
        steps = self.view.client_next(self.socket_list.selected_key, self.stream)
        if steps == {"run", "socket"} and not any(
                s.is_open for s in self.view.sides["server"].sockets.values()) \
                and not self.view.sides[self.SIDE].sockets:
            return set()  # at the start the server comes first: only its Run is lit
        return steps

    def rows(self) -> list[ConnectionRow]:
        return [socket_row(f"client[{key}]{self.peer_label(key)}", socket,
                           numbers=self.numbers)
                for key, socket in self.view.sides[self.SIDE].sockets.items()]
