"""socklab.codegen: the generated programs really run and talk to each other.

Every family × type × mode: the server is generated, started as a subprocess
on a kernel-chosen loopback port, and the client generated for that port must
print what the server sent.  Every wait is bounded.
"""

from __future__ import annotations

import ast
import os
import selectors
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import IPV6_MISSING

from socklab import codegen, ports
from socklab.inputs import InputError, parse_family

LIMIT = 20.0
REPO = Path(__file__).resolve().parent.parent
FAMILIES = ["inet", "inet6"]
KINDS = ["stream", "dgram"]




def skip_without_ipv6(family: str) -> None:
    if family == "inet6" and IPV6_MISSING is not None:
        reason = f"no IPv6 loopback on this machine: {IPV6_MISSING}"
        print(reason)
        pytest.skip(reason)


def read_line(proc: subprocess.Popen[str], timeout: float = LIMIT) -> str:
    """One line of the process's stdout, or a failure after ``timeout``."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"no output from the server within {timeout} s")
    return proc.stdout.readline()


def start_server(tmp_path: Path, family: str, kind: str, mode: str, port: int = 0,
                 count: int = 1) -> tuple[subprocess.Popen[str], int]:
    program = codegen.generate("server", family, kind, None, port, mode=mode)
    path = tmp_path / "sockets_server.py"
    path.write_text(program)
    proc = subprocess.Popen([sys.executable, str(path), str(count)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = read_line(proc)
    if not line:
        proc.wait(LIMIT)
        err = proc.stderr.read() if proc.stderr else ""
        close(proc)
        pytest.fail(f"the server did not start: {err}")
    assert line.startswith(("Listening on", "Waiting for datagrams on")), line
    address = ast.literal_eval(line[line.index("("):].strip())
    return proc, int(address[1])


def run_client(tmp_path: Path, family: str, kind: str, mode: str,
               port: int) -> subprocess.CompletedProcess[str]:
    program = codegen.generate("client", family, kind, None, port, mode=mode)
    path = tmp_path / "sockets_client.py"
    path.write_text(program)
    return subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=LIMIT)


def close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(LIMIT)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=LIMIT)
    finally:
        close(proc)
    return proc.returncode, out, err


@pytest.mark.parametrize("mode", ["welcome", "echo"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_generated_server_and_client_talk(tmp_path: Path, family: str, kind: str,
                                          mode: str) -> None:
    skip_without_ipv6(family)
    server, port = start_server(tmp_path, family, kind, mode)
    try:
        client = run_client(tmp_path, family, kind, mode, port)
    finally:
        code, out, err = finish(server)
    assert client.returncode == 0, client.stderr
    expected = codegen.GREETING if mode == "welcome" else codegen.ECHO_MESSAGE
    assert client.stdout == expected + "\n"
    assert code == 0, err
    assert ("Connection to" if kind == "stream" else "Datagram from") in out


def test_generated_server_on_a_port_from_find_free_port(tmp_path: Path) -> None:
    port = ports.find_free_port()
    server, bound = start_server(tmp_path, "inet", "stream", "welcome", port=port)
    try:
        client = run_client(tmp_path, "inet", "stream", "welcome", port)
    finally:
        code, _out, err = finish(server)
    assert bound == port
    assert client.stdout.strip() == "Welcome to Socket Programming in Python!"
    assert code == 0, err


@pytest.mark.parametrize("kind", KINDS)
def test_generated_server_serves_count_clients_then_exits(tmp_path: Path, kind: str) -> None:
    server, port = start_server(tmp_path, "inet", kind, "welcome", count=3)
    try:
        replies = [run_client(tmp_path, "inet", kind, "welcome", port).stdout for _ in range(3)]
    finally:
        code, out, err = finish(server)
    assert replies == [codegen.GREETING + "\n"] * 3
    assert code == 0, err
    assert out.count("Connection to" if kind == "stream" else "Datagram from") == 3


def test_generated_client_without_a_server_fails_with_the_real_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_client(tmp_path, "inet", "stream", "welcome", port)
    assert run.returncode != 0
    assert "ConnectionRefusedError" in run.stderr


# -- the programs' content -----------------------------------------------------------


@pytest.mark.parametrize("mode", codegen.MODES + codegen.FALLBACK_MODES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("role", codegen.ROLES)
def test_every_program_compiles_and_has_the_right_calls(role: str, family: str, kind: str,
                                                        mode: str) -> None:
    program = codegen.generate(role, family, kind, None, 1024, mode=mode)
    tree = ast.parse(program)
    calls = {n.func.attr for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    fam = "AF_INET6" if family == "inet6" else "AF_INET"
    typ = "SOCK_STREAM" if kind == "stream" else "SOCK_DGRAM"
    assert f"socket.socket(socket.{fam}, socket.{typ})" in program
    assert ('HOST = "::1"' if family == "inet6" else 'HOST = "127.0.0.1"') in program
    if kind == "dgram":
        assert "listen" not in calls and "accept" not in calls and "connect" not in calls
        assert "sendto" in calls and "recvfrom" in calls
    elif role == "server":
        assert {"bind", "listen", "accept", "sendall"} <= calls
        assert ("recv" in calls) == (mode == "echo")
    else:
        assert {"connect", "recv"} <= calls
    assert "gethostname" not in calls
    assert "with socket.socket(" in program  # closed by the with-statement
    if role == "server" and kind == "stream":
        assert "with myclient:" in program  # the accepted socket is closed too
        assert "marks the socket as LISTENING" in program
    if mode in codegen.FALLBACK_MODES:
        assert f"{mode!r} mode has no program here yet" in program


def test_programs_are_lint_clean(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    for role in codegen.ROLES:
        for family in FAMILIES:
            for kind in KINDS:
                for mode in codegen.MODES:
                    path = tmp_path / f"{role}_{family}_{kind}_{mode}.py"
                    path.write_text(codegen.generate(role, family, kind, None, 1024, mode=mode))
    run = subprocess.run([ruff, "check", "--isolated", "--select", "E,F,W,B", str(tmp_path)],
                         capture_output=True, text=True, timeout=LIMIT)
    assert run.returncode == 0, run.stdout


def test_port_and_host_comments_teach() -> None:
    assert "needs root or CAP_NET_BIND_SERVICE" in codegen.generate("server", port=80)
    assert "Port 0 asks the kernel" in codegen.generate("server", port=0)
    everywhere = codegen.generate("server", host="")
    assert "anyone on your network can connect" in everywhere and 'HOST = ""' in everywhere
    assert "no privileges needed" in codegen.generate("client", port=1024)


def test_family_and_kind_accept_socket_constants() -> None:
    a = codegen.generate("client", socket.AF_INET6, socket.SOCK_DGRAM, "::1", 5000)
    b = codegen.generate("client", "inet6", "dgram", "::1", "5000")
    assert a == b and parse_family("inet6") == socket.AF_INET6


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"role": "peer"}, "role"), ({"role": "server", "family": "ipx"}, "family"),
     ({"role": "server", "kind": "raw"}, "socket type"),
     ({"role": "server", "family": 99}, "family"),
     ({"role": "server", "port": 70000}, "out of range"),
     ({"role": "client", "port": 0}, "port 0"),
     ({"role": "server", "port": "abc"}, "whole number"),
     ({"role": "server", "backlog": -1}, "negative"),
     ({"role": "server", "mode": "ftp"}, "mode"),
     ({"role": "client", "host": ""}, "every interface"),
     ({"role": "client", "host": "a b"}, "host"),
     ({"role": "client", "host": "x\x00"}, "NUL")],
)
def test_bad_settings_are_one_input_error(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InputError) as info:
        codegen.generate(**kwargs)  # type: ignore[arg-type]
    assert words in str(info.value)


# -- the code command -----------------------------------------------------------------


def socklab(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "socklab", *args], capture_output=True,
                          text=True, timeout=LIMIT, cwd=cwd, env=env)


def test_cli_code_prints_the_same_program() -> None:
    run = socklab("code", "server", "--family", "inet6", "--type", "dgram", "--port", "5000",
                  "--mode", "echo")
    assert run.returncode == 0, run.stderr
    assert run.stdout == codegen.generate("server", "inet6", "dgram", "::1", 5000, mode="echo")
    run = socklab("code", "client", "--host", "localhost", "--port", "2000")
    assert run.returncode == 0, run.stderr
    assert run.stdout == codegen.generate("client", "inet", "stream", "localhost", 2000)


def test_cli_code_output_file(tmp_path: Path) -> None:
    target = tmp_path / "sockets_client.py"
    run = socklab("code", "client", "--output", str(target))
    assert run.returncode == 0, run.stderr
    assert target.read_text() == codegen.generate("client")
    assert run.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["code", "server", "--port", "70000"], ["code", "client", "--port", "0"],
     ["code", "peer"], ["code", "server", "--backlog", "-1"],
     ["code", "server", "--family", "ipx"], ["code", "client", "--host", ""],
     ["code", "server", "--output", "/nonexistent-dir/x.py"]],
)
def test_cli_code_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    run = socklab(*args)
    assert run.returncode == 2
    assert run.stderr.startswith("socklab: error:")
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_cli_code_imports_no_textual_or_rich() -> None:
    code = ("import sys, io, contextlib; from socklab.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['code', 'server'])\n"
            "print('UI', any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=LIMIT, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "UI False" in run.stdout


# -- the code view (Pilot) ------------------------------------------------------------------


async def test_code_view_updates_live_and_exports(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    import socklab.ui.app
    from socklab.ui.app import SocklabApp
    from socklab.ui.code_view import CodeView

    exported: list[list[Path]] = []

    class CodeApp(App[None]):
        # The lab's one stylesheet, as in the lab (its theme variables with it).
        CSS_PATH = Path(socklab.ui.app.__file__).with_name(str(SocklabApp.CSS_PATH))
        get_theme_variable_defaults = SocklabApp.get_theme_variable_defaults

        def compose(self) -> ComposeResult:
            yield CodeView()

        def on_code_view_exported(self, message: CodeView.Exported) -> None:
            exported.append(message.paths)

    monkeypatch.chdir(tmp_path)
    app = CodeApp()
    async with app.run_test(size=(160, 40)) as pilot:
        view = app.query_one(CodeView)
        await pilot.pause()
        assert view.programs["server"] == codegen.generate("server")
        assert not view.has_class("-narrow")

        server = {"family": socket.AF_INET6, "kind": socket.SOCK_DGRAM, "host": "::1",
                  "port": 5000, "backlog": 5, "mode": "echo"}
        client = {"family": "inet6", "kind": "dgram", "host": "::1", "port": "5000"}
        view.update_settings(server, client)
        await pilot.pause()
        assert view.programs["server"] == codegen.generate("server", "inet6", "dgram", "::1",
                                                           5000, mode="echo")
        # the client follows the server's mode, so the pair talks
        assert view.programs["client"] == codegen.generate("client", "inet6", "dgram", "::1",
                                                           5000, mode="echo")

        view.update_settings(server, {**client, "port": "70000"})  # bad: flagged in place
        await pilot.pause()
        assert view.programs["client"] is None
        assert "out of range" in str(view.query_one("#code-client-text", Static).render())
        await pilot.click("#code-export")
        await pilot.pause()
        assert not (tmp_path / "sockets_server.py").exists()  # nothing half-exported
        assert "not exported" in str(view.query_one("#code-status", Static).render())

        view.update_settings(server, client)
        view.focus()
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert (tmp_path / "sockets_server.py").read_text() == view.programs["server"]
        assert (tmp_path / "sockets_client.py").read_text() == view.programs["client"]
        assert exported == [[tmp_path / "sockets_server.py", tmp_path / "sockets_client.py"]]

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert view.has_class("-narrow")
