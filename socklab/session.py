"""The lab behind the screen: each pane request becomes real calls on lab threads.

`LabSession` owns the `Lab`, the server's endpoint and the `Service` that Run
server starts, and the clients.  The screen reaches the engine only through
it (`request`, `reset`, `close`), and learns what happened only from events.

Why calls run the way they do:

* No call runs on the caller's (the UI's) thread: even a "quick" call can
  block (bind resolves a host name), and accept, connect, recv wait by design.
* Quick calls (socket, bind, listen, shutdown, close) go through one *serial*
  queue per side, so pressing socket, bind, listen fast makes them in that
  order.  Calls that may block, and the Run sequences, get a thread of their
  own, so a recv that waits never holds up the close that would end it.
* Which socket a request acts on is decided when it is made (creating a
  client is no system call), so socket() then connect() pressed fast act on
  the same client.
* Every close the lab makes itself (Reset, Run again on an open server,
  socket() again, a family/type change, quit) is a real, logged close()
  attributed to the lab (``by: "lab"``) that says why: the engine's own for
  Reset, quit and socket() again, `_lab_close` for the rest.
* An unexpected exception in a job is told to the learner (``tell``), never a
  crash; socket errors are not exceptions here at all, but events.

UI-free: no textual, no rich.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from . import explain
from .engine import Endpoint, Lab, Server
from .engine.calls import client_ports
from .events import CLIENT, SERVER, Event, Sink
from .kernel.poller import KernelView
from .labcalls import BULK_BYTES, Request, Settings
from .modes import Service
from .scenarios import ClientPlan, ServerPlan, option_steps, run_client, run_server, run_steps

#: What Run sends over UDP when the message field is empty (a datagram is
#: what tells a UDP server who to answer).
UDP_DEFAULT = b"hello"


class Pending:
    """The jobs one request started: `wait` returns when all of them have ended."""

    def __init__(self) -> None:
        self._left = 0
        self._done = threading.Condition()

    def started(self) -> None:
        with self._done:
            self._left += 1

    def ended(self) -> None:
        with self._done:
            self._left -= 1
            self._done.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block (never on the UI thread) until the request's calls ended; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._left == 0, timeout)


class _Serial:
    """Jobs run one after another on a lab thread, in the order they came."""

    def __init__(self, session: LabSession, side: str) -> None:
        self._session = session
        self._side = side
        self._jobs: deque[tuple[str, Callable[[], object]]] = deque()
        self._lock = threading.Lock()
        self._running = False

    def add(self, what: str, job: Callable[[], object]) -> None:
        with self._lock:
            self._jobs.append((what, job))
            if self._running:
                return
            self._running = True
        self._session._spawn(self._run, f"{self._side}-calls")

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._running = False
                    return
                what, job = self._jobs.popleft()
            self._session._guarded(what, job)


class LabSession:
    """The lab, its server and clients, and the calls the panes ask for."""

    def __init__(self, clock: Callable[[], float] | None = None, *,
                 tell: Callable[[str], None] | None = None) -> None:
        self.lab = Lab(clock=clock)
        #: The kernel's view of the lab's TCP sockets: "state" events (issue 10).
        self.kernel = KernelView(self.lab).start()
        self.server: Server | None = None
        self.service: Service | None = None
        self.clients: dict[int, Endpoint] = {}
        #: The client made last: what a client call acts on when none is chosen.
        self.current: Endpoint | None = None
        #: Tells the learner about an unexpected failure (any thread).
        self.tell = tell or (lambda message: None)
        self._serial = {SERVER: _Serial(self, SERVER), CLIENT: _Serial(self, CLIENT)}
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Condition()
        self._closed = False
        #: The request being turned into jobs (under ``_lock``): each job counts in it.
        self._pending = Pending()

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Have ``sink`` receive every event (under the bus lock, on any thread)."""
        return self.lab.subscribe(sink)

    @property
    def open_sockets(self) -> int:
        return self.lab.open_sockets

    # -- running jobs ------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        with self._idle:
            self._busy += 1

        def run() -> None:
            try:
                target()
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        try:
            self.lab.spawn(run, name)
        except RuntimeError:  # no thread could be started: not busy after all
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
            raise

    def _guarded(self, what: str, job: Callable[[], object]) -> None:
        """Run ``job``; an unexpected exception is told, not raised."""
        try:
            job()
        except Exception as exc:
            if not self.lab.stopping:
                self.tell(f"{what} failed unexpectedly: {type(exc).__name__}: {exc}")

    def _counted(self, job: Callable[[], object]) -> Callable[[], object]:
        """``job``, counted in the request that started it until it ends."""
        pending = self._pending
        pending.started()

        def run() -> object:
            try:
                return job()
            finally:
                pending.ended()

        return run

    def _quick(self, side: str, what: str, job: Callable[[], object]) -> None:
        self._serial[side].add(what, self._counted(job))

    def _blocking(self, what: str, job: Callable[[], object]) -> None:
        counted = self._counted(job)
        self._spawn(lambda: self._guarded(what, counted), what)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every job started by a request has ended (not the Service's
        own threads, which serve until stopped); False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _recv(self, target: Endpoint, settings: Settings) -> None:
        """recv (stream) or recvfrom (datagram) on ``target``, with the pane's size: it may wait."""
        size = settings.recv_size
        if settings.stream:
            self._blocking("recv()", lambda: target.recv(size))
        else:
            self._blocking("recvfrom()", lambda: target.recvfrom(size))

    # -- requests ------------------------------------------------------------------

    def request(self, req: Request) -> Pending:
        """Make the call a pane asked for: returns at once (the calls run on lab
        threads) with what to wait on for them to end."""
        handler = CALLS.get((req.side, req.call))
        if handler is None:
            raise ValueError(f"no {req.side} call {req.call!r}")
        with self._lock:
            self._pending = pending = Pending()
            handler(self, req)
        return pending

    # -- the lab's own closes -----------------------------------------------------------

    def _lab_close(self, endpoint: Endpoint, reason: str) -> Event | None:
        """Close a socket the learner did not ask to close, as a logged close().

        The one place the session closes a socket itself; ``reason`` says why
        (Run again, a family/type change).  Reset, quit and socket() again are
        the engine's own (`Lab.reset`, `Lab.close_all`, `Endpoint.socket`),
        logged the same way.
        """
        return endpoint.close_by_lab(reason)

    def reset(self) -> int:
        """Close every socket, end every wait, and let the lab be used again.

        Blocking (it joins the lab's threads): call it from a worker.  Returns
        how many sockets were open.
        """
        closed = self.lab.open_sockets
        self.lab.reset(explain.RESET)
        client_ports(self.lab).forget()
        with self._lock:
            self.service = None
            # A new server endpoint: its connections are numbered from [1] again.
            self.server = None
            self.clients = {n: c for n, c in self.clients.items() if c.is_open}
            if self.current is not None and not self.current.is_open:
                self.current = None
        return closed

    def close_side(self, side: str, reason: str) -> int:
        """A pane switched to the learner's program: the lab's own sockets of that
        side are closed (each a logged close() by the lab saying ``reason``), a
        server's listener first so it accepts nothing more.  Blocking (call from a
        worker); how many were closed."""
        closed = 0
        for _ in range(3):  # a connection accepted meanwhile is closed on the next pass
            mine = [e for e in self.lab.endpoints() if e.side == side and e.is_open]
            if not mine:
                break
            mine.sort(key=lambda e: e.conn is not None)  # the listener first
            closed += sum(1 for e in mine if self._lab_close(e, reason) is not None)
        with self._lock:
            if side == SERVER:
                self.server = self.service = None
            else:
                self.clients, self.current = {}, None
        return closed

    def set_two_hosts(self, on: bool) -> dict[str, str] | None:
        """Two-hosts mode on or off (socklab.hosts): every socket is closed first, as a
        socket cannot move between hosts.  Returns the hosts' namespace names (None:
        off).  Blocking (call from a worker); OSError when the hosts cannot be made."""
        from .hosts import mode
        if self.lab.open_sockets:
            self.reset()
        if not on:
            mode.disable(self.lab)
            return None
        return dict(mode.enable(self.lab).names)

    def close(self, reason: str = explain.QUIT) -> None:
        """Quit: close every socket and join every thread (blocking; once).
        ``reason`` is what each close says (quit, or the stop signal's name)."""
        if self._closed:
            return
        self._closed = True
        self.lab.close_all(reason)
        self.kernel.stop()

    # -- the server -------------------------------------------------------------------

    def _server_for(self, settings: Settings) -> Server:
        """The server endpoint for these settings (a new one if family/type changed)."""
        server = self.server
        if server is None or (server.family, server.kind) != (settings.family, settings.kind):
            if server is not None:
                old = server
                self._quick(SERVER, "close()",
                            lambda: self._lab_close(old, explain.TYPE_CHANGED))
            server = self.lab.server(settings.family, settings.kind)
            self.server = server
            self.service = None
        return server

    def _server_target(self, req: Request) -> Endpoint:
        """The socket send/recv/close act on: a chosen connection, or the server's own."""
        server = self._server_for(req.settings)
        if req.target is not None:
            conn = server.connections.get(req.target)
            if conn is not None:
                return conn
        return server

    def _opened(self, endpoint: Endpoint, settings: Settings) -> Callable[[], object]:
        """socket(), then the pane's options (setsockopt, settimeout / setblocking)."""
        options = option_steps(endpoint, settings.reuseaddr, settings.timeout)
        return lambda: run_steps(endpoint, [endpoint.socket, *options])

    def _server_socket(self, req: Request) -> None:
        server = self._server_for(req.settings)
        self._quick(SERVER, "socket()", self._opened(server, req.settings))

    def _server_bind(self, req: Request) -> None:
        server, s = self._server_for(req.settings), req.settings
        self._quick(SERVER, "bind()", lambda: server.bind(s.host, s.port))

    def _server_listen(self, req: Request) -> None:
        server, backlog = self._server_for(req.settings), req.settings.backlog
        self._quick(SERVER, "listen()", lambda: server.listen(backlog))

    def _server_accept(self, req: Request) -> None:
        server = self._server_for(req.settings)
        self._blocking("accept()", server.accept)

    def _server_send(self, req: Request) -> None:
        target, message = self._server_target(req), req.settings.message
        if req.settings.stream:
            self._blocking("send()", lambda: target.send(message))
        elif req.reply_to is not None:
            host, port = req.reply_to
            self._blocking("sendto()", lambda: target.sendto(message, host, port))

    def _server_recv(self, req: Request) -> None:
        self._recv(self._server_target(req), req.settings)

    def _server_close(self, req: Request) -> None:
        target = self._server_target(req)
        self._quick(SERVER, "close()", target.close)

    def _server_run(self, req: Request) -> None:
        """socket, bind, listen (stream), then serve with the chosen mode."""
        s = req.settings
        old, server = self.server, self.lab.server(s.family, s.kind)
        self.server, self.service = server, None
        plan = ServerPlan(s.family, s.kind, s.host, s.port, s.backlog, s.mode,
                          reuseaddr=s.reuseaddr, timeout=s.timeout)

        def run() -> None:
            if old is not None:
                self._lab_close(old, explain.RUN_AGAIN)
            if server is not self.server:
                return  # Run was pressed again meanwhile
            service = run_server(self.lab, server, plan)
            with self._lock:
                if server is self.server:
                    self.service = service

        self._blocking("Run server", run)

    # -- the clients --------------------------------------------------------------------

    def _new_client(self, settings: Settings) -> Endpoint:
        client = self.lab.client(settings.family, settings.kind)
        self.clients[client.conn or 0] = client
        self.current = client
        return client

    def _client_target(self, req: Request) -> Endpoint:
        """The chosen client, else the one made last, else a new one."""
        if req.target is not None and req.target in self.clients:
            return self.clients[req.target]
        return self.current if self.current is not None else self._new_client(req.settings)

    def _client_socket(self, req: Request) -> None:
        """socket() on the chosen client if it has no open socket and fits; else a new client."""
        s = req.settings
        client = self.clients.get(req.target) if req.target is not None else self.current
        if client is None or client.is_open or (client.family, client.kind) != (s.family, s.kind):
            client = self._new_client(s)
        self.current = client
        self._quick(CLIENT, "socket()", self._opened(client, s))

    def _client_connect(self, req: Request) -> None:
        client, s = self._client_target(req), req.settings
        self._blocking("connect()", lambda: client.connect(s.host, s.port))

    def _client_connect_n(self, req: Request) -> None:
        """N new clients, each socket + connect on its own thread (to fill a backlog)."""
        s = req.settings

        def open_one(client: Endpoint) -> None:
            if self._opened(client, s)():
                client.connect(s.host, s.port)

        for _ in range(s.count):
            client = self._new_client(s)
            self._blocking("connect ×N", lambda c=client: open_one(c))

    def _client_send(self, req: Request) -> None:
        client, s = self._client_target(req), req.settings
        if s.stream:
            self._blocking("send()", lambda: client.send(s.message))
        else:
            self._blocking("sendto()", lambda: client.sendto(s.message, s.host, s.port))

    def _client_send_bulk(self, req: Request) -> None:
        """One send() of BULK_BYTES of numbered lines (``0000000\\n0000001\\n…``): more
        than the buffers hold, so it waits while the receiver's window is closed and
        returns once the receiver has read enough.  Over UDP it is one sendto() of
        that size, and the kernel's EMSGSIZE is the lesson."""
        client, s = self._client_target(req), req.settings

        def send() -> object:
            from .hosts.cable_demos import _pattern  # the flow-control demo's own bytes
            data = _pattern(BULK_BYTES)
            if s.stream:
                return client.send(data)
            return client.sendto(data, s.host, s.port)

        self._blocking("bulk send()", send)

    def _client_recv(self, req: Request) -> None:
        self._recv(self._client_target(req), req.settings)

    def _client_shutdown(self, req: Request) -> None:
        self._quick(CLIENT, "shutdown()", self._client_target(req).shutdown)

    def _client_close(self, req: Request) -> None:
        self._quick(CLIENT, "close()", self._client_target(req).close)

    def _client_run(self, req: Request) -> None:
        """The lecture's client: socket, connect, send, recv until EOF, close."""
        s = req.settings
        client = self._new_client(s)
        payloads = (s.message,) if s.message else ()
        if not s.stream:
            payloads = payloads or (UDP_DEFAULT,)  # a datagram tells the server who to answer
        plan = ClientPlan(s.family, s.kind, s.host, s.port, payloads, replies=1,
                          timeout=s.timeout)
        self._blocking("Run client", lambda: run_client(self.lab, client, plan))


#: What a press of each button runs: (side, call) → the session's method that
#: makes the call (the panes' buttons are `socklab.labcalls.SERVER_CALLS` and
#: `CLIENT_CALLS`, in this order, then the client's `CLIENT_KEY_CALLS`).
CALLS: dict[tuple[str, str], Callable[[LabSession, Request], None]] = {
    (SERVER, "run"): LabSession._server_run,
    (SERVER, "socket"): LabSession._server_socket,
    (SERVER, "bind"): LabSession._server_bind,
    (SERVER, "listen"): LabSession._server_listen,
    (SERVER, "accept"): LabSession._server_accept,
    (SERVER, "send"): LabSession._server_send,
    (SERVER, "recv"): LabSession._server_recv,
    (SERVER, "close"): LabSession._server_close,
    (CLIENT, "run"): LabSession._client_run,
    (CLIENT, "socket"): LabSession._client_socket,
    (CLIENT, "connect"): LabSession._client_connect,
    (CLIENT, "connect-n"): LabSession._client_connect_n,
    (CLIENT, "send"): LabSession._client_send,
    (CLIENT, "recv"): LabSession._client_recv,
    (CLIENT, "shutdown"): LabSession._client_shutdown,
    (CLIENT, "close"): LabSession._client_close,
    # A key and a palette command, not a button (socklab.labcalls.CLIENT_KEY_CALLS).
    (CLIENT, "send-bulk"): LabSession._client_send_bulk,
}
