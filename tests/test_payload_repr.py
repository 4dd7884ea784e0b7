"""Payloads as Python writes them (issue 12 item 3): ``repr(bytes)`` in the log
and the human output, the decoded text beside it, the JSON contract only grown."""

from __future__ import annotations

import json
import socket
import threading

from helpers import LIMIT, Recorder, run_cli

from socklab.engine import Lab
from socklab.events import Event, bytes_repr
from socklab.logformat import DECODED_LABEL, format_line

PAYLOAD = "héllo ✓".encode()


def _exchange(payload: bytes) -> list[Event]:
    """A real client sends ``payload``, the lab's server receives it."""
    recorder = Recorder()
    with Lab() as lab:
        lab.subscribe(recorder)
        server = lab.server()
        server.socket()
        server.bind("127.0.0.1", 0)
        server.listen(5)
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", server.local[1])
        conn, _event = server.accept()
        assert conn is not None
        client.send(payload)
        conn.recv(1024)
    return recorder.snapshot()


def test_the_log_shows_bytes_as_python_repr_with_the_text_beside() -> None:
    events = _exchange(PAYLOAD)
    send = next(e for e in events if e.op == "send")
    recv = next(e for e in events if e.op == "recv" and e.nbytes)
    python = repr(PAYLOAD)
    assert python == r"b'h\xc3\xa9llo \xe2\x9c\x93'"
    assert send.bytes_repr == recv.bytes_repr == python
    assert f"send({python})" in format_line(send)
    line = format_line(recv)
    assert f"  {python}{DECODED_LABEL}héllo ✓" in line
    # ASCII payloads read the same either way: no second copy.
    plain = _exchange(b"GET / HTTP/1.0\r\n\r\n")
    recv = next(e for e in plain if e.op == "recv" and e.nbytes)
    assert format_line(recv).endswith(r"b'GET / HTTP/1.0\r\n\r\n'")


def test_control_characters_stay_escaped_and_bad_utf8_is_shown() -> None:
    hostile = b"\x1b[31mred\x9b2J\n\xff[@click=app.quit]"
    events = _exchange(hostile)
    recv = next(e for e in events if e.op == "recv" and e.nbytes)
    line = format_line(recv)
    assert repr(hostile) in line
    assert line.isprintable()  # no ESC, no CSI, no newline: every one is escaped
    assert DECODED_LABEL not in line  # the decoded text would read the same: not repeated
    mixed = _exchange(b"caf\xc3\xa9 \xff\x1b")
    line = format_line(next(e for e in mixed if e.op == "recv" and e.nbytes))
    assert line.isprintable()
    assert line.endswith(rf"{DECODED_LABEL}café \xff\x1b")  # the decode error is shown


def test_json_keeps_data_and_adds_bytes_repr() -> None:
    """"data" keeps its meaning (decoded text, escaped); "bytes_repr" is new."""
    events = _exchange(PAYLOAD)
    recv = json.loads(next(e for e in events if e.op == "recv" and e.nbytes).to_json())
    assert recv["data"] == "héllo ✓"
    assert recv["bytes_repr"] == repr(PAYLOAD)
    socket_event = json.loads(events[0].to_json())
    assert socket_event["bytes_repr"] is None


def test_bytes_repr_is_capped_like_data() -> None:
    big = b"\x00" * 600
    shown = bytes_repr(big, cap=512)
    assert shown.startswith("b'\\x00") and shown.endswith("… +88 bytes")


def test_the_command_prints_python_repr() -> None:
    """``socklab connect --send`` prints what Python would (a real server replies)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        listener.settimeout(LIMIT)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(LIMIT)
            data = conn.recv(1024)
            conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        done = run_cli("connect", "127.0.0.1", str(port), "--send", "héllo ✓")
    finally:
        thread.join(LIMIT)
        listener.close()
    assert done.returncode == 0, done.stderr
    assert f"send({PAYLOAD!r})" in done.stdout
    assert f"  {PAYLOAD!r}{DECODED_LABEL}héllo ✓" in done.stdout
