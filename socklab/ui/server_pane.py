"""The server pane: a listening (or datagram) socket and the connections it accepts."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label, Select

from ..engine import GREETING, Endpoint, Lab, Server
from ..inputs import decode_escapes, parse_backlog
from ..modes import MODES, STREAM_ONLY, Service
from ..scenarios import ServerPlan, run_server
from .connection_list import ConnectionRow, endpoint_row
from .endpoint_pane import EndpointPane, ParseValidator, Settings

LISTENER = "listener"
DGRAM_RECV = 65535


def _greeting_text() -> str:
    return GREETING.decode()


class ServerPane(EndpointPane):
    """socket → bind → listen → accept, and a mode that serves every connection."""

    SIDE = "server"
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

    @dataclass
    class Bound(Message):
        """The server's socket got its address: ``port`` is the real port."""

        requested: int
        port: int

    def __init__(self, lab: Lab, *, id: str | None = None) -> None:
        super().__init__(lab, id=id)
        self.server: Server | None = None
        self.service: Service | None = None
        self._select_conn: str | None = None
        self._known_conns: set[int] = set()
        #: The port the last bind gave, as displayed (the client follows it).
        self.last_bound: str | None = None

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
        with Horizontal(classes="row"):
            yield Label("send", classes="field-label")
            yield Input(_greeting_text(), compact=True, id=self.wid("message"),
                        classes="field-message", validators=[ParseValidator(decode_escapes)],
                        tooltip=r"what send() sends: \r \n \t \xNN escapes work")

    # -- fields ---------------------------------------------------------------

    @property
    def mode(self) -> str:
        value = self.query_one(f"#{self.wid('mode')}", Select).value
        return value if isinstance(value, str) else "manual"

    def check_extra_fields(self) -> None:
        self.parse_field("backlog", parse_backlog)

    def backlog(self) -> int:
        return int(self.parse_field("backlog", parse_backlog))  # type: ignore[arg-type]

    # -- which socket -----------------------------------------------------------

    def endpoint_for(self, settings: Settings) -> Server:
        """The server endpoint for these settings (a new one if family/type changed)."""
        server = self.server
        if server is None or (server.family, server.kind) != (settings.family, settings.kind):
            if server is not None and server.is_open:
                server.close()
            server = self.lab.server(settings.family, settings.kind)
            self.server = server
            self.service = None
        return server

    def selected(self) -> Endpoint | None:
        """The socket Send/Recv/Close act on: a selected connection, or the listener."""
        key = self.query_one(f"#{self.wid('connections')}").selected_key  # type: ignore[attr-defined]
        if self.server is None:
            return None
        if key and key != LISTENER and key.isdigit():
            conn = self.server.connections.get(int(key))
            if conn is not None:
                return conn
        return self.server

    # -- the calls ----------------------------------------------------------------

    def call_socket(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        server = self.endpoint_for(settings)
        self.serial("socket()", server.socket)

    def call_bind(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        server = self.endpoint_for(settings)
        self.serial("bind()", lambda: self._bind(server, settings))

    def _bind(self, server: Server, settings: Settings) -> None:
        event = server.bind(settings.host, settings.port)
        if event.ok and isinstance(event.result, tuple):
            self.post_message(self.Bound(settings.port, int(event.result[1])))

    def call_listen(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        server = self.endpoint_for(settings)
        backlog = self.backlog()
        self.serial("listen()", lambda: self._listen(server, settings, backlog))

    def _listen(self, server: Server, settings: Settings, backlog: int) -> None:
        was_bound = server.local is not None
        event = server.listen(backlog)
        if event.ok and not was_bound and isinstance(event.result, tuple):
            self.post_message(self.Bound(settings.port, int(event.result[1])))

    def call_accept(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        server = self.endpoint_for(settings)
        self.background("accept()", lambda: self._accept(server))

    def _accept(self, server: Server) -> None:
        conn, _event = server.accept()
        if conn is not None:
            self._select_conn = str(conn.conn)

    def call_send(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        target = self.selected() or self.endpoint_for(settings)
        if settings.stream:
            self.background("send()", lambda: target.send(settings.message))
            return
        last = getattr(self.server, "last_datagram", None) if self.server else None
        if not last:
            self.app.notify("sendto() needs an address: recvfrom() first, to learn who "
                            "sent a datagram, then reply to them", severity="warning",
                            markup=False)
            return
        host, port = last[1]
        self.background("sendto()", lambda: target.sendto(settings.message, host, port))

    def call_recv(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        target = self.selected() or self.endpoint_for(settings)
        if settings.stream:
            self.background("recv()", lambda: target.recv(1024))
        else:
            self.background("recvfrom()", lambda: target.recvfrom(DGRAM_RECV))

    def call_close(self) -> None:
        settings = self.settings()
        if settings is None:
            return
        target = self.selected() or self.endpoint_for(settings)
        self.serial("close()", target.close)

    def call_run(self) -> None:
        """socket, bind, listen (stream), then serve with the chosen mode."""
        settings = self.settings()
        if settings is None:
            return
        mode = self.mode
        if mode in STREAM_ONLY and not settings.stream:
            self.app.notify(f"mode {mode} needs SOCK_STREAM (HTTP runs over TCP)",
                            severity="warning", markup=False)
            return
        backlog = self.backlog()
        if self.server is not None and self.server.is_open:
            self.server.close()
        self.server = self.lab.server(settings.family, settings.kind)
        server = self.server
        self.background("Run server", lambda: self._run(server, settings, backlog, mode))

    def _run(self, server: Server, settings: Settings, backlog: int, mode: str) -> None:
        plan = ServerPlan(settings.family, settings.kind, settings.host, settings.port,
                          backlog, mode)
        if server is not self.server:
            return
        self.service = run_server(self.lab, server, plan)
        if server.local is not None and server.is_open:
            self.post_message(self.Bound(settings.port, int(server.local[1])))

    # -- state ---------------------------------------------------------------------

    def next_steps(self) -> set[str]:
        server = self.server
        if server is None or not server.is_open:
            return {"run", "socket"}
        if server.local is None:
            return {"bind"}
        serving = self.service is not None and not self.service.finished.is_set()
        if not server.listening and self.stream:
            return {"listen"}
        selected = self.selected()
        steps: set[str] = set()
        if selected is not None and selected is not server:
            if selected.state == "connected":
                steps |= {"send", "recv"}
            elif selected.state == "peer closed":
                steps.add("close")
        elif not serving:
            steps.add("accept" if self.stream else "recv")
        return steps

    def refresh_state(self) -> None:
        super().refresh_state()
        try:
            connections = self.query_one(f"#{self.wid('connections')}")
        except Exception:
            return
        rows: list[ConnectionRow] = []
        server = self.server
        if server is not None and server.sock is not None:
            kind = "listener" if self.stream else "socket"
            rows.append(self._row(LISTENER, kind, server, listener=True))
            numbers = list(server.connections)
            for number in numbers:
                rows.append(self._row(str(number), f"[{number}]", server.connections[number]))
            fresh = set(numbers) - self._known_conns
            self._known_conns = set(numbers)
            if fresh and self._select_conn is None:
                self._select_conn = str(max(fresh))  # a new connection is selected
        select, self._select_conn = self._select_conn, None
        connections.show(rows, select=select)  # type: ignore[attr-defined]
        connections.display = bool(rows)

    def _row(self, key: str, label: str, endpoint: Endpoint,
             listener: bool = False) -> ConnectionRow:
        return endpoint_row(key, label, endpoint, listener=listener, numbers=self.numbers)

    def after_reset(self) -> None:
        """Every socket was closed: forget the service and the closed connections."""
        self.service = None
        if self.server is not None:
            self.server.forget_closed()
        self.refresh_state()
