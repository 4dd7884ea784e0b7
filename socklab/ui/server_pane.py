"""The server pane: a listening (or datagram) socket and the connections it accepts."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Select, Static

from ..inputs import decode_escapes, parse_backlog, parse_recv_size
from ..labcalls import GREETING, MODES, STREAM_ONLY
from ..viewstate import LISTENER
from .connection_list import ConnectionRow, queue_text, socket_row
from .endpoint_pane import EndpointPane, ParseValidator


class ServerPane(EndpointPane):
    """socket → bind → listen → accept, and a mode that serves every connection."""

    SIDE = "server"
    #: (queue, backlog) the gauge shows; None: hidden.
    _queue_shown: tuple[int | None, int | None] | None = None
    TITLE = "Server"
    CALLS = (
        ("run", "▶ Run"),
        ("socket", "socket()"),
        ("bind", "bind()"),
        ("listen", "listen()"),
        ("accept", "accept()"),
        ("send", "send()"),
        ("recv", "recv()"),
        ("close", "close()"),
    )

    def compose_extra_fields(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("backlog", classes="field-label")
            yield Input("5", compact=True, id=self.wid("backlog"), classes="field-backlog",
                        max_length=8, validators=[ParseValidator(parse_backlog)],
                        tooltip="listen(backlog): how many finished handshakes may wait "
                                "for accept()")
            yield Label("mode", classes="field-label")
            yield Select([(m, m) for m in MODES], value="welcome", allow_blank=False,
                         compact=True, id=self.wid("mode"), classes="field-select",
                         type_to_search=False,
                         tooltip="what Run's server does with each connection")
        gauge = Static("", id=self.wid("queue"), classes="queue-gauge", markup=False)
        gauge.display = False  # until the kernel reports a listener's queue
        yield gauge
        with Horizontal(classes="row"):
            yield Label("send", classes="field-label")
            yield Input(GREETING.decode(), compact=True, id=self.wid("message"),
                        classes="field-message", validators=[ParseValidator(decode_escapes)],
                        tooltip=r"what send() sends: \r \n \t \xNN escapes work")
            yield Label("recv", classes="field-label field-after")
            yield Input("1024", compact=True, id=self.wid("recv-size"), classes="field-recv",
                        max_length=7, validators=[ParseValidator(parse_recv_size)],
                        tooltip="recv(n) / recvfrom(n): up to n bytes of the stream, or one "
                                "datagram (a smaller buffer loses the rest)")

    # -- fields ---------------------------------------------------------------

    @property
    def mode(self) -> str:
        value = self.query_one(f"#{self.wid('mode')}", Select).value
        return value if isinstance(value, str) else "manual"

    def extra_settings(self) -> dict[str, Any]:
        return {"backlog": self.parse_field("backlog", parse_backlog),
                "recv_size": self.parse_field("recv-size", parse_recv_size),
                "mode": self.mode}

    # -- the calls that need more than the fields ---------------------------------

    def press(self, call: str) -> bool:
        if call in ("send", "run") and not self.in_lab_mode():
            return False
        if call == "send":
            return self._send()
        if call == "run":
            return self._run()
        return super().press(call)

    def _send(self) -> bool:
        """send(), or over UDP sendto() the last datagram's sender."""
        if self.stream:
            return self.ask_for("send")
        sender = self.view.sides[self.SIDE].last_sender
        if sender is None:
            self.app.notify("sendto() needs an address: recvfrom() first, to learn who "
                            "sent a datagram, then reply to them", severity="warning",
                            markup=False)
            return False
        return self.ask_for("send", reply_to=sender)

    def _run(self) -> bool:
        """socket, bind, listen (stream), then serve with the chosen mode."""
        mode = self.mode
        if mode in STREAM_ONLY and not self.stream:
            self.app.notify(f"mode {mode} needs SOCK_STREAM (HTTP runs over TCP)",
                            severity="warning", markup=False)
            return False
        return self.ask_for("run")

    # -- state ---------------------------------------------------------------------

    def refresh_state(self) -> None:
        super().refresh_state()
        self._show_queue()

    def _show_queue(self) -> None:
        """The accept queue gauge: connections waiting for accept(), from the kernel."""
        listener = self.view.sides[self.SIDE].sockets.get(LISTENER)
        shown: tuple[int | None, int | None] | None = None
        if listener is not None and listener.listening and listener.queue is not None:
            shown = (listener.queue, listener.backlog)
        if shown == self._queue_shown:
            return
        try:
            gauge = self.query_one(f"#{self.wid('queue')}", Static)
        except Exception:
            return  # not composed yet: shown once it is
        self._queue_shown = shown
        gauge.display = shown is not None
        if shown is None:
            return
        queue, backlog = shown[0] or 0, shown[1] or 0
        gauge.update(queue_text(queue, backlog))

    def next_steps(self) -> set[str]:
        return self.view.server_next(self.socket_list.selected_key, self.stream)

    def rows(self) -> list[ConnectionRow]:
        rows = []
        for key, socket in self.view.sides[self.SIDE].sockets.items():
            if key == LISTENER:
                label = "listener" if socket.stream else "socket"
                rows.append(socket_row(label, socket, listener=True, numbers=self.numbers))
            else:
                rows.append(socket_row(f"[{key}]{self.peer_label(key)}", socket,
                                       numbers=self.numbers))
        # The server's own socket first, then its connections in the order they came.
        rows.sort(key=lambda row: row.key != LISTENER)
        return rows
