"""Nothing left behind by two-hosts mode: `ip netns list` and `ip link` as before
after a normal exit, an exit by signal, and SIGKILL followed by cleanup.

The lab runs for real (``socklab --two-hosts`` on a pseudo-terminal of the
test's own); a test waits for its namespaces to appear, stops it, and compares
the machine's network with what it was before.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import threading
import time

import pytest
from helpers import LIMIT, REPO, cli_command, cli_env, no_traceback, run_cli
from hosts_helpers import machine_network, needs_hosts

from socklab.hosts.cleanup import socklab_namespaces

pytestmark = needs_hosts


class LabOnTerminal:
    """``socklab --two-hosts`` on a pseudo-terminal, its output drained."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        env = cli_env(TERM="xterm-256color", COLUMNS="100", LINES="30")
        self.proc = subprocess.Popen(cli_command("--two-hosts"), stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd=REPO, start_new_session=True)
        os.close(slave)
        self.output = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        for _ in range(1_000_000):
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def namespaces(self) -> list[str]:
        return [n for n in socklab_namespaces() if n.startswith(f"socklab-{self.proc.pid}-")]

    def wait_for_hosts(self) -> list[str]:
        deadline = time.monotonic() + LIMIT * 2
        while time.monotonic() < deadline and self.proc.poll() is None:
            names = self.namespaces()
            if len(names) == 2:
                return names
            time.sleep(0.05)
        raise AssertionError(f"the lab made no hosts; its screen: {bytes(self.output[-400:])!r}")

    def end(self) -> int:
        try:
            return self.proc.wait(LIMIT * 2)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(LIMIT)
            os.close(self.master)
            self.reader.join(LIMIT)


@pytest.fixture
def before() -> dict[str, object]:
    return machine_network()


def test_quit_removes_both_hosts(before: dict[str, object]) -> None:
    lab = LabOnTerminal()
    lab.wait_for_hosts()
    os.write(lab.master, b"\x11")  # Ctrl+Q
    assert lab.end() == 0
    assert machine_network() == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_removes_both_hosts(before: dict[str, object], signum: int) -> None:
    lab = LabOnTerminal()
    lab.wait_for_hosts()
    lab.proc.send_signal(signum)
    lab.end()
    assert lab.namespaces() == []
    assert machine_network() == before


@pytest.mark.parametrize("then", [("cleanup",), ("demo", "two-hosts")])
def test_sigkill_leftovers_go_with_cleanup_or_the_next_start(
        before: dict[str, object], then: tuple[str, ...]) -> None:
    lab = LabOnTerminal()
    names = lab.wait_for_hosts()
    lab.proc.kill()
    lab.end()
    assert lab.namespaces() == names  # SIGKILL: nothing could run, they are left
    done = run_cli(*then)
    no_traceback(done.stderr)
    assert done.returncode == 0, done.stderr
    if then == ("cleanup",):
        assert all(f"removed network namespace {n}" in done.stdout for n in names)
    assert lab.namespaces() == []
    assert machine_network() == before
