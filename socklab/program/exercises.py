"""The exercises `socklab check` knows, each checked against real lab peers.

Each exercise runs the learner's program in a `Session`, plays the lab's part
(clients for a server exercise, a server for a client exercise) and returns
its tests as `TestResult`s: passed, or failed with the reason in plain words
and the log lines that show it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

from ..engine import GREETING
from .checker import Read, Session, TestResult

#: The message the echo exercise sends in one go: more than a loopback
#: connection's send buffer holds at first (about 1.3 MB: 2 × 10 segments of
#: 64 KiB), so a single send() of it blocks, and can return before it sent it all.
BIG = 4 << 20
#: The lab client's receive buffer for that message: it reads slowly.
SMALL_RCVBUF = 8192
#: How long the big echo may take: each of a program's calls is traced, and a
#: recv(1024) loop makes 8,192 of them (about 10 s on a busy 2-core machine).
BIG_LIMIT = 60.0
#: Seconds the slow client waits between two recv() calls.
SLOW_PAUSE = 0.001
#: A server that has not closed a connection this long after greeting never will.
CLOSE_LIMIT = 2.0


def _python(path: str, *args: str) -> list[str]:
    return [sys.executable, path, *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _calls(session: Session) -> list:
    """The program's calls (not its output lines)."""
    return [e for e in session.of_program() if e.op != "output"]


# -- welcome-server ------------------------------------------------------------------


def _not_listening(session: Session, names: list[str]) -> list[TestResult]:
    """The program never listened: every test fails, saying why."""
    session.finish()
    failed = session.failures()
    if failed:
        last = failed[-1]
        words = (f"your server's {last.op}() failed with {last.error}: {last.lesson}")
        if last.op == "accept" and last.error == "EINVAL":
            words = ("your server called accept() on a socket that is not listening: "
                     "call listen() after bind() and before accept() "
                     f"({last.error}: {last.lesson})")
        words += "\n" + session.lines(_calls(session))
    elif session.outcome and session.outcome.timed_out:
        words = "your server never called listen(): " + session.hung()
    else:
        words = "your server ended without ever calling listen()\n" + session.crashed()
    first = TestResult(names[0], False, words)
    rest = [TestResult(n, False, "not checked: there was no listening server to connect "
                       "to (see the first test)") for n in names[1:]]
    return [first, *rest]


def _greeting_result(session: Session, got: Read, name: str) -> TestResult:
    if got.data == GREETING:
        return TestResult(name, True, f"the client received exactly {GREETING!r}")
    wrong_type = [e for e in session.failures() if e.op in ("send", "sendall")
                  and e.error == "TypeError"]
    if wrong_type:
        return TestResult(name, False, "your server called send() with a str: a socket "
                          "sends bytes — send bytes(text, 'utf-8') or text.encode()\n"
                          + session.lines(wrong_type))
    if not got.data:
        why = "the client received nothing"
        why += " and the server closed the connection" if got.eof else " within the time limit"
        return TestResult(name, False, f"{why}; expected {GREETING!r}\n"
                          + session.lines(_calls(session)))
    return TestResult(name, False, f"expected exactly {GREETING!r}, the client received "
                      f"{got.data!r}\n" + session.lines(session.of_program("send")
                                                       + session.of_program("sendall")))


def _closed_result(session: Session, first, got: Read, name: str,
                   later: Callable[[], Read]) -> TestResult:
    """Did the server close the first connection?  (``later``: read the first
    client again once a second client was served.)"""
    if got.eof:
        return TestResult(name, True, "the server closed the connection after the greeting "
                          "(the client's recv() returned b'')")
    again = later()
    if again.eof:
        return TestResult(name, True, "the connection was closed only when the next client "
                          "came: Python freed the old socket when its variable was "
                          "reassigned, not close(); call close() (or use `with`) so each "
                          "client sees the end at once")
    first.close()
    session.wait_for(lambda e: e.by == "program" and e.op == "state"
                     and (e.result or {}).get("state") == "CLOSE_WAIT", 2.0)
    states = session.of_program("state")
    return TestResult(name, False, "your server never closed its connection: the client "
                      "waited for b'' in vain, and after the client closed, the server's "
                      "socket stayed in CLOSE_WAIT (a leak) — call close() on every socket "
                      "accept() returns\n" + session.lines(states))


def welcome_server(path: str) -> list[TestResult]:
    """The lecture's server: greets every client, closes each connection, loops."""
    names = ["listens", "greeting", "closes the connection", "serves a second client"]
    session = Session(_python(path, str(_free_port()))).start()
    listen = session.listening()
    if listen is None or listen.op != "listen":
        return _not_listening(session, names)
    where = listen.result
    results = [TestResult(names[0], True, f"listening on {tuple(where)}")]
    first, connected = session.client(where)
    got = session.read(first, want=None, timeout=CLOSE_LIMIT)
    results.append(_greeting_result(session, got, names[1]))
    second: list = []

    def later() -> Read:
        second.append(session.client(where))
        second.append(session.read(second[0][0], timeout=CLOSE_LIMIT))
        return session.read(first, timeout=1.0)

    results.append(_closed_result(session, first, got, names[2], later))
    if not second:
        second.append(session.client(where))
        second.append(session.read(second[0][0], timeout=CLOSE_LIMIT))
    results.append(_second_result(session, second[0][1], second[1], names[3]))
    session.finish()
    return results


def _second_result(session: Session, connected, got: Read, name: str) -> TestResult:
    if connected.ok and got.data == GREETING:
        return TestResult(name, True, "a second client was served after the first")
    if not connected.ok:
        exited = session.exited()
        words = f"the second client could not connect ({connected.error}): "
        words += ("your server stopped after the first client — put accept() in a loop "
                  "(while True:) to serve one client after another"
                  if exited is not None or connected.error == "ECONNREFUSED"
                  else str(connected.lesson))
        return TestResult(name, False, words + "\n" + session.lines(
            session.of_program("accept") + session.of_program("exit") + [connected]))
    if not got.data and session.ended(1.0):
        return TestResult(name, False, "the second client connected (the kernel queued it) "
                          "but your server ended after the first client without accepting "
                          "it — put accept() in a loop (while True:) to serve one client "
                          "after another\n" + session.lines(
                              session.of_program("accept") + session.of_program("close")))
    return TestResult(name, False, f"the second client received {got.data!r}, expected "
                      f"{GREETING!r}\n" + session.lines(session.of_program("accept")))


#: The exercises, by the name `socklab check` takes.
EXERCISES: dict[str, Callable[[str], list[TestResult]]] = {
    "welcome-server": welcome_server,
}


# -- echo-server ---------------------------------------------------------------------

LINE = b"hello, echo\n"


def _echo_line(session: Session, where, name: str) -> TestResult:
    client, connected = session.client(where)
    if not connected.ok:
        return TestResult(name, False, f"the client could not connect ({connected.error}: "
                          f"{connected.lesson})")
    client.send(LINE)
    client.shutdown(socket.SHUT_WR)
    got = session.read(client, timeout=3.0)
    client.close()
    if got.data == LINE and got.eof:
        return TestResult(name, True, f"sent {LINE!r}, received it back, then b''")
    if got.data != LINE:
        words = f"sent {LINE!r}, received {got.data!r} back"
    else:
        words = ("the line came back, but your server did not close the connection after "
                 "the client's end (its recv() returned b''): close() it then")
    return TestResult(name, False, words + "\n" + session.lines(_calls(session)))


def _echo_big(session: Session, where, name: str) -> tuple[TestResult, bool]:
    """1 MiB to a client that reads slowly; returns the result and whether it connected."""
    payload = b"".join(b"%07d socklab echo check\n" % i for i in range(BIG // 27 + 1))[:BIG]
    client, connected = session.client(where, rcvbuf=SMALL_RCVBUF)
    if not connected.ok:
        return TestResult(name, False, f"the client could not connect ({connected.error}: "
                          f"{connected.lesson})"), False

    def send_all() -> None:
        client.send(payload)
        client.shutdown(socket.SHUT_WR)
    session.lab.spawn(send_all, "check-send")
    got = session.read(client, timeout=BIG_LIMIT, pause=SLOW_PAUSE, size=SMALL_RCVBUF)
    client.close()
    if got.data == payload and got.eof:
        return TestResult(name, True, f"{BIG} bytes sent to a client that reads slowly "
                          "(a small receive buffer) came back whole, then b''"), True
    return TestResult(name, False, _echo_big_why(session, client.conn, got)), True


def _echo_big_why(session: Session, lab_client: int | None, got: Read) -> str:
    accepted = [e for e in session.of_program("accept") if e.peer_conn == lab_client]
    conn = accepted[0].conn if accepted else None
    mine = [e for e in _calls(session) if e.conn == conn and conn is not None]
    partial = [e for e in mine if e.op == "send" and (e.lesson or "").startswith(
        "send() sent only")]
    received = f"the client received {len(got.data)} of the {BIG} bytes"
    if got.error is not None:
        received += f" and then {got.error.error}"
    if partial:
        return (f"{received}: your server's send() sent only part of what it was given "
                "and the rest was never sent — send() may send less than it is given (here "
                "while the client read slowly); use sendall(), or loop until every byte "
                "is sent\n" + session.lines(partial))
    recvs = [e for e in mine if e.op == "recv" and e.phase == "done"]
    if len(recvs) == 1 and recvs[0].nbytes:
        return (f"{received}: your server called recv() once and stopped — recv(n) "
                "returns up to n bytes of the stream, not the whole message: call it in a "
                "loop until it returns b''\n" + session.lines(mine))
    hung = session.hung()
    return f"{received}\n" + (hung or session.lines(mine))


def echo_server(path: str) -> list[TestResult]:
    """An echo server: every byte back, partial sends handled, until b''."""
    names = ["listens", "echoes a line", f"echoes {BIG} bytes to a slow reader",
             "serves a second client"]
    session = Session(_python(path, str(_free_port())), limit=BIG_LIMIT + 30.0,
                      env={"SOCKLAB_INTERRUPT_SENDS": "1"}).start()
    listen = session.listening()
    if listen is None or listen.op != "listen":
        return _not_listening(session, names)
    where = listen.result
    results = [TestResult(names[0], True, f"listening on {tuple(where)}")]
    results.append(_echo_line(session, where, names[1]))
    session.interrupt_sends()
    big, connected = _echo_big(session, where, names[2])
    results.append(big)
    results.append(TestResult(names[3], connected, "a second client connected after the "
                              "first" if connected else "the second client could not "
                              "connect: " + session.lines(_calls(session))))
    session.finish()
    return results


EXERCISES["echo-server"] = echo_server
