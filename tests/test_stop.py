"""Issue 15 items 1-4, 12 and 15, provoked for real (the real terminal's side is in
test_terminal.py, which drives tmux).

- resizing down to 1x1 never crashes the layout (item 1);
- bytes that are not UTF-8 decode without an error (item 2);
- SIGTERM and SIGHUP close every socket, each a logged close by the lab saying
  which signal, and exit 128 + N: the lab screen and serve/connect (item 3);
- an unexpected exception is one line saying where the report is, exit 70 (item 4);
- ``connect ::1`` points to ``--family inet6``; ``code --json`` is refused (item 12);
- notifications carrying a path or peer text have markup off (item 15).
"""

from __future__ import annotations

import ast
import codecs
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    LIMIT,
    REPO,
    cli_command,
    cli_env,
    closed_port,
    json_events,
    no_traceback,
    run_cli,
    start_cli,
)
from pilot import SIZE, run_server, settle

from socklab.explain import stopped_by_signal
from socklab.guard import EXIT_CRASH, stop_signals
from socklab.ui.app import SocklabApp
from socklab.ui.code_view import CodeView
from socklab.ui.textual_fixes import install, lenient_decoder_factory

STOPS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


# -- item 1: any size down to 1x1 -------------------------------------------------------------

#: The smallest sizes and back; every width where the lab's call buttons pass
#: through a label of exactly 2 cells (which crashed: Rich folded at width 0).
SMALL = [(20, 10), (120, 36), (16, 1), (1, 1), (2, 2), (80, 24), (1, 1), (120, 36)]
NARROW = [(width, 10) for width in range(12, 27)]


#: Each tab with the sizes it goes through, from the first size (each sequence ends
#: there too); a test a tab, so that the three run side by side.
RESIZES = [pytest.param("lab", SMALL + NARROW + SMALL, id="lab"),
           pytest.param("code", SMALL, id="code"), pytest.param("ports", SMALL, id="ports")]


@pytest.mark.parametrize(("tab", "sizes"), RESIZES)
async def test_resizing_down_to_1x1_never_crashes(tab: str, sizes: list[tuple[int, int]]) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#tabs").active = tab  # type: ignore[attr-defined]
        for width, height in sizes:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            assert app._exception is None, (tab, width, height, app._exception)
        assert app.screen.size == SIZE and app.is_running


# -- item 2: bytes that are not UTF-8 ---------------------------------------------------------


def test_lenient_decoder_reads_latin1_and_drops_c1_controls() -> None:
    decode = lenient_decoder_factory("utf-8")().decode
    assert decode(b"\x9b") == ""  # 8-bit CSI: a C1 control, ignored as a key would be
    # a Latin-1 terminal's é: 0xe9 could start a 3-byte sequence, so it waits for the
    # next key's byte, which shows it is not UTF-8 (final: no more bytes come)
    assert decode(b"caf\xe9") == "caf" and decode(b"!") == "é!"
    assert decode(b"\xe9", final=True) == "é"
    assert decode(b"\xff\x80ok") == "ÿok"
    assert decode(b"\xc3(") == "Ã("  # a broken sequence: each byte read on its own
    # valid UTF-8 split across two reads still decodes as one character
    assert decode(b"\xc3") == "" and decode(b"\xa9") == "é"
    assert decode(b"\xe2\x82") == "" and decode(b"\xac", final=True) == "€"


def test_install_makes_the_linux_drivers_decoder_lenient() -> None:
    from textual.drivers import linux_driver
    install()
    decoder = linux_driver.getincrementaldecoder("utf-8")()  # type: ignore[attr-defined]
    assert decoder.decode(b"\x9b\xe9!") == "é!"
    with pytest.raises(UnicodeDecodeError):  # what the driver used before: strict
        codecs.getincrementaldecoder("utf-8")().decode(b"\x9b")


# -- item 3: stop signals -----------------------------------------------------------------------


@pytest.mark.parametrize("signum", STOPS)
async def test_stop_signal_closes_every_socket_of_the_lab(signum: int) -> None:
    app = SocklabApp()
    closes = []
    with stop_signals(app.stop_by_signal):
        async with app.run_test(size=SIZE) as pilot:
            await run_server(app, pilot)
            app.lab.subscribe(lambda e: e.op == "close" and closes.append(e))
            assert app.lab.open_sockets == 1
            os.kill(os.getpid(), signum)  # a real signal, to this process
            for _ in range(int(LIMIT / 0.05)):
                if app.return_code is not None:
                    break
                await pilot.pause(0.05)
            assert app.return_code == 128 + signum
            assert app.lab.open_sockets == 0
    reason = stopped_by_signal(signal.Signals(signum).name)
    assert [(e.side, e.by, e.ok) for e in closes] == [("server", "lab", True)]
    assert reason in (closes[0].lesson or "")


@pytest.mark.parametrize("signum", STOPS)
def test_serve_stops_on_signal_closing_every_socket(signum: int) -> None:
    live = start_cli("serve", "--port", "0", "--json")
    try:
        live.wait_event(lambda e: e["op"] == "accept" and e["phase"] == "wait")
        live.proc.send_signal(signum)
        status, out, err = live.finish()
    finally:
        live.stop()
    assert status == 128 + signum, err
    no_traceback(err)
    name = signal.Signals(signum).name
    closes = [e for e in json_events(out) if e["op"] == "close"]
    assert [(c["by"], c["ok"]) for c in closes] == [("lab", True)]
    assert name in closes[0]["lesson"]
    assert err.strip().splitlines() == [f"socklab: stopped ({stopped_by_signal(name)}); "
                                        "closing every socket"]


def test_serve_started_in_the_background_by_a_script_stops_on_sigterm() -> None:
    """`socklab serve &` in a script (no job control) starts with SIGINT ignored, so
    a Ctrl-C meant for the script's foreground command does not stop it (as for any
    background job); SIGTERM, what `kill` sends, stops it closing every socket."""
    serve_command = shlex.join(cli_command("serve", "--port", "0", "--json"))
    proc = subprocess.Popen(["sh", "-c", f"{serve_command} & wait"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=cli_env(), cwd=REPO)
    try:
        assert proc.stdout is not None
        listening = json.loads(proc.stdout.readline())
        assert listening["op"] in ("socket", "bind", "listen")
        serve = _only_child(proc.pid)
        assert _ignored(serve, signal.SIGINT)  # the shell made it so
        os.kill(serve, signal.SIGINT)  # nothing: the background job ignores it
        os.kill(serve, signal.SIGTERM)
        out, err = proc.communicate(timeout=LIMIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=LIMIT)
    no_traceback(err)
    assert err.strip().splitlines() == [f"socklab: stopped ({stopped_by_signal('SIGTERM')}); "
                                        "closing every socket"]
    closes = [e for e in json_events(out) if e["op"] == "close"]
    assert [(c["by"], c["ok"]) for c in closes] == [("lab", True)]


def _only_child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _ignored(pid: int, signum: int) -> bool:
    """The process ignores ``signum`` (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    raise AssertionError(f"no SigIgn for {pid}")


def test_connect_stops_on_sigterm_closing_its_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # answers nothing
        port = listener.getsockname()[1]
        live = start_cli("connect", "127.0.0.1", str(port), "--idle", "60", "--json")
        try:
            live.wait_event(lambda e: e["op"] == "recv" and e["phase"] == "wait")
            live.proc.send_signal(signal.SIGTERM)
            status, out, err = live.finish()
        finally:
            live.stop()
    assert status == 143, err
    no_traceback(err)
    closes = [e for e in json_events(out) if e["op"] == "close" and e["phase"] == "done"]
    assert [(c["side"], c["by"]) for c in closes] == [("client", "lab")]
    assert "SIGTERM" in closes[0]["lesson"]


# -- item 4: unexpected exceptions --------------------------------------------------------------

#: serve, with its scenario broken after the socket is made: an unexpected error.
BROKEN_SERVE = """
import sys
import socklab.cli.serve as serve
def broken(lab, server, plan):
    server.socket()
    raise RuntimeError("a bug socklab did not expect")
serve.run_server = broken
sys.argv = ["socklab", "serve", "--port", "0", "--json"]
from socklab.cli import entry
entry()
"""


def test_unexpected_error_is_one_line_a_report_and_exit_70(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", BROKEN_SERVE], capture_output=True, text=True,
                          env=cli_env(TMPDIR=str(tmp_path)), cwd=REPO, timeout=60, check=False)
    assert done.returncode == EXIT_CRASH == 70
    no_traceback(done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("socklab: internal error (RuntimeError: a bug socklab did not "
                               "expect); the full report is in ")
    report = Path(lines[0].rsplit(" ", 1)[1])
    assert report.parent == tmp_path and report.is_file()
    text = report.read_text()
    assert "Traceback" in text and "a bug socklab did not expect" in text and "broken" in text
    # the socket it had made was still closed by the lab, and said so
    closes = [e for e in json_events(done.stdout) if e["op"] == "close"]
    assert [(c["by"], c["ok"]) for c in closes] == [("lab", True)]


# -- item 12: the family a host needs; code --json ----------------------------------------------


@pytest.mark.parametrize(("host", "family", "hint"), [
    ("::1", [], "add --family inet6"),
    ("127.0.0.1", ["--family", "inet6"], "add --family inet"),
])
def test_a_host_of_the_other_family_points_to_family(host: str, family: list[str],
                                                    hint: str) -> None:
    done = run_cli("connect", host, str(closed_port()), *family)
    assert done.returncode == 2, done
    no_traceback(done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.rstrip().endswith(hint), done.stderr
    assert "try" not in done.stderr  # no list of hosts that repeats the one typed


def test_a_host_that_resolves_nowhere_suggests_other_hosts() -> None:
    done = run_cli("connect", "--", "-no-such-host.invalid", "80")
    assert done.returncode == 2 and done.stderr.rstrip().endswith("try 127.0.0.1 or localhost")


def test_code_refuses_json_in_words() -> None:
    done = run_cli("code", "server", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("socklab: error: --json: code prints a Python program, "
                                   "not events (use --output FILE to save it)")
    assert "--json" not in run_cli("code", "server", "--help").stdout


# -- item 15: markup off wherever a path or peer text is shown ---------------------------------


def test_every_notification_has_markup_off() -> None:
    """Each ``notify(...)`` call in socklab/ui says ``markup=False``."""
    missing = []
    for path in sorted((REPO / "socklab" / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "notify"):
                markup = [k for k in node.keywords if k.arg == "markup"]
                if not (markup and isinstance(markup[0].value, ast.Constant)
                        and markup[0].value.value is False):
                    missing.append(f"{path.name}:{node.lineno}")
    assert not missing, f"notify() without markup=False: {missing}"


async def test_export_to_a_folder_named_like_markup_shows_the_name(tmp_path: Path) -> None:
    from textual.widgets._toast import Toast
    folder = tmp_path / "q[@click=app.quit]d"
    folder.mkdir()
    app = SocklabApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        view = app.query_one(CodeView)
        view.export_dir = folder
        app.query_one("#tabs").active = "code"  # type: ignore[attr-defined]
        await settle(app, pilot)
        view.action_export()
        toasts: list[Toast] = []
        for _ in range(int(LIMIT / 0.05)):  # the toast shows at the next refreshes
            await pilot.pause(0.05)
            toasts = list(app.screen.query(Toast))
            if toasts:
                break
        assert toasts and all(not note.markup for note in app._notifications)
        shown = "".join(str(toast.render()) for toast in toasts).replace("\n", "")
        # with markup on, the brackets were eaten and the name became an action
        assert f"Wrote {folder / 'sockets_server.py'}" in shown
        await pilot.click(Toast)
        await pilot.pause()
        assert app.is_running and (folder / "sockets_server.py").is_file()
