"""Helpers for the two-hosts tests: skips with reasons, the machine's own network
as `ip` shows it, and socklab run as ``nobody``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import LIMIT, REPO, cli_env
from unprivileged import drop_prefix

from socklab.hosts import why_unavailable
from socklab.hosts.cleanup import NAME, socklab_namespaces

#: Why the two-hosts tests cannot run here (not root, no `ip`), or None.
UNAVAILABLE = why_unavailable()
needs_hosts = pytest.mark.skipif(UNAVAILABLE is not None,
                                 reason=f"two hosts unavailable here: {UNAVAILABLE}")


def ip_out(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=LIMIT,
                          check=False)
    return done.stdout


def machine_network() -> dict[str, object]:
    """What must not change: this namespace's interfaces and addresses, and
    socklab's namespaces (other programs' namespaces are theirs to change).

    Named namespaces are seen machine-wide: those of another live process that
    is not this one's child (another xdist worker, another run on the machine)
    are theirs; ours, our children's and dead processes' leftovers count."""
    links = sorted(line.split(":")[1].strip().split("@")[0]
                   for line in ip_out("-o", "link").splitlines() if ":" in line)
    addresses = sorted(" ".join(line.split()[1:4])
                       for line in ip_out("-o", "addr").splitlines())
    namespaces = [name for name in socklab_namespaces() if not _another_runs(name)]
    return {"links": links, "addresses": addresses, "namespaces": namespaces}


def _another_runs(name: str) -> bool:
    """The namespace's maker is alive and is neither this process nor below it."""
    found = NAME.match(name)
    pid = int(found.group(1)) if found else 0
    me = os.getpid()
    for _ in range(64):  # up the parent chain, bounded
        if pid == me:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False  # gone: a leftover, ours to see
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            return True
    return True


def nobody_prefix() -> list[str]:
    """A command prefix that runs as ``nobody`` when we are root ([] when we are not),
    or a skip saying why it cannot."""
    return drop_prefix() if os.geteuid() == 0 else []


@contextmanager
def as_nobody() -> Iterator[tuple[list[str], dict[str, str]]]:
    """A command prefix and environment running this socklab as ``nobody``.

    Where ``nobody`` cannot read the checkout (a 0700 folder), a readable copy
    of the socklab package in a temporary folder is used instead.
    """
    prefix = nobody_prefix()
    python = [sys.executable]
    probe = subprocess.run([*prefix, *python, "-c", "import socklab"], capture_output=True,
                           text=True, env=cli_env(), cwd="/", timeout=LIMIT, check=False)
    if probe.returncode == 0:
        yield [*prefix, *python], cli_env()
        return
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    with tempfile.TemporaryDirectory() as copy:
        os.chmod(copy, 0o755)
        shutil.copytree(REPO / "socklab", Path(copy) / "socklab",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for root, dirs, files in os.walk(copy):
            for name in dirs:
                os.chmod(Path(root) / name, 0o755)
            for name in files:
                os.chmod(Path(root) / name, 0o644)
        env = cli_env(PYTHONPATH=copy)
        probe = subprocess.run([*prefix, base, "-c", "import socklab"], capture_output=True,
                               text=True, env=env, cwd="/", timeout=LIMIT, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot run socklab as nobody, even from a readable copy: "
                        f"{probe.stderr.strip()[-200:]}")
        yield [*prefix, base], env
