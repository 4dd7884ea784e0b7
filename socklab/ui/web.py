"""``socklab web``: the lab in a browser, for a class on a projector (issue 13).

textual-serve does the serving: each browser that opens the page gets its own
lab, a ``python -m socklab`` process of its own driven through a websocket
(Textual's web driver), so one learner's sockets are never another's.  What is
socklab's here:

- the page's template: textual-serve's, less its one request off the machine
  (a stylesheet for the font from fonts.googleapis.com) — the font it names
  ships in textual-serve's wheel and is served from here, so a classroom with
  no internet gets the same page;
- the listening socket: bound here, before serving, so port 0 works (the
  tests' rule) and the URL printed is the one that answers;
- the page's addresses come from the address the browser used (``Host``), so
  a server on ``0.0.0.0`` works from every machine that can reach it.

Textual's web driver is what makes the lab's Save and Export hand their file
to the browser (``App.deliver_text``) instead of writing on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server as TextualServe

from ..inputs import is_loopback

TEMPLATES = Path(__file__).with_name("templates")
#: How long the lab processes get to close their sockets when the server stops.
SHUTDOWN_WAIT = 10.0


def lab_command(*extra: str) -> str:
    """The shell command textual-serve runs for each browser: this Python's socklab."""
    return shlex.join([sys.executable, "-m", "socklab", *extra])


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening (OSError says why not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class LabServer(TextualServe):
    """textual-serve's server with socklab's page, socket and words."""

    def __init__(self, command: str, sock: socket.socket, url: str) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(command, host=host, port=port, title="socklab", public_url=url,
                         templates_path=TEMPLATES)
        self.listener = sock
        #: The browsers' sessions (one handler task each, each driving one lab).
        self._sessions: set[asyncio.Task[Any]] = set()

    def initialize_logging(self) -> None:
        """Quiet: the person who started it was told the URL; errors still show."""
        import logging
        logging.basicConfig(level=logging.WARNING, format="socklab web: %(message)s")

    async def on_startup(self, app: web.Application) -> None:
        return None  # serve_web printed the URL before serving

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One browser's lab, followed so that stopping the server can end it."""
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            if task is not None:
                self._sessions.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        """End every browser's session now: each lab is told to quit (closing its
        sockets) and is waited for, instead of aiohttp waiting for the browsers
        to hang up before it cancels them."""
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=SHUTDOWN_WAIT)

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, its addresses made from the address this browser used."""
        self.public_url = f"{request.scheme}://{request.host}"
        page = TextualServe.handle_index.__wrapped__  # type: ignore[attr-defined]
        return await page(self, request)

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl-C or SIGTERM; each lab is asked to quit (closing its sockets)."""
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_exit)
        try:
            web.run_app(self._make_app(), sock=self.listener, handle_signals=False, loop=loop,
                        print=None, shutdown_timeout=SHUTDOWN_WAIT)
        finally:
            self.listener.close()
            loop.close()


def serve_web(host: str, port: int, command: str | None = None) -> int:
    """Serve the lab on ``host:port``; returns the exit status."""
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        print(f"socklab: cannot serve on {host} port {port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    url = url_for(host, sock.getsockname()[1])
    if not is_loopback(host):
        print(f"socklab: warning: serving on {host}: whoever reaches this address drives "
              "real sockets on this machine (each browser gets a lab making real calls "
              "here, as you)", file=sys.stderr)
    print(f"socklab web: open {url} in a browser (each browser gets its own lab); "
          "Ctrl-C stops it", flush=True)
    LabServer(command or lab_command(), sock, url.rstrip("/")).serve()
    return 0
