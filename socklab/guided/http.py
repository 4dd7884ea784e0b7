"""The HTTP view's facts and the regex box: a response split as a browser's
developer console shows it, and ``re.findall`` on what a client received.

py4e's chapter 12 reads a response with ``recv`` in a loop until ``b''``, then
finds the blank line that ends the headers, and extracts data with
``re.findall``.  `HttpReceived` keeps what each of the lab's clients received (from
the recv events' bytes), `split_response` finds the status line, the headers
and the body, `find_all` applies a pattern.

The bytes came from the network: everything here is data; the view shows it
with markup off.  UI-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..events import WAIT, Event

#: Bytes kept per client (the lab's pages are a few hundred bytes).
KEEP = 64 * 1024
#: Matches shown at most (and the text a pattern runs on, at most KEEP).
MAX_MATCHES = 500

#: The regex box's ready examples: (label, pattern, applied to).
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ("words", r"[A-Za-z]+", "body"),
    ("header names", r"^([\w-]+):", "headers"),
    ("href values", r'href="(.*?)"', "body"),
    ("py4e's links", r'href="(http[s]?://.*?)"', "body"),
)
SCOPES = ("body", "headers", "whole")


@dataclass
class Response:
    """One HTTP response as received: split where the blank line is."""

    status_line: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: The bytes that ended the headers: b"\r\n\r\n", b"\n\n", or b"" (not found yet).
    blank_line: bytes = b""
    #: True once recv returned b'' (the server closed: the whole response is here).
    complete: bool = False

    @property
    def head(self) -> str:
        lines = [self.status_line, *(f"{name}: {value}" for name, value in self.headers)]
        return "\n".join(lines)


def split_response(data: bytes, complete: bool = False) -> Response:
    """The status line, the headers and the body (as a browser's console lists them)."""
    ends = [(data.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if sep in data]
    if not ends:
        return Response(status_line=data.decode("latin-1").splitlines()[0] if data else "",
                        complete=complete)
    at, sep = min(ends)
    head = data[:at].decode("latin-1").replace("\r\n", "\n").split("\n")
    headers = []
    for line in head[1:]:
        name, _colon, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return Response(head[0], headers, data[at + len(sep):], sep, complete)


def text_of(response: Response, scope: str) -> str:
    """What the regex box reads: the body, the header lines, or the whole response."""
    body = response.body.decode("utf-8", "replace")
    if scope == "body":
        return body
    if scope == "headers":
        return "\n".join(f"{name}: {value}" for name, value in response.headers)
    return f"{response.head}\n\n{body}"


def find_all(pattern: str, text: str) -> list[str]:
    """``re.findall(pattern, text)`` (MULTILINE, so ^ is each line), as strings;
    raises re.error for a pattern Python does not accept."""
    found = []
    for match in re.findall(pattern, text[:KEEP], re.MULTILINE):
        found.append(" ".join(match) if isinstance(match, tuple) else match)
        if len(found) >= MAX_MATCHES:
            break
    return found


class HttpReceived:
    """Each of the lab's clients' received bytes, in order, from recv events."""

    def __init__(self) -> None:
        self.data: dict[int, bytearray] = {}
        self.closed: set[int] = set()
        #: The client that received last: what the HTTP view shows.
        self.latest: int | None = None

    def feed(self, events: Iterable[Event]) -> bool:
        changed = False
        for event in events:
            if event.side != "client" or event.op != "recv" or event.phase == WAIT \
                    or not event.ok or event.conn is None:
                continue
            if event.op == "recv" and event.conn not in self.data:
                self.data[event.conn] = bytearray()
            kept = self.data[event.conn]
            if event.nbytes == 0:
                self.closed.add(event.conn)
            elif event.raw and len(kept) < KEEP:
                kept += event.raw[:KEEP - len(kept)]
            self.latest, changed = event.conn, True
        return changed

    def response(self) -> Response | None:
        if self.latest is None:
            return None
        return split_response(bytes(self.data[self.latest]), self.latest in self.closed)
