"""Server behaviours: what the server does with each connection or datagram.

manual  accept and keep the connection; the learner sends and receives
welcome send the lecture's greeting on every accept, then close
echo    send back whatever arrives, until the peer closes
http    a tiny HTTP/1.0 server: ``/`` and ``/romeo.txt`` (what py4e fetches)
discard read and drop everything (a sink for throughput)

Each runs on the engine's calls, so every step is a real call in the log.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from . import explain
from .engine import GREETING, Endpoint, Lab, Server

MODES = ("manual", "welcome", "echo", "http", "discard")
STREAM_ONLY = frozenset({"http"})
RECV_SIZE = 65536
#: What discard asks of each recv: a sink drops the bytes, so one call may take
#: everything the kernel has (fewer calls for the same bytes).
DISCARD_RECV_SIZE = 1 << 20
#: Datagrams a datagram server takes in one call, at most, when many are waiting.
BATCH = 1024

ROMEO = (
    "But soft what light through yonder window breaks\n"
    "It is the east and Juliet is the sun\n"
    "Arise fair sun and kill the envious moon\n"
    "Who is already sick and pale with grief\n"
)
INDEX = (
    "<!DOCTYPE html>\n<html><head><title>socklab</title></head>\n<body>\n"
    "<h1>Hello from socklab</h1>\n"
    '<p>This page came over a real socket. Try <a href="/romeo.txt">romeo.txt</a>.</p>\n'
    "</body></html>\n"
)
PAGES = {
    "/": ("text/html; charset=utf-8", INDEX),
    "/index.html": ("text/html; charset=utf-8", INDEX),
    "/romeo.txt": ("text/plain; charset=utf-8", ROMEO),
    # Where the older edition of py4e's socket1.py asks for it.
    "/code/romeo.txt": ("text/plain; charset=utf-8", ROMEO),
}
#: A request's header block may be this long at most (else 431).
MAX_REQUEST = 64 * 1024
#: A request must end (its blank line) within this many seconds (else 408).
REQUEST_TIMEOUT = 10.0
#: After answering, how long the server reads what the client still sends
#: before it closes (so the client sees the answer, not a reset).
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 16 * 1024 * 1024
_TEXT = "text/plain; charset=utf-8"


def request_complete(request: bytes) -> bool:
    """The blank line that ends a request's headers came (CRLF, or the older bare LF)."""
    return b"\r\n\r\n" in request or b"\n\n" in request


def request_path(target: str) -> str:
    """The path a request line asks for; an absolute URI (``http://host/romeo.txt``,
    what py4e's socket1.py sends) is accepted, as HTTP/1.0 servers must."""
    if target[:7].lower() == "http://":
        slash = target.find("/", 7)
        target = "/" if slash < 0 else target[slash:]
    return target.split("?", 1)[0]


def http_error(status: int, timeout: float = REQUEST_TIMEOUT) -> bytes:
    """The answer to a request that never ended: 408 (no blank line in time)
    or 431 (headers over `MAX_REQUEST`)."""
    reason = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    return _response(status, reason, _TEXT,
                     explain.http_status(status, MAX_REQUEST, timeout) + "\n")


def http_response(request: bytes) -> bytes:
    """The HTTP/1.0 response to one request (header block already complete)."""
    line = request.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return _response(400, "Bad Request", _TEXT,
                         "400 Bad Request: expected 'GET /path HTTP/1.0'\n")
    method, target = parts[0], parts[1].decode("latin-1")
    if method not in (b"GET", b"HEAD"):
        return _response(405, "Method Not Allowed", _TEXT,
                         "405: this server only answers GET and HEAD\n")
    path = request_path(target)
    if path not in PAGES:
        return _response(404, "Not Found", "text/plain; charset=utf-8",
                         "404 Not Found: try / or /romeo.txt\n", head=method == b"HEAD")
    kind, body = PAGES[path]
    return _response(200, "OK", kind, body, head=method == b"HEAD")


def _response(code: int, reason: str, kind: str, body: str, head: bool = False) -> bytes:
    payload = body.encode("utf-8")
    header = (
        f"HTTP/1.0 {code} {reason}\r\n"
        f"Content-Type: {kind}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Server: socklab\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return header if head else header + payload


class Service:
    """A server behaviour running in the lab's threads until stopped or done.

    ``count`` stops it after that many connections (stream) or datagrams
    (dgram) have been handled.  ``finished`` is set when it has stopped.
    """

    def __init__(self, lab: Lab, server: Server, mode: str, count: int | None = None,
                 on_finished: Callable[[], None] | None = None,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.lab = lab
        self.server = server
        self.mode = mode
        self.count = count
        #: http: a request with no blank line after this long gets 408.
        self.request_timeout = request_timeout
        self.handled = 0
        self.failed = False
        self.finished = threading.Event()
        self._on_finished = on_finished
        #: Handler threads still running (each forgets itself when it ends).
        self._handlers: dict[threading.Thread, None] = {}
        self._lock = threading.Lock()

    def start(self) -> Service:
        stream = self.server.kind == socket.SOCK_STREAM
        self.lab.spawn(self._accept_loop if stream else self._datagram_loop, "serve")
        return self

    # -- stream -------------------------------------------------------------------

    def _accept_loop(self) -> None:
        accepted = 0
        try:
            while not self.lab.stopping and (self.count is None or accepted < self.count):
                if self.server.closing:
                    break  # closed (by the lab, or close()): nothing more to accept
                conn, event = self.server.accept()
                if conn is None:
                    if self.server.closing or self.lab.stopping:
                        break  # the listener was closed: the end, not a failure
                    if event.ok or event.error == "CONNLIMIT":
                        continue  # accepted past the limit and refused
                    if event.error in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"):
                        # Out of descriptors: wait for connections to close.
                        threading.Event().wait(0.05)
                        continue
                    if event.error not in ("ECONNABORTED", "EPROTO"):
                        self.failed = True
                        break
                    continue
                accepted += 1
                with self._lock:
                    thread = self.lab.spawn(lambda c=conn: self._handle(c), f"conn{conn.conn}")
                    self._handlers[thread] = None
            with self._lock:
                handlers = list(self._handlers)
            for thread in handlers:
                thread.join()
        finally:
            self._finish()

    def _handle(self, conn: Endpoint) -> None:
        try:
            if self.mode == "manual":
                return  # the learner drives this connection
            if self.mode == "welcome":
                conn.send(GREETING)
            elif self.mode == "echo":
                self._echo(conn)
            elif self.mode == "discard":
                self._drain(conn)
            elif self.mode == "http":
                self._http(conn)
            if conn.is_open and not self.lab.stopping:
                conn.close()
        finally:
            with self._lock:
                self.handled += 1
                self._handlers.pop(threading.current_thread(), None)

    def _echo(self, conn: Endpoint) -> None:
        while not self.lab.stopping:
            got = conn.recv(RECV_SIZE)
            if not got.ok or not got.data:
                return
            sent = conn.send(got.data)
            if sent is not None and not sent.ok:
                return

    def _http(self, conn: Endpoint) -> None:
        """Read one request (until its blank line), answer, then drain and close."""
        request = b""
        status = 0
        deadline = time.monotonic() + self.request_timeout
        conn.limit_note = explain.http_wait(self.request_timeout)  # the recv's wait is ours
        while not request_complete(request):
            left = deadline - time.monotonic()
            got = conn.recv(4096, timeout=left) if left > 0 else None
            if got is None or (not got.ok and got.event.error == "TimeoutError"):  # type: ignore[union-attr]
                status = 408
                break
            if not got.ok:
                return  # reset, or closed by the lab: nobody to answer
            if not got.data:
                if not request:
                    return
                break  # the client half-closed: answer what came
            request += got.data
            if len(request) > MAX_REQUEST:
                status = 431
                break
        conn.limit_note = None
        answer = http_error(status, self.request_timeout) if status else http_response(request)
        sent = conn.send(answer)
        if sent is None or sent.ok:
            self._drain(conn, shut=True)

    def _drain(self, conn: Endpoint, shut: bool = False) -> None:
        """Read and drop until EOF; with ``shut``, first shutdown(SHUT_WR) and stop
        after `DRAIN_SECONDS` / `DRAIN_BYTES`: closing with unread bytes would
        make the kernel reset the connection, and the client could lose the answer."""
        if shut and not conn.shutdown(socket.SHUT_WR).ok:
            return
        deadline = time.monotonic() + DRAIN_SECONDS if shut else None
        drained = 0
        while not self.lab.stopping:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and (left <= 0 or drained > DRAIN_BYTES):
                return
            got = conn.recv(DISCARD_RECV_SIZE, timeout=left, keep=False)  # dropped
            if not got.ok or not got.data:
                return
            drained += len(got.data)

    # -- datagrams -------------------------------------------------------------------

    def _datagram_loop(self) -> None:
        try:
            server = self.server
            while not self.lab.stopping and (self.count is None or self.handled < self.count):
                # One call takes every datagram already waiting once a flood
                # runs (each a real recvfrom, counted): the loop runs per batch.
                limit = BATCH if self.count is None else min(BATCH, self.count - self.handled)
                datagrams, event = server.recvfrom_many(RECV_SIZE, limit)
                if self.mode == "welcome":
                    for _data, (host, port) in datagrams:
                        server.sendto(GREETING, host, port)
                elif self.mode == "echo":
                    for data, (host, port) in datagrams:
                        server.sendto(data, host, port)
                self.handled += len(datagrams)
                if event is not None and not event.ok:
                    if event.error in ("EBADF", None):
                        break
                    if not server.is_open:
                        break
        finally:
            self._finish()

    def _finish(self) -> None:
        self.finished.set()
        if self._on_finished is not None:
            self._on_finished()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)
