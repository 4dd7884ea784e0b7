"""The parts of the generated programs that follow the lab's extra settings:
socket options (SO_REUSEADDR, setblocking / settimeout) and the http mode's
server and client (the client is py4e's ``socket1.py``).

UI-free, no textual or rich; `socklab.codegen` puts these lines in place.
"""

from __future__ import annotations

import json

from .modes import ROMEO


def option_lines(var: str, reuseaddr: bool, timeout: float | None) -> list[str]:
    """The option calls right after socket(), as the lab makes them."""
    lines: list[str] = []
    if reuseaddr:
        lines += [
            "    # SO_REUSEADDR: bind() succeeds even while the last run's connection",
            "    # sits in TIME_WAIT (about a minute after the server closed first).",
            f"    {var}.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
        ]
    if timeout == 0.0:
        lines += [
            "    # Non-blocking: a call that would wait raises BlockingIOError instead, so",
            "    # this program asks select() first and calls only when it will not block.",
            f"    {var}.setblocking(False)",
        ]
    elif timeout is not None:
        lines += [
            f"    # Each blocking call now waits at most {timeout:g} s, then raises TimeoutError.",
            f"    {var}.settimeout({timeout!r})",
        ]
    return lines


def wait_line(indent: str, var: str, nonblocking: bool, write: bool = False) -> list[str]:
    """On a non-blocking socket: wait with select() until the next call will not block."""
    if not nonblocking:
        return []
    sets = f"[], [{var}], []" if write else f"[{var}], [], []"
    return [f"{indent}select.select({sets})  # wait until the next call will not block"]


def http_constants() -> list[str]:
    return ["# The page the server sends: py4e's romeo.txt.", f"ROMEO = {json.dumps(ROMEO)}"]


def http_server_turn(nonblocking: bool) -> list[str]:
    """Serve one HTTP/1.0 request: read the header block, answer, close.  (An
    accepted socket blocks, whatever the listener's own option.)"""
    return wait_line("        ", "myserver", nonblocking) + [
        "        myclient, addr = myserver.accept()",
        "        with myclient:  # every accepted socket must be closed too",
        '            print(f"Connection to {addr} established", flush=True)',
        "            # An HTTP request ends with a blank line: read until it has come.",
        '            request = b""',
        '            while b"\\r\\n\\r\\n" not in request and b"\\n\\n" not in request:',
        "                chunk = myclient.recv(1024)",
        "                if not chunk:",
        "                    break",
        "                request += chunk",
        "            # 'GET /romeo.txt HTTP/1.0', or with a whole URL as socket1.py sends it.",
        '            words = request.split(b"\\n", 1)[0].decode("latin-1").split()',
        '            target = words[1].split("://", 1)[-1] if len(words) == 3 else ""',
        '            path = "/" + target.split("/", 1)[1] if "/" in target else "/"',
        '            if path in ("/", "/romeo.txt"):',
        '                status, body = "200 OK", ROMEO',
        "            else:",
        '                status, body = "404 Not Found", "404 Not Found: try /romeo.txt\\n"',
        '            payload = body.encode("utf-8")',
        '            header = (f"HTTP/1.0 {status}\\r\\n"',
        '                      "Content-Type: text/plain; charset=utf-8\\r\\n"',
        '                      f"Content-Length: {len(payload)}\\r\\n"',
        '                      "Connection: close\\r\\n\\r\\n")',
        '            myclient.sendall(header.encode("ascii") + payload)',
    ]


def http_client(host: str, port: int, connect: list[str]) -> list[str]:
    """py4e's socket1.py: a request by hand, then print what comes until b''."""
    where = f"[{host}]" if ":" in host else host
    request = f"GET http://{where}:{port}/romeo.txt HTTP/1.0\r\n\r\n"
    return connect + [
        "    # py4e's socket1.py: an HTTP/1.0 request is lines of text ended by a blank",
        "    # line (\\r\\n\\r\\n); encode() turns the text into the bytes send() needs.",
        f"    cmd = {json.dumps(request)}.encode()",
        "    myclient.sendall(cmd)",
        "    while True:",
        "        data = myclient.recv(512)",
        "        if len(data) < 1:  # b'': the server closed, the page is complete",
        "            break",
        '        print(data.decode(), end="")',
    ]
