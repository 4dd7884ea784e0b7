"""py4e's own programs against ``socklab serve --mode http`` (issue 15 item 11).

Each learner's program is the real code, written to a file and run as its own
Python process against a real ``socklab serve`` process on loopback.  Only the
address it connects to is changed (127.0.0.1 and the port the kernel chose);
the request lines are the books' own, absolute URIs and all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LIMIT, Live, Recorder, listening, no_traceback, start_cli

from socklab.engine import Lab
from socklab.modes import MAX_REQUEST, ROMEO, Service

#: py4e (Python 3 edition) socket1.py.
SOCKET1 = """\
import socket

mysock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
mysock.connect(('127.0.0.1', PORT))
cmd = 'GET http://data.pr4e.org/romeo.txt HTTP/1.0\\r\\n\\r\\n'.encode()
mysock.send(cmd)

while True:
    data = mysock.recv(512)
    if len(data) < 1:
        break
    print(data.decode(),end='')

mysock.close()
"""

#: The older edition's socket1.py (a bare \\n\\n ends the request), in Python 3.
SOCKET1_OLD = """\
import socket

mysock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
mysock.connect(('127.0.0.1', PORT))
mysock.send('GET http://www.py4inf.com/code/romeo.txt HTTP/1.0\\n\\n'.encode())

while True:
    data = mysock.recv(512)
    if ( len(data) < 1 ) :
        break
    print(data.decode(), end='')

mysock.close()
"""

#: The exercise: retrieve the document, strip the headers, print only the body.
STRIP_HEADERS = """\
import socket

mysock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
mysock.connect(('127.0.0.1', PORT))
cmd = 'GET http://data.pr4e.org/romeo.txt HTTP/1.0\\r\\n\\r\\n'.encode()
mysock.send(cmd)

document = b""
while True:
    data = mysock.recv(512)
    if len(data) < 1:
        break
    document = document + data
mysock.close()

pos = document.find(b"\\r\\n\\r\\n")
print('Header length', pos)
print(document[pos+4:].decode(), end='')
"""

#: py4e's urllib1.py.
URLLIB1 = """\
import urllib.request

fhand = urllib.request.urlopen('http://127.0.0.1:PORT/romeo.txt')
for line in fhand:
    print(line.decode().strip())
"""


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """One ``socklab serve --mode http`` for the module's learners."""
    live: Live = start_cli("serve", "--mode", "http", "--port", "0", "--json")
    try:
        bound = live.wait_event(lambda e: e["op"] == "bind")
        assert live.wait_event(lambda e: e["op"] == "listen")["ok"]
        yield bound["result"][1]
    finally:
        live.stop()
        no_traceback("".join(live.errors))


def _run_program(tmp_path: Path, name: str, source: str, port: int) -> str:
    program = tmp_path / name
    program.write_text(source.replace("PORT", str(port)))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["no_proxy"] = "*"
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                          timeout=LIMIT * 2, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name, source", [
    ("socket1.py", SOCKET1), ("socket1_old.py", SOCKET1_OLD),
], ids=["crlf", "bare-lf"])
def test_socket1_gets_romeo_with_an_absolute_uri(tmp_path: Path, http_port: int,
                                                 name: str, source: str) -> None:
    out = _run_program(tmp_path, name, source, http_port)
    head, _, body = out.partition("\n\n")  # text mode reads \r\n as \n
    assert head.startswith("HTTP/1.0 200 OK"), out
    assert body == ROMEO


def test_the_header_stripping_exercise_prints_only_the_body(tmp_path: Path,
                                                            http_port: int) -> None:
    out = _run_program(tmp_path, "strip.py", STRIP_HEADERS, http_port)
    first, _, body = out.partition("\n")
    assert first.startswith("Header length ") and int(first.split()[-1]) > 0
    assert body == ROMEO


def test_urllib_urlopen_reads_romeo(tmp_path: Path, http_port: int) -> None:
    out = _run_program(tmp_path, "urllib1.py", URLLIB1, http_port)
    assert out.splitlines() == ROMEO.splitlines()


def _exchange(port: int, request: bytes, *, wait_for_answer: bool = False) -> bytes:
    """Send ``request`` with sendall (all of it), then read the answer until EOF.

    A reset here would mean the server closed with our bytes unread.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT * 2) as peer:
        peer.sendall(request)
        answer = b""
        while chunk := peer.recv(65536):
            answer += chunk
    return answer


def test_an_oversize_request_gets_431_and_no_reset(http_port: int) -> None:
    big = b"GET /romeo.txt HTTP/1.0\r\nX-Filler: " + b"a" * (4 * MAX_REQUEST)
    answer = _exchange(http_port, big)
    assert answer.startswith(b"HTTP/1.0 431 Request Header Fields Too Large\r\n"), answer[:80]
    assert b"without the blank line" in answer


def test_a_request_with_no_blank_line_gets_408_after_the_timeout(lab: Lab,
                                                                 rec: Recorder) -> None:
    server = listening(lab)
    service = Service(lab, server, "http", count=1, request_timeout=0.5).start()
    answer = _exchange(server.local[1], b"GET /romeo.txt HTTP/1.0\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.0 408 Request Timeout\r\n"), answer[:80]
    assert b"no blank line came within 0.5 s" in answer
    assert service.wait(LIMIT)
    ops = [(e.op, e.ok) for e in rec.done() if e.side == "server" and e.conn is not None]
    # The server waited, answered, shut its side, read the client's EOF, closed.
    assert ops[-4:] == [("send", True), ("shutdown", True), ("recv", True), ("close", True)]
    # The recv that waited says the limit is socklab's, and how to set it (issue 12).
    waited = [e for e in rec.done() if e.op == "recv" and e.error == "TimeoutError"]
    assert len(waited) == 1 and "socklab serve --request-timeout" in waited[0].lesson


def test_serve_request_timeout_is_the_http_modes_control() -> None:
    live: Live = start_cli("serve", "--mode", "http", "--port", "0", "--json", "--count", "1",
                           "--request-timeout", "0.3")
    try:
        port = live.wait_event(lambda e: e["op"] == "bind")["result"][1]
        assert live.wait_event(lambda e: e["op"] == "listen")["ok"]
        answer = _exchange(port, b"GET / HTTP/1.0\r\n")
        assert answer.startswith(b"HTTP/1.0 408 Request Timeout\r\n"), answer[:80]
        assert b"no blank line came within 0.3 s" in answer
        waited = live.wait_event(lambda e: e["op"] == "recv" and e["error"] == "TimeoutError")
        assert "--request-timeout" in waited["lesson"]
    finally:
        live.stop()
