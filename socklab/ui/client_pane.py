"""The client pane: one or more client sockets that connect, send and receive.

Every Run, and every extra client of "connect ×N", is a new `lab.client()`,
as each run of the lecture's ``sockets_client.py`` is a new socket; the list
shows them all and the selected one is what Send / Recv / Close act on.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from ..engine import Endpoint, Lab
from ..inputs import decode_escapes
from ..scenarios import ClientPlan, run_client
from .connection_list import ConnectionRow, endpoint_row
from .endpoint_pane import DEFAULT_PORT, EndpointPane, ParseValidator, Settings, parse_count

#: What Run sends over UDP when the message field is empty (a datagram is
#: what tells a UDP server who to answer).
UDP_DEFAULT = b"hello"


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

    def __init__(self, lab: Lab, *, id: str | None = None) -> None:
        super().__init__(lab, id=id)
        self.clients: dict[int, Endpoint] = {}
        self.current: Endpoint | None = None
        self._select_next: str | None = None
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
            yield Label("1024 bytes per recv()", classes="field-note")
        with Horizontal(classes="row"):
            yield Label("send", classes="field-label")
            yield Input("", placeholder=r"text to send, e.g. GET / HTTP/1.0\r\n\r\n",
                        compact=True, id=self.wid("message"), classes="field-message",
                        validators=[ParseValidator(decode_escapes)], valid_empty=True,
                        tooltip=r"what send() sends: \r \n \t \xNN escapes work")

    def check_extra_fields(self) -> None:
        self.parse_field("count", parse_count)

    # -- which socket ---------------------------------------------------------

    def new_client(self, settings: Settings) -> Endpoint:
        client = self.lab.client(settings.family, settings.kind)
        self.clients[client.conn or 0] = client
        self.current = client
        self._select_next = str(client.conn)
        return client

    def selected(self) -> Endpoint | None:
        key = self.query_one(f"#{self.wid('connections')}").selected_key  # type: ignore[attr-defined]
        if key and key.isdigit() and int(key) in self.clients:
            return self.clients[int(key)]
        return self.current

    def reusable(self, settings: Settings) -> Endpoint:
        """The selected client if it has no open socket and fits; else a new one."""
        client = self.selected()
        if client is None or client.is_open or \
                (client.family, client.kind) != (settings.family, settings.kind):
            return self.new_client(settings)
        self.current = client
        return client

    def target(self, settings: Settings) -> Endpoint:
        """The client Connect/Send/Recv/Close act on (a fresh one if there is none)."""
        client = self.selected()
        return client if client is not None else self.new_client(settings)

    # -- the calls --------------------------------------------------------------

    def call_socket(self) -> None:
        settings = self.settings()
        if settings is not None:
            client = self.reusable(settings)
            self.serial("socket()", client.socket)

    def call_connect(self) -> None:
        settings = self.settings()
        if settings is not None:
            client = self.target(settings)
            self.background("connect()", lambda: client.connect(settings.host, settings.port))

    def call_connect_n(self) -> None:
        """N new clients, each socket + connect in its own worker (to fill a backlog)."""
        settings = self.settings()
        if settings is None:
            return
        count = int(self.parse_field("count", parse_count))  # type: ignore[arg-type]
        for _ in range(count):
            client = self.new_client(settings)
            self.background("connect ×N", lambda c=client: self._open(c, settings))

    def _open(self, client: Endpoint, settings: Settings) -> None:
        if client.socket().ok:
            client.connect(settings.host, settings.port)

    def call_send(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        client = self.target(settings)
        if settings.stream:
            self.background("send()", lambda: client.send(settings.message))
        else:
            self.background("sendto()", lambda: client.sendto(settings.message, settings.host,
                                                              settings.port))

    def call_recv(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        client = self.target(settings)
        if settings.stream:
            self.background("recv()", lambda: client.recv(1024))
        else:
            self.background("recvfrom()", lambda: client.recvfrom(65535))

    def call_shutdown(self) -> None:
        settings = self.settings()
        if settings is not None:
            self.serial("shutdown()", self.target(settings).shutdown)

    def call_close(self) -> None:
        settings = self.settings()
        if settings is not None:
            self.serial("close()", self.target(settings).close)

    def call_run(self) -> None:
        """The lecture's client: socket, connect, send, recv until EOF, close."""
        settings = self.settings()
        if settings is None:
            return
        client = self.new_client(settings)
        self.background("Run client", lambda: self._run(client, settings))

    def _run(self, client: Endpoint, settings: Settings) -> None:
        payloads = (settings.message,) if settings.message else ()
        if not settings.stream:
            # A datagram is what tells a UDP server who to answer.
            payloads = payloads or (UDP_DEFAULT,)
        plan = ClientPlan(settings.family, settings.kind, settings.host, settings.port,
                          payloads, replies=1)
        run_client(self.lab, client, plan)

    # -- state ---------------------------------------------------------------------

    def next_steps(self) -> set[str]:
        client = self.selected()
        if client is None or not client.is_open:
            return {"run", "socket"}
        if client.eof:
            return {"close"}
        if self.stream and client.peer is None:
            return {"connect"}
        return {"send", "recv"}

    def refresh_state(self) -> None:
        super().refresh_state()
        try:
            connections = self.query_one(f"#{self.wid('connections')}")
        except Exception:
            return
        rows: list[ConnectionRow] = [
            endpoint_row(str(number), f"client[{number}]", client, numbers=self.numbers)
            for number, client in list(self.clients.items())
        ]
        select, self._select_next = self._select_next, None
        connections.show(rows, select=select)  # type: ignore[attr-defined]
        connections.display = bool(rows)

    def after_reset(self) -> None:
        """Every socket was closed: drop the closed clients from the list."""
        self.clients = {n: c for n, c in self.clients.items() if c.is_open}
        if self.current is not None and not self.current.is_open:
            self.current = None
        self.refresh_state()
