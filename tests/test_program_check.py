"""``socklab check``: learners' programs checked against real lab peers.

Each case runs the real command on a real program (tests/programs/check/).
Programs that bind the lecture's port 1024 run in a network namespace of the
test's own (``unshare -n``, root), so they never meet another lab's port 1024.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from helpers import LIMIT, REPO, cli_command, cli_env, run_cli

CHECKS = REPO / "tests" / "programs" / "check"
#: A check runs a few clients one after another, each bounded in time.
CHECK_LIMIT = LIMIT * 8


def _own_namespace_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root: the lecture's server binds port 1024 in a namespace of its own"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return None if probe.returncode == 0 else "unshare -n is refused here"


def check_isolated(*args: str) -> subprocess.CompletedProcess[str]:
    """``socklab check ARGS`` in a fresh network namespace with its loopback up."""
    missing = _own_namespace_missing()
    if missing:
        pytest.skip(missing)
    command = " ".join(f"'{a}'" for a in cli_command("check", *args))
    return subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && {command}"],
                          capture_output=True, text=True, timeout=CHECK_LIMIT, env=cli_env(),
                          cwd=REPO, check=False)


def _results(done: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    report = json.loads(done.stdout)
    assert report["max_score"] == sum(t["max_score"] for t in report["tests"])
    return {test["name"]: test for test in report["tests"]}


def test_lecture_server_passes():
    done = check_isolated("welcome-server", str(CHECKS / "lecture_server.py"), "--json")
    tests = _results(done)
    assert done.returncode == 0, done.stdout
    assert all(t["score"] == t["max_score"] for t in tests.values())
    # It passes, but the log shows how: Python, not close(), ended each connection.
    assert "not close()" in tests["closes the connection"]["output"]


def test_socklab_code_server_passes(tmp_path):
    program = tmp_path / "sockets_server.py"
    assert run_cli("code", "server", "-o", str(program)).returncode == 0
    done = check_isolated("welcome-server", str(program))
    assert done.returncode == 0, done.stdout
    assert "4/4 passed" in done.stdout


@pytest.mark.parametrize(("program", "failed", "reason"), [
    ("never_closes.py", "closes the connection", "never closed its connection"),
    ("sends_str.py", "greeting", "send() with a str"),
    ("no_listen.py", "listens", "call listen() after bind()"),
    ("one_client.py", "serves a second client", "accept() in a loop"),
])
def test_welcome_server_mistakes_are_explained(program, failed, reason):
    done = run_cli("check", "welcome-server", str(CHECKS / program), "--json",
                   timeout=CHECK_LIMIT)
    assert done.returncode == 1, done.stdout + done.stderr
    test = _results(done)[failed]
    assert test["score"] == 0 and reason in test["output"], test["output"]
    assert "#" in test["output"]  # the log lines that show it


def test_never_closing_server_shows_close_wait():
    done = run_cli("check", "welcome-server", str(CHECKS / "never_closes.py"),
                   timeout=CHECK_LIMIT)
    assert done.returncode == 1
    assert "prog:server[1] state → CLOSE_WAIT" in done.stdout


def test_echo_server_passes():
    done = run_cli("check", "echo-server", str(CHECKS / "echo_good.py"), "--json",
                   timeout=CHECK_LIMIT)
    assert done.returncode == 0, done.stdout
    assert all(t["score"] == 1 for t in _results(done).values())


@pytest.mark.parametrize(("program", "reason"), [
    ("echo_one_send.py", "send() sent only part"),
    ("echo_first_recv.py", "called recv() once"),
])
def test_echo_server_mistakes_are_explained(program, reason):
    done = run_cli("check", "echo-server", str(CHECKS / program), "--json",
                   timeout=CHECK_LIMIT)
    assert done.returncode == 1, done.stdout + done.stderr
    big = next(t for name, t in _results(done).items() if name.startswith("echoes 4194304"))
    assert big["score"] == 0 and reason in big["output"], big["output"]


def test_check_bad_usage():
    done = run_cli("check", "welcome-server", "no-such-file.py")
    assert done.returncode == 2 and "no such file" in done.stderr
    done = run_cli("check", "no-such-exercise", "x.py")
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_client_exercises(tmp_path):
    program = tmp_path / "sockets_client.py"
    assert run_cli("code", "client", "-o", str(program)).returncode == 0
    done = check_isolated("welcome-client", str(program))
    assert done.returncode == 0, done.stdout
    done = check_isolated("welcome-client", str(CHECKS / "lecture_client.py"), "--json")
    tests = _results(done)
    assert done.returncode == 1
    assert "call it in a loop until it returns b''" in tests["reads until b''"]["output"]
    assert "never called close()" in tests["closes its socket"]["output"]


def test_http_client_stays_on_this_machine():
    done = check_isolated("http-client", str(CHECKS / "socket1.py"), "--json")
    assert done.returncode == 0, done.stdout
    done = check_isolated("http-client", str(CHECKS / "socket1_pr4e.py"), "--json")
    assert done.returncode == 1
    assert "keeps every connection on this machine" in _results(done)["connects"]["output"]


def test_udp_echo_server():
    done = run_cli("check", "udp-echo-server", str(CHECKS / "udp_echo_good.py"),
                   timeout=CHECK_LIMIT)
    assert done.returncode == 0, done.stdout
    done = run_cli("check", "udp-echo-server", str(CHECKS / "udp_echo_small.py"), "--json",
                   timeout=CHECK_LIMIT)
    assert done.returncode == 1
    assert "recvfrom(512) was smaller" in _results(done)["echoes each datagram whole"]["output"]


def test_a_hung_program_is_stopped_and_its_state_shown():
    done = check_isolated("welcome-client", str(CHECKS / "hangs_client.py"), "--json")
    assert done.returncode == 1
    ends = _results(done)["ends"]["output"]
    assert "still running at the time limit" in ends and "waiting in recv()" in ends, ends
    assert "client[2] ESTABLISHED" in ends, ends


def test_lessons_end_with_writing_your_own():
    from socklab.guided.lesson import load_lesson
    for name, check in (("welcome", "socklab check welcome-server"),
                        ("http", "socklab check http-client")):
        last = load_lesson(name).steps[-1].after
        assert "Now write your own" in last and check in last


@pytest.mark.parametrize(("options", "exercise"), [
    (("--mode", "echo"), "echo-server"),
    (("--type", "dgram", "--mode", "echo"), "udp-echo-server"),
])
def test_socklab_code_passes_its_own_check(tmp_path, options, exercise):
    program = tmp_path / "sockets_server.py"
    assert run_cli("code", "server", *options, "-o", str(program)).returncode == 0
    done = check_isolated(exercise, str(program), "--json")
    assert done.returncode == 0, done.stdout


def test_once_a_program_has_ended_all_it_printed_is_read(tmp_path) -> None:
    """`Session.ended` waits for the output reader too: the checks read the output
    next.  It waited for the process alone, and "prints the greeting" read the
    output before the reader had it (seen ✗ under load for a client that printed
    it).  A program that prints 20,000 lines shows it on any machine."""
    import sys

    from socklab.program.checker import Session
    program = tmp_path / "many_lines.py"
    program.write_text("for i in range(20000):\n    print(i)\nprint('END')\n")
    session = Session([sys.executable, str(program)]).start()
    try:
        assert session.ended(LIMIT)
        printed = bytes(session.program.outcome.stdout)
        assert printed.endswith(b"19999\nEND\n"), printed[-40:]
    finally:
        session.finish()
