"""Issue 23's smaller items, each with its test: a host that does not resolve, the
seconds options' real range, --send-file on a FIFO with no writer, the capture
hint, and cleanup of a namespace whose pid is alive but is no socklab run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import LIMIT, REPO, no_traceback, run_cli

from socklab.capture import how_to_capture
from socklab.cli.parser import _pause, _seconds
from socklab.hosts import cleanup
from socklab.inputs import InputError


def test_web_with_a_host_that_does_not_resolve_is_exit_2():
    done = run_cli("web", "--host", "bogus.invalid", "--port", "0", timeout=LIMIT * 4)
    no_traceback(done.stderr)
    assert done.returncode == 2, done.stderr
    assert "bogus.invalid" in done.stderr and "no such address" in done.stderr


def test_timeout_0_is_refused_with_the_range_it_really_allows():
    for option in ("--timeout", "--idle"):
        done = run_cli("connect", "127.0.0.1", "9", option, "0", timeout=LIMIT * 4)
        assert done.returncode == 2, done.stderr
        assert "give more than 0 and at most 3600 seconds" in done.stderr, done.stderr
    with pytest.raises(InputError, match="more than 0"):
        _seconds("0")
    assert _seconds("0.001") == 0.001 and _seconds("3600") == 3600


def test_pause_0_is_accepted_and_its_range_said():
    assert _pause("0") == 0.0 and _pause("3600") == 3600
    for bad in ("-1", "3601", "nan", "inf"):
        with pytest.raises(InputError, match="give from 0 to 3600 seconds"):
            _pause(bad)
    done = run_cli("lesson", "--pause", "-1", timeout=LIMIT * 4)
    assert done.returncode == 2 and "give from 0 to 3600 seconds" in done.stderr


def test_send_file_on_a_fifo_with_no_writer_says_so(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = run_cli("connect", "127.0.0.1", "9", "--send-file", str(fifo), timeout=LIMIT * 4)
    no_traceback(done.stderr)
    assert done.returncode == 2, done.stderr
    assert "is a FIFO and nothing was written to it" in done.stderr, done.stderr


def test_send_file_on_a_fifo_with_a_writer_is_read(tmp_path):
    """A FIFO with its writer (``<(cat file)``) is still a file to send."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c",
                               f"open({str(fifo)!r}, 'wb').write(b'hello')"])
    try:
        done = run_cli("connect", "127.0.0.1", "9", "--type", "dgram", "--send-file",
                       str(fifo), timeout=LIMIT * 4)
    finally:
        writer.wait(timeout=LIMIT)
    assert "FIFO" not in done.stderr, done.stderr
    assert "sendto" in done.stdout, done.stdout


def test_the_capture_hint_never_names_the_shared_interpreter():
    hint = how_to_capture()
    assert "CAP_NET_RAW" in hint and "setcap" in hint and "sudo" in hint
    assert "never the shared python3" in hint
    shared = os.path.realpath(sys.executable)
    if os.path.islink(sys.executable) or sys.prefix == sys.base_prefix:
        assert shared not in hint and "--copies" in hint


def test_cleanup_removes_a_namespace_whose_pid_is_alive_but_no_socklab_run():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip to make a network namespace")
    name = f"socklab-1-{os.getpid()}-a"  # pid 1 is alive, and is not socklab
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                          check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a namespace: {made.stderr.strip()}")
    try:
        done = run_cli("cleanup", timeout=LIMIT * 4)
        assert done.returncode == 0, done.stderr
        assert f"removed network namespace {name}" in done.stdout, done.stdout
        assert not os.path.exists(f"/var/run/netns/{name}")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_cleanup_keeps_the_live_hosts_of_a_run_whose_command_line_does_not_say_so(tmp_path):
    """A test worker (``python -c …xdist…``) makes hosts too: another run's start or
    ``cleanup`` must not take them for a dead run's (two workers' two-hosts lessons
    removed each other's hosts mid-lesson)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip to make a network namespace")
    script = tmp_path / "hosts_up.py"  # its command line: python …/hosts_up.py
    script.write_text("import os, subprocess, sys\nfrom socklab.hosts import cleanup\n"
                      "cleanup.note_run()  # as TwoHosts.up does, before its namespaces\n"
                      "name = f'socklab-{os.getpid()}-1-a'\n"
                      "subprocess.run(['ip', 'netns', 'add', name], check=True)\n"
                      "print(name, flush=True)\nsys.stdin.readline()\n"
                      "subprocess.run(['ip', 'netns', 'del', name], check=True)\n"
                      "cleanup.remove_live()\n")
    # argv[0] "python3": the interpreter's own path may say socklab (CI's venv does)
    # (the path it finds its prefix from, so the test's imports are passed on, and this
    # checkout first: an editable install's finder is in no folder of sys.path).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *(p for p in sys.path if p)])}
    run = subprocess.Popen(["python3", str(script)], executable=sys.executable, env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        names = run.stdout.readline().split()
        assert len(names) == 1, "the namespace was not made"
        assert b"socklab" not in Path(f"/proc/{run.pid}/cmdline").read_bytes()
        done = run_cli("cleanup", timeout=LIMIT * 4)
        assert done.returncode == 0, done.stderr
        assert all(os.path.exists(f"/var/run/netns/{name}") for name in names), done.stdout
    finally:
        run.communicate("\n", timeout=LIMIT * 2)
    assert not any(os.path.exists(f"/var/run/netns/{name}") for name in names)


def test_a_run_renewing_its_note_is_never_taken_for_a_dead_one():
    """Each hosts' start renews the run's note: another run's cleanup reading it
    meanwhile must find it whole (written in place it was empty for a moment, and a
    live test worker's hosts were removed as a dead run's)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to write /run/socklab-hosts")
    cleanup.note_run()
    renewals = 2000
    renewing = threading.Thread(target=lambda: [cleanup.note_run() for _ in range(renewals)])
    renewing.start()
    misread = 0
    while renewing.is_alive():
        misread += not cleanup._noted_run(os.getpid())
    renewing.join()
    assert misread == 0
    assert cleanup._noted_run(os.getpid())
