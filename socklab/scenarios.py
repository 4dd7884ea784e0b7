"""The usual sequences of calls, each defined once.

Run server (socket, [setsockopt], bind, [listen], then a mode serves), Run
client (socket, connect, send, [shutdown], recv until EOF, close) and the
steps the demos share: the lab's panes, the headless commands and the demos
all make their calls through these, so the sequence a learner sees in the lab
is the one ``socklab serve`` / ``socklab connect`` print.

A sequence stops at the first failed call.  What it opened is then closed by
the lab, and that close says why (so the log shows where the Run stopped and
never leaves a socket open behind it).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from .engine import Endpoint, Lab, Server
from .events import Event
from .explain import run_stopped
from .modes import REQUEST_TIMEOUT, Service

#: How long Run client waits for more data before it closes (a server that
#: never closes, e.g. echo or manual, would otherwise keep it waiting).
CLIENT_IDLE = 2.0


@dataclass(frozen=True)
class ServerPlan:
    """What Run server does: the lecture's ``sockets_server.py`` with these settings."""

    family: int = socket.AF_INET
    kind: int = socket.SOCK_STREAM
    host: str = "127.0.0.1"
    port: int = 1024
    backlog: int = 5
    mode: str = "welcome"
    reuseaddr: bool = False
    #: settimeout(t) after socket(); 0.0 is setblocking(False), None no call.
    timeout: float | None = None
    #: Stop serving after this many connections (stream) or datagrams (dgram).
    count: int | None = None
    #: The http mode's wait for a request's blank line, then 408 (serve --request-timeout).
    request_timeout: float = REQUEST_TIMEOUT

    @property
    def stream(self) -> bool:
        return self.kind == socket.SOCK_STREAM


@dataclass(frozen=True)
class ClientPlan:
    """What Run client does: the lecture's ``sockets_client.py`` with these settings."""

    family: int = socket.AF_INET
    kind: int = socket.SOCK_STREAM
    host: str = "127.0.0.1"
    port: int = 1024
    payloads: tuple[bytes, ...] = ()
    #: shutdown(SHUT_WR) after sending: "I am done", so an echo or HTTP server sees EOF.
    half_close: bool = True
    #: Stop receiving when nothing arrives for this long (seconds).
    idle: float = CLIENT_IDLE
    recv_size: int = 1024
    #: Datagrams to wait for (None: until idle); streams read until EOF.
    replies: int | None = None
    #: settimeout(t) after socket(); 0.0 is setblocking(False), None no call.
    timeout: float | None = None
    #: A file to send after the payloads (streamed: see engine/sendfile.py).
    send_file: str | None = None
    #: A file send that makes no progress for this long fails (seconds).
    send_timeout: float = 10.0

    @property
    def stream(self) -> bool:
        return self.kind == socket.SOCK_STREAM


def stopped(endpoint: Endpoint, failed: Event) -> None:
    """A sequence stopped at ``failed``: close what it opened, saying why."""
    endpoint.close_by_lab(run_stopped(failed.op))


def first_failure(endpoint: Endpoint, steps: list[Callable[[], Event]]) -> Event | None:
    """Make each call in turn; stop at the first that fails and return its event."""
    for step in steps:
        event = step()
        if not event.ok:
            stopped(endpoint, event)
            return event
    return None


def run_steps(endpoint: Endpoint, steps: list[Callable[[], Event]]) -> bool:
    """Make each call in turn; stop at the first that fails: True when none did."""
    return first_failure(endpoint, steps) is None


def option_steps(endpoint: Endpoint, reuseaddr: bool = False,
                 timeout: float | None = None) -> list[Callable[[], Event]]:
    """The option calls made right after socket(), as a program makes them:
    setsockopt(SOL_SOCKET, SO_REUSEADDR, 1), then setblocking(False) (timeout
    0.0) or settimeout(t).  Nothing for the defaults."""
    steps: list[Callable[[], Event]] = []
    if reuseaddr:
        steps.append(lambda: endpoint.setsockopt_reuseaddr(True))
    if timeout == 0.0:
        steps.append(lambda: endpoint.setblocking(False))
    elif timeout is not None:
        steps.append(lambda: endpoint.settimeout(timeout))
    return steps


def open_server(server: Server, plan: ServerPlan) -> bool:
    """socket, [setsockopt SO_REUSEADDR], [settimeout], bind, [listen]: True when all
    succeeded."""
    steps: list[Callable[[], Event]] = [server.socket]
    steps += option_steps(server, plan.reuseaddr, plan.timeout)
    steps.append(lambda: server.bind(plan.host, plan.port))
    if plan.stream:
        steps.append(lambda: server.listen(plan.backlog))
    return run_steps(server, steps)


def run_server(lab: Lab, server: Server, plan: ServerPlan,
               on_finished: Callable[[], None] | None = None) -> Service | None:
    """Open the server, then serve with the plan's mode (in the lab's threads)."""
    if not open_server(server, plan):
        return None
    if lab.stopping:
        return None
    return Service(lab, server, plan.mode, plan.count, on_finished,
                   request_timeout=plan.request_timeout).start()


def open_client(client: Endpoint, plan: ClientPlan) -> bool:
    """socket, [settimeout], [connect] (stream): True when all succeeded."""
    steps: list[Callable[[], Event]] = [client.socket]
    steps += option_steps(client, timeout=plan.timeout)
    if plan.stream:
        steps.append(lambda: client.connect(plan.host, plan.port))
    return run_steps(client, steps)


def run_client(lab: Lab, client: Endpoint, plan: ClientPlan,
               received: bytearray | None = None) -> bool:
    """socket, connect, send each payload, [shutdown], recv until EOF or idle, close.

    Returns False when a call failed (an idle timeout that ends the receiving
    is the normal way to stop, not a failure).  The bytes that came are
    appended to ``received`` when one is given.
    """
    if not open_client(client, plan):
        return False
    interrupted = False
    try:
        for payload in plan.payloads:
            sent = (client.send(payload) if plan.stream
                    else client.sendto(payload, plan.host, plan.port))
            if sent is not None and not sent.ok:
                stopped(client, sent)
                return False
        if plan.send_file is not None and not _send_file(client, plan, received):
            return False
        sent_any = bool(plan.payloads) or plan.send_file is not None
        if plan.stream and plan.half_close and sent_any:
            shut = client.shutdown(socket.SHUT_WR)
            if not shut.ok:
                stopped(client, shut)
                return False
        if plan.stream or sent_any:
            return _receive(lab, client, plan, received)
        return True
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: the lab closes it, saying why
        interrupted = True
        raise
    finally:
        if client.is_open and not lab.stopping and not interrupted:
            client.close()


def _send_file(client: Endpoint, plan: ClientPlan, received: bytearray | None) -> bool:
    """Stream the plan's file (the caller checked it opens): True when it all went."""
    name = os.path.basename(plan.send_file or "")
    with open(plan.send_file, "rb") as source:  # type: ignore[arg-type]
        events = client.send_file(source, name, plan.send_timeout,
                                  None if received is None else received.extend)
    if events and not events[-1].ok:
        stopped(client, events[-1])
        return False
    return True


def _receive(lab: Lab, client: Endpoint, plan: ClientPlan,
             received: bytearray | None) -> bool:
    """recv until the peer closes (or, for datagrams, the replies came) or idle."""
    replies = 0
    for _ in range(1_000_000):
        if lab.stopping:
            return True
        if plan.stream:
            got = client.recv(plan.recv_size, timeout=plan.idle)
        else:
            got = client.recvfrom(65535, timeout=plan.idle)
        if not got.ok:
            return got.event.error == "TimeoutError"  # type: ignore[union-attr]
        if got.eof:
            return True
        if received is not None:
            received += got.data
        replies += 1
        if not plan.stream and plan.replies is not None and replies >= plan.replies:
            return True
    return True
