"""``socklab --server-program FILE``: a learner's server beside the lab's panes.

The lab's client (F6, Run client) talks to the learner's server: the calls of
both are in the one log, and the server pane lists the program's connection.
"""

from __future__ import annotations

import hermetic
import pytest
from helpers import REPO
from pilot import SIZE, watch

from socklab.program.runner import lab_program
from socklab.ui.app import SocklabApp

CHECKS = REPO / "tests" / "programs" / "check"


@pytest.mark.skipif(hermetic.reason is not None,
                    reason="the program binds the lecture's port 1024: the test run needs "
                    f"a network of its own ({hermetic.reason})")
async def test_the_lab_client_talks_to_the_learner_s_server() -> None:
    app = SocklabApp()
    program = lab_program(app.lab, str(CHECKS / "echo_good.py"))  # port 1024, as the panes
    try:
        async with app.run_test(size=SIZE) as pilot:
            seen = watch(app)
            await seen.until(lambda e: e.by == "program" and e.op == "accept"
                             and e.phase == "wait")
            await pilot.press("f6")
            accept = await seen.until(lambda e: e.by == "program" and e.op == "accept"
                                      and e.phase == "done")
            assert accept.side == "server" and accept.conn == 1 and accept.peer_conn == 1
            assert accept.program == "echo_good.py"
            connect = next(e for e in seen.events if e.op == "connect" and e.by is None
                           and e.phase == "done")
            assert connect.ok and connect.args[0][1] == 1024
            await seen.until(lambda e: e.by == "program" and e.op == "recv" and e.nbytes == 0)
            await pilot.pause()
            # The server pane shows the learner's server: its listener, its connection.
            assert {row.key for row in app.server_pane.rows()} >= {"listener", "1"}
    finally:
        program.stop()
        program.wait(5.0)


def test_a_missing_server_program_is_bad_usage() -> None:
    from helpers import run_cli

    done = run_cli("--server-program", "no-such-server.py")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no such file" in done.stderr
