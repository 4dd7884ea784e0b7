"""The Code view follows the lab (issue 12 item 8): the edited greeting and
client message, the http mode (a server, and py4e's socket1.py as the client),
the socket options; and the exported programs run (they are run here)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import LIMIT
from pilot import SIZE, until
from test_codegen import close, finish, read_line
from textual.widgets import Checkbox, Select

from socklab import codegen
from socklab.ui.app import SocklabApp
from socklab.ui.code_view import CodeView


def _serve(tmp_path: Path, program: str, count: int = 1) -> tuple[subprocess.Popen[str], int]:
    path = tmp_path / "sockets_server.py"
    path.write_text(program)
    proc = subprocess.Popen([sys.executable, str(path), str(count)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = read_line(proc)
    if not line.startswith("Listening on"):
        close(proc)
        pytest.fail(f"the server did not start: {line!r}")
    return proc, int(line.rsplit(",", 1)[1].strip(" )\n"))


def _client(tmp_path: Path, program: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "sockets_client.py"
    path.write_text(program)
    return subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=LIMIT, check=False)


@pytest.mark.parametrize("timeout", [None, 0.0, 5.0])
def test_the_http_pair_runs_and_the_client_is_socket1(tmp_path: Path,
                                                      timeout: float | None) -> None:
    server, port = _serve(tmp_path, codegen.generate("server", port=0, mode="http",
                                                     reuseaddr=True, timeout=timeout))
    try:
        client = _client(tmp_path, codegen.generate("client", port=port, mode="http",
                                                    timeout=timeout))
    finally:
        code, _out, err = finish(server)
    assert client.returncode == 0, client.stderr
    assert client.stdout.startswith("HTTP/1.0 200 OK")
    assert "But soft what light through yonder window breaks" in client.stdout
    assert code == 0, err
    program = codegen.generate("client", port=port, mode="http")
    assert "GET http://127.0.0.1:" in program and ".encode()" in program
    assert "data = myclient.recv(512)" in program  # socket1.py's loop


def test_the_http_server_answers_a_relative_path_and_404(tmp_path: Path) -> None:
    program = codegen.generate("server", port=0, mode="http")
    server, port = _serve(tmp_path, program, count=2)
    replies = []
    try:
        for request in (b"GET /romeo.txt HTTP/1.0\n\n", b"GET /nope HTTP/1.0\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                replies.append(data)
    finally:
        code, _out, err = finish(server)
    assert replies[0].startswith(b"HTTP/1.0 200 OK") and b"Juliet" in replies[0]
    assert replies[1].startswith(b"HTTP/1.0 404")
    assert code == 0, err


@pytest.mark.parametrize("timeout", [0.0, 30.0])
def test_edited_messages_and_options_run(tmp_path: Path, timeout: float) -> None:
    message = "héllo ✓ \"quoted\"\t!"
    server, port = _serve(tmp_path, codegen.generate(
        "server", port=0, mode="echo", reuseaddr=True, timeout=timeout))
    try:
        client = _client(tmp_path, codegen.generate("client", port=port, mode="echo",
                                                    message=message, timeout=timeout))
    finally:
        code, _out, err = finish(server)
    assert client.returncode == 0, client.stderr
    assert client.stdout == message + "\n"
    assert code == 0, err
    greeting = "Bonjour à tous"
    server, port = _serve(tmp_path, codegen.generate("server", port=0, message=greeting))
    try:
        client = _client(tmp_path, codegen.generate("client", port=port))
    finally:
        finish(server)
    assert client.stdout == greeting + "\n"


async def test_the_code_view_follows_the_panes() -> None:
    """Each field or option changed shows in the programs.  The change reaches the
    code view by messages bubbling from the field to the app, a task hop each: the
    test waits for the programs to show it (Pilot's pause may come back first when
    the machine is busy)."""
    app = SocklabApp()
    async with app.run_test(size=SIZE):
        view = app.query_one("#code-view", CodeView)

        async def shows(role: str, *lines: str) -> None:
            await until(lambda: all(line in (view.programs[role] or "") for line in lines),
                        f"the {role} program showing {lines}")

        app.server_pane.input("message").value = r"Bonjour\r\n"
        app.query_one("#server-reuseaddr", Checkbox).value = True
        app.query_one("#server-timeout", Select).value = "0"
        app.query_one("#client-timeout", Select).value = "5.0"
        await shows("server", 'GREETING = "Bonjour\\r\\n"',
                    "myserver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
                    "myserver.setblocking(False)")
        await shows("client", "myclient.settimeout(5.0)")
        app.query_one("#server-mode", Select).value = "echo"
        app.client_pane.input("message").value = "ping"
        await shows("client", 'MESSAGE = "ping"')
        app.query_one("#server-mode", Select).value = "http"
        await shows("server", "ROMEO = ")
        await shows("client", "GET http://")
