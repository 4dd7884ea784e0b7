"""Running socklab as ``nobody`` (issue 15 item 14), wherever the checkout lives.

As root, a test that must show unprivileged behaviour drops to ``nobody``.  The
checkout (and the virtual environment) may sit in a folder ``nobody`` cannot
read (a clone under ``mktemp -d`` or /root, mode 0700), so `as_nobody` gives
``nobody`` what it needs: a readable copy of the ``socklab`` package in a new
0755 folder, run by a Python interpreter ``nobody`` can execute (the engine and
the headless commands need only the standard library).  Where that still
cannot work, the test is skipped, saying why — never failed for where the
clone lives.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import LIMIT, REPO


@dataclass(frozen=True)
class Nobody:
    """How to run Python as nobody: ``[*prefix, python, ...]`` with ``env`` in ``cwd``."""

    prefix: list[str]
    python: str
    env: dict[str, str]
    cwd: str

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, self.python, *args]


def drop_prefix() -> list[str]:
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no 'nobody' user to drop to")
    group = "nogroup"
    try:
        grp.getgrnam(group)
    except KeyError:
        group = "nobody"
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", f"--regid={group}", "--clear-groups",
                "--inh-caps=-all"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("running as root without setpriv or runuser to drop privileges")


def _readable_copy(into: Path) -> None:
    """socklab's package under ``into``, every folder 0755 and file 0644."""
    shutil.copytree(REPO / "socklab", into / "socklab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(into, 0o755)
    for root, dirs, files in os.walk(into):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)


@contextmanager
def as_nobody() -> Iterator[Nobody]:
    """A way to run socklab as nobody (as another user already, no prefix is needed)."""
    if os.geteuid() != 0:
        yield Nobody([], sys.executable, dict(os.environ, PYTHONPATH=str(REPO)), str(REPO))
        return
    prefix = drop_prefix()
    with tempfile.TemporaryDirectory(prefix="socklab-nobody-") as folder:
        _readable_copy(Path(folder))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": folder,
               "PYTHONIOENCODING": "utf-8", "HOME": folder, "PYTHONDONTWRITEBYTECODE": "1"}
        tried = []
        # this interpreter, then the one it was made from
        # (a venv or pyenv inside a 0700 folder), then the system's
        for python in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", ""),
                                     shutil.which("python3") or "", "/usr/bin/python3",
                                     "/usr/local/bin/python3"]):
            if not python:
                continue
            probe = subprocess.run(
                [*prefix, python, "-c", "import os, socklab.engine; print(os.geteuid())"],
                capture_output=True, text=True, env=env, cwd=folder, timeout=LIMIT,
                check=False)
            if probe.returncode == 0 and probe.stdout.strip() not in ("", "0"):
                yield Nobody(prefix, python, env, folder)
                return
            tried.append(f"{python}: {(probe.stderr.strip() or probe.stdout.strip())[-120:]}")
        pytest.skip("no Python interpreter nobody can run socklab with: " + "; ".join(tried))
