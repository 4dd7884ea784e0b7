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
import hmac
import html
import ipaddress
import logging
import os
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server as TextualServe
from textual_serve.server import to_int

from ..guard import SERVER_ENV, TWO_HOSTS_ENV
from ..inputs import is_loopback

TEMPLATES = Path(__file__).with_name("templates")
#: How long the lab processes get to close their sockets when the server stops.
SHUTDOWN_WAIT = 10.0
#: How long a lab gets to quit once its browser has gone, before it is killed.
LEAVE_WAIT = 3.0
#: Labs at once (each a Python process of about 60 MB): a classroom's worth.
DEFAULT_MAX_SESSIONS = 16  # the command's default too (socklab/cli/web.py)

log = logging.getLogger("socklab.web")


def lab_command(*extra: str) -> str:
    """The shell command textual-serve runs for each browser: this Python's socklab,
    ``exec``'d so the lab is the server's own child (it ends when the server does)."""
    return "exec " + shlex.join([sys.executable, "-m", "socklab", *extra])


def url_for(host: str, port: int, token: str | None = None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def host_allowed(host_header: str, extra: frozenset[str] = frozenset()) -> bool:
    """A request's ``Host`` names this machine: an IP address (what a classroom
    types), ``localhost``, this machine's own name, or a name given with
    ``--allow-host``.  Any other name is a page elsewhere that made its name
    resolve here (DNS rebinding), refused."""
    host = urlsplit(f"//{host_header}").hostname or ""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
    return host.lower().rstrip(".") in names | {name.lower() for name in extra}


def same_origin(origin: str | None, host_header: str) -> bool:
    """The page asking is this server's own: its Origin is http(s)://Host."""
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


FULL_PAGE = ("<!doctype html><meta charset=utf-8><title>socklab: full</title>"
             "<h1>socklab web is full</h1><p>{count} labs are open, the most this server "
             "runs at once (<code>--max-sessions {count}</code>). Close a lab's tab, or "
             "ask the teacher to start it with a higher <code>--max-sessions</code>, then "
             "reload this page.</p>")
REFUSED_PAGE = ("<!doctype html><meta charset=utf-8><title>socklab: not allowed</title>"
                "<h1>Not allowed</h1><p>{why}</p>")


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
    """textual-serve's server with socklab's page, socket, words and guards."""

    def __init__(self, command: str, sock: socket.socket, url: str, *, token: str,
                 max_sessions: int = DEFAULT_MAX_SESSIONS,
                 allowed_hosts: frozenset[str] = frozenset()) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(command, host=host, port=port, title="socklab", public_url=url,
                         templates_path=TEMPLATES)
        self.listener = sock
        #: The secret in the printed URL: the page and the websocket need it.
        self.token = token
        self.max_sessions = max_sessions
        self.allowed_hosts = allowed_hosts
        #: The browsers' sessions (one handler task each, each driving one lab).
        self._sessions: set[asyncio.Task[Any]] = set()

    def initialize_logging(self) -> None:
        """Quiet: the person who started it was told the URL; errors still show."""
        logging.basicConfig(level=logging.WARNING, format="socklab web: %(message)s")

    async def on_startup(self, app: web.Application) -> None:
        return None  # serve_web printed the URL before serving

    async def _make_app(self) -> web.Application:
        """textual-serve's routes, and the labs' websocket under the token."""
        app = await super()._make_app()
        app.router.add_get("/ws/{token}", self.handle_websocket, name="lab-websocket")
        return app

    def refusal(self, request: web.Request, websocket: bool) -> str | None:
        """Why this request may not have a lab (None: it may).  The Host must name
        this machine, a websocket's Origin must be this server's own page (any
        page's, if a page elsewhere asks: refused), and the token must be right."""
        host = request.headers.get("Host", "")
        if not host_allowed(host, self.allowed_hosts):
            return (f"this server does not answer to the name {host!r} (use its address, "
                    "or start it with --allow-host NAME)")
        origin = request.headers.get("Origin")
        if (websocket or origin is not None) and not same_origin(origin, host):
            return f"only this server's own page may open a lab (Origin {origin!r})"
        token = request.match_info.get("token", "") if websocket else \
            request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return ("this address needs the token socklab web printed when it started: "
                    "open the whole URL it printed (…/?token=…)")
        return None

    @property
    def full(self) -> bool:
        return len(self._sessions) >= self.max_sessions

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page, its addresses made from the address this browser used; or
        why not (403), or that the server is full (503)."""
        why = self.refusal(request, websocket=False)
        if why is not None:
            return _page(REFUSED_PAGE.format(why=html.escape(why)), 403)
        if self.full:
            return _page(FULL_PAGE.format(count=self.max_sessions), 503)
        self.public_url = f"{request.scheme}://{request.host}"
        page = TextualServe.handle_index.__wrapped__  # type: ignore[attr-defined]
        context = await page(self, request)
        context["app_websocket_url"] = context["app_websocket_url"].rsplit("/ws", 1)[0] + \
            f"/ws/{self.token}"
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """One browser's lab (textual-serve's, with the guards), followed so that
        stopping the server ends it, and killed if it does not quit once its
        browser has gone."""
        why = self.refusal(request, websocket=True)
        if why is not None:
            return web.Response(status=403, text=why)
        if self.full:
            return web.Response(status=503, text=f"full: {self.max_sessions} labs are open")
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        websocket = web.WebSocketResponse(heartbeat=15)
        service: AppService | None = None
        try:
            await websocket.prepare(request)
            service = AppService(self.command, write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str, close=websocket.close,
                                 download_manager=self.download_manager, debug=self.debug)
            await service.start(to_int(request.query.get("width", "80"), 80),
                                to_int(request.query.get("height", "24"), 24))
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await websocket.close()
        except Exception as error:  # noqa: BLE001 - textual-serve's own handling
            log.exception(error)
        finally:
            if service is not None:
                await end_lab(service)
            self._sessions.discard(task)
        return websocket

    async def on_shutdown(self, app: web.Application) -> None:
        """End every browser's session now: each lab is told to quit (closing its
        sockets) and is waited for, instead of aiohttp waiting for the browsers
        to hang up before it cancels them."""
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=SHUTDOWN_WAIT)

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


def _page(text: str, status: int) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/html")


async def end_lab(service: AppService) -> None:
    """Tell the lab to quit; if it has not within `LEAVE_WAIT` seconds (a frozen
    lab never reads the message), kill it."""
    process = service._process
    stopping = asyncio.ensure_future(service.stop())
    with contextlib.suppress(asyncio.TimeoutError, Exception):
        await asyncio.wait_for(asyncio.shield(stopping), LEAVE_WAIT)
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), SHUTDOWN_WAIT)
    with contextlib.suppress(asyncio.TimeoutError, Exception):
        await asyncio.wait_for(stopping, SHUTDOWN_WAIT)


def serve_web(host: str, port: int, command: str | None = None, *,
              max_sessions: int = DEFAULT_MAX_SESSIONS, allow_two_hosts: bool = False,
              allowed_hosts: frozenset[str] = frozenset()) -> int:
    """Serve the lab on ``host:port``; returns the exit status (2: a host that
    does not resolve, 1: an address that cannot be served on)."""
    try:
        sock = listening_socket(host, port)
    except socket.gaierror as exc:
        print(f"socklab: error: cannot serve on {host!r}: no such address "
              f"({exc.strerror or exc})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"socklab: cannot serve on {host} port {port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    token = secrets.token_urlsafe(24)
    base = url_for(host, sock.getsockname()[1])
    if not is_loopback(host):
        print(f"socklab: warning: serving on {host}: whoever reaches this address drives "
              "real sockets on this machine (each browser gets a lab making real calls "
              "here, as you); the token in the URL is what keeps others out: share it "
              "only with the class", file=sys.stderr)
    print(f"socklab web: open {url_for(host, sock.getsockname()[1], token)} in a browser "
          f"(each browser gets its own lab, at most {max_sessions}); Ctrl-C stops it",
          flush=True)
    os.environ[SERVER_ENV] = str(os.getpid())  # each lab's environment is this one's
    os.environ[TWO_HOSTS_ENV] = "1" if allow_two_hosts else "0"
    LabServer(command or lab_command(), sock, base.rstrip("/"), token=token,
              max_sessions=max_sessions, allowed_hosts=allowed_hosts).serve()
    return 0
