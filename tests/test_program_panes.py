"""A pane switched to "Program" (F3 the server pane, F4 the client pane): the
learner's own program in the lab, the other pane the lab's.

Each test runs a real program (tests/programs/) against the lab's real other
side, and checks the one log (both sides' calls, in causal order, paired as
``= client[n]``), the pane (its output, how it ended, its sockets), and that
going back to the lab leaves no process and no socket behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket

import pytest
from capture_helpers import capture_or_skip
from helpers import REPO, run_cli
from pilot import SIZE, click, run_server, settle, until, watch
from stable_numbers import StableNumbers

from socklab import ports
from socklab.guard import stop_signals
from socklab.logformat import format_line
from socklab.program.runner import ProgramRun
from socklab.ui import port_info
from socklab.ui.app import SocklabApp
from socklab.ui.wire_view import WireView

PROGRAMS = REPO / "tests" / "programs"
CHECKS = PROGRAMS / "check"


def _mine(op: str, side: str, by: str | None = "program", phase: str = "done"):
    return lambda e: e.op == op and e.side == side and e.by == by and e.phase == phase


def _pipes() -> set[str]:
    """The pipes this process holds open (a program's stdout, stderr, report pipes)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


def _gone(pid: int) -> bool:
    """No process of the program's group is left (it was started in a session of its own)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def _switch(app: SocklabApp, pilot, key: str, side: str, on: bool) -> None:
    await pilot.press(key)
    await until(lambda: app.pane(side).runs_program == on
                and (on or side not in app.programs.runs), f"{side} pane switched")
    await pilot.pause()


async def _start(app: SocklabApp, pilot, side: str, path: str, args: str = "") -> ProgramRun:
    """Fill the pane's fields and press Start; the program's run."""
    box = app.programs.box(side)
    box.input("path").value = path
    box.input("args").value = args
    before = app.programs.last_run.get(side)
    await click(pilot, f"#{side}-program-start")
    await until(lambda: app.programs.last_run.get(side) not in (None, before),
                "the program started")
    return app.programs.last_run[side]


async def test_the_server_pane_runs_the_learner_s_server_and_the_lab_s_client_talks_to_it(
) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        await settle(app, pilot)
        pipes = _pipes()
        await _switch(app, pilot, "f3", "server", True)
        run = await _start(app, pilot, "server", str(CHECKS / "echo_good.py"), "0")
        listen = await seen.until(_mine("listen", "server"))
        port = listen.result[1]
        programs_pipes = _pipes() - pipes
        assert len(programs_pipes) >= 4  # its stdout, stderr and the tracer's two
        await seen.until(_mine("accept", "server", phase="wait"))
        await settle(app, pilot)
        # The lab's client follows the port the program's server got.
        assert app.client_pane.input("port").value == str(port)
        app.client_pane.input("message").value = "hello"
        await pilot.press("f6")  # the lab's Run client
        await seen.until(lambda e: _mine("recv", "server")(e) and e.nbytes == 0)
        await seen.until(_mine("close", "client", by=None))
        await settle(app, pilot)

        events = seen.events
        connect = next(e for e in events if _mine("connect", "client", by=None)(e))
        accept = next(e for e in events if _mine("accept", "server")(e))
        sent = next(e for e in events if _mine("send", "client", by=None)(e))
        got = next(e for e in events if _mine("recv", "server")(e) and e.nbytes)
        echoed = next(e for e in events if e.by == "program" and e.side == "server"
                      and e.op in ("send", "sendall") and e.phase == "done")
        answer = next(e for e in events if _mine("recv", "client", by=None)(e) and e.nbytes)
        assert connect.ok and connect.args[0][1] == port
        assert accept.program == "echo_good.py" and (accept.side, accept.conn) == ("server", 1)
        assert accept.peer_conn == 1 and "= client[1]" in format_line(accept)
        # The connect's first line (its wait, if it ran long enough to say one).
        began = next((e for e in events if connect.call and e.call == connect.call), connect)
        assert began.seq < accept.seq < got.seq < echoed.seq < answer.seq
        assert sent.seq < got.seq and got.raw == b"hello" and answer.raw == b"hello"
        # The server pane lists the program's sockets, paired with the lab's client.
        keys = {row.key for row in app.server_pane.rows()}
        assert {"listener", "1"} <= keys
        assert app.view_state.sides["server"].pairs.get("1") == 1
        assert "running: echo_good.py" in app.programs.box("server").status_text

        await _switch(app, pilot, "f3", "server", False)  # back to the lab
        assert run.proc is not None and run.proc.returncode is not None
        assert _gone(run.proc.pid) and _refused(port)
        end = await seen.until(_mine("exit", "server"))
        assert end.result == run.proc.returncode < 0 and "socklab stopped" in (end.lesson or "")
        await settle(app, pilot)
        assert not _pipes() & programs_pipes
        assert "listener" not in app.view_state.sides["server"].sockets
        assert app.server_pane.home().id == "server-run"


async def test_the_client_pane_runs_the_learner_s_client_against_the_lab_s_server() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = await run_server(app, pilot)  # the lab's welcome server, port 0
        bound = next(e for e in seen.events if _mine("listen", "server", by=None)(e))
        port = bound.result[1]
        await _switch(app, pilot, "f4", "client", True)
        run = await _start(app, pilot, "client", str(PROGRAMS / "myclient.py"), str(port))
        end = await seen.until(_mine("exit", "client"))
        await settle(app, pilot)

        events = seen.events
        connect = next(e for e in events if _mine("connect", "client")(e))
        # Its first line: the connect's "wait" when it ran longer than HOLD (a loaded
        # machine), which let the lock go, so the accept may end before its "done"
        # (both return once the handshake is done: either may be reported first).
        began = next((e for e in events if connect.call and e.call == connect.call), connect)
        accept = next(e for e in events if _mine("accept", "server", by=None)(e))
        greeting = next(e for e in events if _mine("send", "server", by=None)(e))
        received = next(e for e in events if _mine("recv", "client")(e) and e.nbytes)
        output = next(e for e in events if e.op == "output" and e.by == "program")
        assert connect.program == "myclient.py" and (connect.side, connect.conn) == ("client", 1)
        assert accept.peer_conn == 1 and "= client[1]" in format_line(accept)
        assert began.seq < accept.seq and greeting.seq < received.seq < output.seq < end.seq
        assert began is connect or (began.phase == "wait" and began.seq < connect.seq)
        assert received.raw == greeting.raw[:received.nbytes]
        assert end.result == 0
        box = app.programs.box("client")
        await until(lambda: "exited with status 0" in box.status_text, "the end is shown")
        assert any(line.startswith("got b'Welcome") for line in box.output.lines)
        # Its socket is in the client pane's list, closed, paired with the server's.
        rows = {row.key: row for row in app.client_pane.rows()}
        assert "1" in rows and app.view_state.sides["client"].pairs.get("1") == 1
        assert not app.view_state.sides["client"].sockets["1"].is_open

        await _switch(app, pilot, "f4", "client", False)
        assert run.proc is not None and run.proc.returncode == 0 and _gone(run.proc.pid)
        await settle(app, pilot)
        assert run.proc.stdout.closed and run.proc.stderr.closed
        assert not app.view_state.sides["client"].sockets


async def test_a_wrong_program_is_said_in_the_pane_and_a_failing_one_shows_its_end() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        await _switch(app, pilot, "f3", "server", True)
        box = app.programs.box("server")
        status = box.query_one(".program-status")

        for path, args, words in (("no-such-server.py", "", "no-such-server.py: no such file"),
                                  ("python3 -c", "'print(1)", "no closing quotation"),
                                  ("", "", "choose a program"),
                                  (str(PROGRAMS), "", "a folder, not a program")):
            box.input("path").value = path
            box.input("args").value = args
            box.input("path").focus()
            await pilot.press("enter")
            await until(lambda w=words: w in box.status_text, f"the error for {path!r}")
            assert status.has_class("-error") and "\n" not in box.status_text.strip()
            assert not app.programs.runs

        # A program that fails: its stderr (escaped) in the pane, its status said.
        await _start(app, pilot, "server", str(PROGRAMS / "myclient.py"))  # no port given
        end = await seen.until(_mine("exit", "server"))
        assert end.result == 1
        await until(lambda: "exited with status 1" in box.status_text, "the status shown")
        await settle(app, pilot)
        assert any(line.startswith("[stderr] IndexError") for line in box.output.lines)
        assert not app.programs.runs


async def test_the_lab_s_buttons_wait_while_the_pane_runs_a_program_and_quitting_stops_it(
) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        await _switch(app, pilot, "f3", "server", True)
        assert app.server_pane.press("run") is False  # F5's Run: the pane is the program's
        assert app.lab.open_sockets == 0
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Server pane: back to the lab (F3)", "Server pane: start your program",
                "Client pane: your program (F4)"} <= titles
        first = await _start(app, pilot, "server", str(CHECKS / "echo_good.py"), "0")
        await seen.until(_mine("listen", "server"))
        # Start again: the running program is stopped (and reaped) first.
        run = await _start(app, pilot, "server", str(CHECKS / "echo_good.py"), "0")
        assert first.proc is not None and first.proc.returncode is not None
        assert _gone(first.proc.pid) and run is not first
        listen = await seen.until(_mine("listen", "server"), count=2)
        # Esc in a field goes back to Start (the Run button is hidden).
        app.programs.box("server").input("args").focus()
        await pilot.press("escape")
        assert app.focused is not None and app.focused.id == "server-program-start"
    # The app has closed: its program was stopped and reaped with it.
    assert run.proc is not None and run.proc.returncode is not None
    assert _gone(run.proc.pid) and _refused(listen.result[1])


async def test_switching_to_program_closes_the_lab_s_sockets_of_that_side() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = await run_server(app, pilot)
        await _switch(app, pilot, "f3", "server", True)
        closed = await seen.until(lambda e: e.op == "close" and e.by == "lab"
                                  and e.side == "server")
        assert "your program" in (closed.lesson or "")
        await settle(app, pilot)
        assert app.lab.open_sockets == 0
        assert not app.view_state.sides["server"].sockets


async def test_program_mode_fits_a_small_terminal() -> None:
    size = (80, 24)
    app = SocklabApp()
    async with app.run_test(size=size) as pilot:
        await _switch(app, pilot, "f4", "client", True)
        box = app.programs.box("client")
        for name in ("path", "args", "start", "stop", "lab", "status"):
            widget = box.query_one(f"#client-program-{name}")
            region = widget.region
            assert region.width > 0 and region.height > 0, name
            assert region.right <= size[0] and region.bottom <= size[1], name


async def test_the_wire_tab_and_the_kernel_view_follow_the_learner_s_server() -> None:
    capture_or_skip()
    app = SocklabApp(packets=True)
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        await app.wire.started()
        await _switch(app, pilot, "f3", "server", True)
        await _start(app, pilot, "server", str(CHECKS / "echo_good.py"), "0")
        await seen.until(_mine("accept", "server", phase="wait"))
        await settle(app, pilot)
        app.client_pane.input("message").value = "hello"
        await pilot.press("f6")
        await seen.until(lambda e: _mine("recv", "server")(e) and e.nbytes == 0)
        await seen.until(_mine("close", "client", by=None))
        await settle(app, pilot)
        # The kernel's view of the program's sockets: its listener's state and queue.
        listening = next(e for e in seen.events if _mine("state", "server")(e)
                         and e.conn is None)
        assert listening.result["state"] == "LISTEN" and "queue" in listening.result
        assert app.view_state.sides["server"].sockets["listener"].kernel == "LISTEN"
        # The handshake the lab's connect caused, and the Wire tab's diagram of it.
        flags = [e.result["flags"] for e in seen.events if e.op == "packet"][:3]
        assert flags == [["SYN"], ["SYN", "ACK"], ["ACK"]]
        diagram = "\n".join("".join(text for text, _ in row)
                            for row in app.query_one(WireView).diagram.rows(100))
        assert "connect()" in diagram and "│ accept()" in diagram and "SYN seq=0" in diagram
        await _switch(app, pilot, "f3", "server", False)


def test_a_missing_client_program_is_bad_usage() -> None:
    done = run_cli("--client-program", "no-such-client.py")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no-such-client.py: no such file" in done.stderr
    done = run_cli("--server-program", "nc -l '1024")
    assert done.returncode == 2 and "no closing quotation" in done.stderr


async def test_the_program_s_output_is_shown_escaped_never_acted_on() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        await _switch(app, pilot, "f3", "server", True)
        await _start(app, pilot, "server", str(PROGRAMS / "hostile_output.py"))
        await seen.until(_mine("exit", "server"))
        await settle(app, pilot)
        lines = app.programs.box("server").output.lines
        shown = next(line for line in lines if "markup" in line)
        assert "\x1b" not in "".join(lines) and "\u202e" not in "".join(lines)
        assert shown.startswith("\\x1b[2J\\x1b]0;pwned\\x07[bold red]markup[/]")
        assert shown.endswith("\\xff\\xfe end")
        assert "[stderr] \\u202eright-to-left" in lines


@pytest.mark.skipif(shutil.which("nc") is None or shutil.which("strace") is None,
                    reason="needs nc and strace (Debian: apt-get install netcat-openbsd strace)")
async def test_any_command_runs_in_the_client_pane_traced_with_strace() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = await run_server(app, pilot)
        port = next(e for e in seen.events if _mine("listen", "server", by=None)(e)).result[1]
        await _switch(app, pilot, "f4", "client", True)
        await _start(app, pilot, "client", "nc", f"127.0.0.1 {port}")
        end = await seen.until(_mine("exit", "client"))
        await settle(app, pilot)
        events = seen.events
        connect = next(e for e in events if _mine("connect", "client")(e))
        received = next(e for e in events if _mine("recv", "client")(e) and e.nbytes)
        # (strace reports a connect when it has returned, so the lab's accept may be
        # logged first and cannot name it: pairing is the in-process tracer's; see README)
        assert connect.program == "nc" and connect.conn == 1 and connect.ok
        assert received.raw == b"Welcome to Socket Programming in Python!" and end.result == 0
        box = app.programs.box("client")
        await until(lambda: "nc exited with status 0" in box.status_text, "the end is shown")
        assert "Welcome to Socket Programming in Python!" in box.output.lines
        await _switch(app, pilot, "f4", "client", False)


def test_program_mode_snapshot_at_80x24(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server pane in "Program" mode at 80x24, with a wrong path said in it (no
    program runs, so the picture is the same on every run)."""
    pinned = ports.EphemeralRange(32768, 60999, ports.LOCAL_PORT_RANGE)
    monkeypatch.setattr(ports, "ephemeral_range", lambda: pinned)
    monkeypatch.setattr(port_info, "listening", lambda port, proto="tcp": False)

    async def wrong_path(pilot) -> None:
        app = pilot.app
        await _switch(app, pilot, "f3", "server", True)
        box = app.programs.box("server")
        box.input("path").value = "my_server.py"
        box.input("args").value = "1024"
        await pilot.press("enter")
        await until(lambda: "no such file" in box.status_text, "the error")
        await pilot.press("escape")  # back to Start: no cursor blinking in the picture
        await settle(app, pilot)

    app = SocklabApp(numbers=StableNumbers())
    app.session.kernel.stop()
    assert snap_compare(app, terminal_size=(80, 24), run_before=wrong_path)


async def test_a_stop_signal_stops_the_learner_s_program_with_the_lab() -> None:
    app = SocklabApp()
    with stop_signals(app.stop_by_signal):
        async with app.run_test(size=SIZE) as pilot:
            seen = watch(app)
            await _switch(app, pilot, "f3", "server", True)
            run = await _start(app, pilot, "server", str(CHECKS / "echo_good.py"), "0")
            listen = await seen.until(_mine("listen", "server"))
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, to this process
            await until(lambda: app.return_code is not None, "the lab stopped")
            assert app.return_code == 128 + signal.SIGTERM
    assert run.proc is not None and run.proc.returncode is not None
    assert _gone(run.proc.pid) and _refused(listen.result[1])
