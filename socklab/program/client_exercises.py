"""The client exercises of `socklab check`, and the datagram server's: the lab
plays the other side (a welcome server, a web server, UDP clients).

The lab's server answers in several segments with a pause between them (as a
real network delivers a response), so a client that calls recv() once reads
only the start.  A client exercise runs the program as ``FILE HOST PORT``; the
lab's server listens on the lecture's port 1024 where it can, and the program
may connect only to this machine (a check never sends traffic elsewhere).
"""

from __future__ import annotations

import socket
import sys
import time

from ..engine import GREETING, Endpoint
from ..modes import ROMEO, http_response
from .checker import Session, TestResult
from .exercises import EXERCISES, _calls, _free_port

#: The pause between two segments of the lab's answer.
SEGMENT_PAUSE = 0.3
LECTURE_PORT = 1024


def _lab_server(session: Session) -> tuple[int, object]:
    """A lab server listening on 127.0.0.1: the lecture's port 1024, or a free one."""
    server = session.lab.server()
    server.socket()
    for port in (LECTURE_PORT, _free_port()):
        if server.bind("127.0.0.1", port).ok:
            server.listen(5)
            return port, server
        server.socket()
    raise OSError("no port to listen on")


def _start(path: str, port_of: list[int], session_env: dict[str, str]) -> tuple[Session, object]:
    session = Session([sys.executable, path], env=session_env)
    port, server = _lab_server(session)
    port_of.append(port)
    session.program.command.argv.extend(["127.0.0.1", str(port)])
    session.start()
    return session, server


def _accept(session: Session, server) -> Endpoint | None:
    """The program's connection, or None once it ended or the time is up (10 s)."""
    deadline = time.monotonic() + min(10.0, session.left())
    while time.monotonic() < deadline:
        conn, _event = server.accept(timeout=0.25)
        if conn is not None:
            return conn
        if session.ended(0):
            return None
    return None


def _answer(conn: Endpoint, data: bytes, pieces: int = 2) -> None:
    """Send ``data`` in ``pieces`` segments, a pause between them, then close."""
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        conn.send(data[start:start + step])
        if start + step < len(data):
            time.sleep(SEGMENT_PAUSE)
    conn.close()


def _no_connection(session: Session, names: list[str], port: int) -> list[TestResult]:
    session.finish()
    failed = session.failures("connect")
    if failed:
        words = (f"your client's connect() failed with {failed[-1].error}: "
                 f"{failed[-1].lesson} (the lab listened on 127.0.0.1 port {port}, given on "
                 "the command line: HOST PORT)")
    else:
        words = session.hung() or ("your client never connected to 127.0.0.1 port "
                                   f"{port}\n" + session.crashed())
    return [TestResult(names[0], False, words + "\n" + session.lines(_calls(session))),
            *[TestResult(n, False, "not checked: the client never connected")
              for n in names[1:]]]


def _read_all_result(session: Session, expected: bytes, name: str) -> TestResult:
    recvs = [e for e in session.of_program("recv") if e.phase == "done" and e.ok]
    total = sum(e.nbytes or 0 for e in recvs)
    eof = any(e.nbytes == 0 for e in recvs)
    if total >= len(expected) and eof:
        return TestResult(name, True, f"read all {len(expected)} bytes, in {len(recvs) - 1} "
                          "recv() calls, then b''")
    if recvs and not eof:
        return TestResult(name, False, f"your client read {total} of the {len(expected)} "
                          f"bytes, which came in several segments, and stopped: recv(n) "
                          "returns up to n bytes of the stream, whatever has arrived — call "
                          "it in a loop until it returns b''\n" + session.lines(recvs))
    return TestResult(name, False, f"your client read {total} of {len(expected)} bytes\n"
                      + (session.hung() or session.lines(_calls(session))))


def _printed_result(session: Session, text: str, name: str) -> TestResult:
    out = bytes(session.program.outcome.stdout).decode("utf-8", "replace")
    if text.strip() in out:
        return TestResult(name, True, "it printed what it received")
    lines = [e for e in session.of_program("output")]
    return TestResult(name, False, f"expected the output to contain {text.strip()!r}; "
                      "decode the bytes (data.decode()) and print all of them\n"
                      + session.lines(lines))


def _closed_result(session: Session, name: str) -> TestResult:
    closes = [e for e in session.of_program("close") if e.ok and e.conn is not None]
    if closes:
        return TestResult(name, True, "it closed its socket")
    return TestResult(name, False, "your client never called close() on its socket (its "
                      "end left it to the operating system): close it, or use `with`\n"
                      + session.lines(_calls(session)))


def _exit_result(session: Session, name: str) -> TestResult:
    outcome = session.finish(grace=5.0)
    if outcome.status == 0 and not outcome.timed_out:
        return TestResult(name, True, "it ended with status 0")
    if outcome.timed_out:
        return TestResult(name, False, session.hung())
    return TestResult(name, False, f"it ended with status {outcome.status}\n"
                      + session.crashed())


def welcome_client(path: str) -> list[TestResult]:
    """The lecture's client: connect, read the whole greeting, print it, close."""
    names = ["connects", "reads until b''", "prints the greeting", "closes its socket",
             "ends"]
    port: list[int] = []
    session, server = _start(path, port, {})
    conn = _accept(session, server)
    if conn is None:
        return _no_connection(session, names, port[0])
    _answer(conn, GREETING)
    results = [TestResult(names[0], True, f"connected to 127.0.0.1 port {port[0]}")]
    session.ended(5.0)
    results.append(_read_all_result(session, GREETING, names[1]))
    results.append(_printed_result(session, GREETING.decode(), names[2]))
    results.append(_closed_result(session, names[3]))
    results.append(_exit_result(session, names[4]))
    return results


def http_client(path: str) -> list[TestResult]:
    """py4e's socket1.py: a GET ending in a blank line, recv until b'', print it."""
    names = ["connects", "sends a request ending in \\r\\n\\r\\n", "reads until b''",
             "prints the page", "ends"]
    port: list[int] = []
    session, server = _start(path, port, {"SOCKLAB_LOOPBACK_ONLY": "1"})
    conn = _accept(session, server)
    if conn is None:
        return _no_connection(session, names, port[0])
    request = b""
    deadline = time.monotonic() + 3.0
    while b"\r\n\r\n" not in request and time.monotonic() < deadline:
        got = conn.recv(4096, timeout=max(0.01, deadline - time.monotonic()))
        if got.eof or (got.event is not None and not got.event.ok):
            break
        request += got.data
    results = [TestResult(names[0], True, f"connected to 127.0.0.1 port {port[0]}")]
    if b"\r\n\r\n" in request:
        results.append(TestResult(names[1], True, f"the request: {request!r}"))
        response = http_response(request)
    else:
        results.append(TestResult(names[1], False, f"the request {request!r} never ended "
                                  "with a blank line (\\r\\n\\r\\n): the server waits for "
                                  "it before answering (\\n\\n is the old edition's bug)"))
        response = b""
    _answer(conn, response, pieces=3) if response else conn.close()
    session.ended(5.0)
    results.append(_read_all_result(session, response, names[2]) if response else
                   TestResult(names[2], False, "not checked: no request, no answer"))
    results.append(_printed_result(session, ROMEO.splitlines()[0], names[3]))
    results.append(_exit_result(session, names[4]))
    return results


def udp_echo_server(path: str) -> list[TestResult]:
    """A UDP echo server: each datagram back whole, to whoever sent it."""
    names = ["binds", "echoes each datagram whole", "answers a second client"]
    session = Session([sys.executable, path, str(_free_port())]).start()
    bound = session.bound("bind")
    if bound is None or bound.op != "bind":
        session.finish()
        return [TestResult(names[0], False, "your server never bound a port\n"
                           + (session.hung() or session.crashed())),
                *[TestResult(n, False, "not checked: nothing to send to") for n in names[1:]]]
    host, port = bound.result[0], bound.result[1]
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    results = [TestResult(names[0], True, f"bound to {tuple(bound.result)}")]
    # Up to the lecture's recvfrom(1024): the largest fills it exactly.
    datagrams = [b"one", b"two: " + b"x" * 1019, b"three"]
    results.append(_udp_echo(session, host, port, datagrams, names[1]))
    results.append(_udp_echo(session, host, port, [b"second client"], names[2]))
    session.finish()
    return results


def _udp_echo(session: Session, host: str, port: int, datagrams: list[bytes],
              name: str) -> TestResult:
    client = session.lab.client(socket.AF_INET, socket.SOCK_DGRAM)
    client.socket()
    for data in datagrams:
        client.sendto(data, host, port)
        got = client.recvfrom(65535, timeout=min(3.0, session.left()))
        if got.data != data:
            cut = [e for e in session.of_program("recvfrom") if e.phase == "done" and e.args
                   and isinstance(e.args[0], int) and e.nbytes == e.args[0] < len(data)]
            words = f"sent a {len(data)}-byte datagram, received {got.data[:40]!r}"
            if got.event is not None and not got.event.ok:
                words = f"sent a {len(data)}-byte datagram; no answer ({got.event.error})"
            if cut:
                words += (f": your server's recvfrom({cut[-1].args[0]}) was smaller than the "
                          "datagram, and the rest of a datagram is lost, not kept for the "
                          "next call — use recvfrom(65535)")
            client.close()
            return TestResult(name, False, words + "\n" + session.lines(
                cut or _calls(session)))
    client.close()
    return TestResult(name, True, f"{len(datagrams)} datagram(s) came back whole")


EXERCISES.update({"welcome-client": welcome_client, "http-client": http_client,
                  "udp-echo-server": udp_echo_server})
